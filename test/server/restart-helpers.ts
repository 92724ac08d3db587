/** License servers on data directories of their own, started again on the same directory and port: restart tests. */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {ServerClient} from '../../src/client/http.js'
import {systemClock} from '../../src/domain/clock.js'
import {startServer, type RunningServer} from '../../src/server/runtime.js'
import {ADMIN_TOKEN, CLIENT_TOKEN, defaultSeed} from './helpers.js'

/** The servers and directories of one test file; `cleanup` (afterAll) stops and removes what is left. */
export function restartableServers(prefix: string) {
  const dirs: string[] = []
  const started = new Set<RunningServer>()

  /** A server on a data directory (seeded at its first start), on `port` (0: a free one). */
  async function serveDir(dir: string, port: number, seed = false): Promise<RunningServer> {
    const server = await startServer({
      port,
      data: {kind: 'dir', dir},
      clock: systemClock,
      ...(seed ? {seed: JSON.stringify(defaultSeed)} : {}),
      tokens: [
        {token: CLIENT_TOKEN, role: 'client', name: 'tests'},
        {token: ADMIN_TOKEN, role: 'vendor', name: 'admin'},
      ],
      sweepIntervalMs: 60_000,
    })
    started.add(server)
    const close = server.close.bind(server)
    server.close = () => (started.delete(server), close())
    return server
  }

  /** A server on a new data directory whose license "two" (2 seats) is full. */
  async function fullServer(): Promise<{server: RunningServer; dir: string; two: string; held: string[]; admin: ServerClient}> {
    const dir = mkdtempSync(join(tmpdir(), prefix))
    dirs.push(dir)
    const server = await serveDir(dir, 0, true)
    const two = server.licenses.find((l) => l.key === 'two')!.id
    const admin = new ServerClient({server: server.url, token: ADMIN_TOKEN, publicKeys: server.publicKeys})
    const held = [(await admin.checkout({license: two, user: 'h1', host: 'x'})).lease.id, (await admin.checkout({license: two, user: 'h2', host: 'x'})).lease.id]
    return {server, dir, two, held, admin}
  }

  async function cleanup(): Promise<void> {
    await Promise.all([...started].map((s) => s.close()))
    for (const dir of dirs) rmSync(dir, {recursive: true, force: true})
  }

  return {serveDir, fullServer, cleanup}
}
