/** A license server's hold on its store, and a stop that no stalled client can hold up. */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {connect} from 'node:net'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {systemClock} from '../../src/domain/clock.js'
import {startServer, type ServerOptions} from '../../src/server/runtime.js'
import {CLIENT_TOKEN, defaultSeed} from './helpers.js'

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, {recursive: true, force: true})
})

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'licadm-lifecycle-'))
  dirs.push(dir)
  return dir
}

const options = (dir: string, more: Partial<ServerOptions> = {}): ServerOptions => ({
  port: 0,
  data: {kind: 'dir', dir},
  clock: systemClock,
  seed: JSON.stringify(defaultSeed),
  tokens: [{token: CLIENT_TOKEN, role: 'client', name: 'tests'}],
  sweepIntervalMs: 60_000,
  ...more,
})

describe('one license server per store', () => {
  it('a second server on the same data directory is refused (exit 4) naming the first; once the first stops, it starts', async () => {
    const dir = dataDir()
    const first = await startServer(options(dir))
    const lockFile = join(dir, 'licadm.db.server.lock')
    expect(existsSync(lockFile)).toBe(true)
    await expect(startServer(options(dir))).rejects.toMatchObject({
      code: 'STORE_IN_USE',
      exit: 4,
      message: expect.stringMatching(new RegExp(`another licadm process \\(pid ${process.pid}, since .+\\) serves the store .+licadm\\.db already`)),
      hint: expect.stringContaining(lockFile),
    })
    // The refused start took nothing away: the first server still serves.
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200)
    await first.close()
    expect(existsSync(lockFile)).toBe(false)
    const second = await startServer(options(dir))
    await second.close()
  })

  it("the lock of a server that is gone (killed) is taken over; another host's lock is not", async () => {
    const dir = dataDir()
    await (await startServer(options(dir))).close()
    const lockFile = join(dir, 'licadm.db.server.lock')
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString()
    writeFileSync(lockFile, JSON.stringify({pid: Number(dead), host: hostname(), nonce: 'killed', since: '2026-06-01T00:00:00.000Z'}))
    const s = await startServer(options(dir))
    await s.close()
    expect(existsSync(lockFile)).toBe(false)
    writeFileSync(lockFile, JSON.stringify({pid: Number(dead), host: 'another-host', nonce: 'elsewhere', since: '2026-06-01T00:00:00.000Z'}))
    await expect(startServer(options(dir))).rejects.toMatchObject({code: 'STORE_IN_USE', message: expect.stringMatching(/pid \d+ on another-host/)})
  })
})

describe('stopping', () => {
  it('a client that sent half a request does not hold the stop: its connection is closed after the grace time', async () => {
    const s = await startServer(options(dataDir(), {closeGraceMs: 200}))
    const url = new URL(s.url)
    const socket = connect({host: url.hostname, port: Number(url.port)})
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    const closedByServer = new Promise<boolean>((resolve) => socket.once('close', () => resolve(true)))
    socket.write(`POST /v1/leases HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${CLIENT_TOKEN}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"license":`)
    await new Promise((resolve) => setTimeout(resolve, 50))
    await s.close()
    expect(await closedByServer).toBe(true)
    expect(socket.destroyed).toBe(true)
  })
})
