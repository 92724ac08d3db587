/**
 * `licadm seat checkout --wait` and `licadm seat run --wait`, spawned from the built CLI, waiting in
 * line while the license server restarts (same data directory and port): they get their seats from
 * the restarted server; a wait that ends before the server is back exits 8, saying so.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {ServerClient} from '../../src/client/http.js'
import {systemClock} from '../../src/domain/clock.js'
import {startServer, type RunningServer} from '../../src/server/runtime.js'
import {collect, fails, ok, sandbox, spawnLicadm} from '../helpers/cli.js'
import {ADMIN_TOKEN, CLIENT_TOKEN, defaultSeed} from '../server/helpers.js'

const sb = sandbox('licadm-e2e-seat-wait-restart-')
const dirs: string[] = []
const running = new Set<RunningServer>()
afterAll(async () => {
  await Promise.all([...running].map((s) => s.close()))
  for (const dir of dirs) rmSync(dir, {recursive: true, force: true})
  sb.cleanup()
})

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
  running.add(server)
  const close = server.close.bind(server)
  server.close = () => (running.delete(server), close())
  return server
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** A server on a new data directory whose license "two" (2 seats) is full. */
async function fullServer(): Promise<{server: RunningServer; dir: string; two: string; held: string[]}> {
  const dir = mkdtempSync(join(tmpdir(), 'licadm-e2e-wait-restart-'))
  dirs.push(dir)
  const server = await serveDir(dir, 0, true)
  const two = server.licenses.find((l) => l.key === 'two')!.id
  const admin = new ServerClient({server: server.url, token: ADMIN_TOKEN, publicKeys: server.publicKeys})
  const held = [(await admin.checkout({license: two, user: 'h1', host: 'x'})).lease.id, (await admin.checkout({license: two, user: 'h2', host: 'x'})).lease.id]
  return {server, dir, two, held}
}

describe('waiting in line across a server restart (CLI)', {timeout: 120_000}, () => {
  it('seat checkout --wait and seat run --wait get their seats from the restarted server', async () => {
    const {server, dir, two, held} = await fullServer()
    const env = {...sb.env, LICADM_SERVER: server.url, LICADM_TOKEN: CLIENT_TOKEN}
    const checkoutArgs = ['seat', 'checkout', '--license', two, '--user', 'ann', '--host', 'pc1', '--wait', '60s', '--json']
    const checkout = collect(spawnLicadm(checkoutArgs, {env}), checkoutArgs, {timeoutMs: 90_000})
    await until('the checkout waits in line', () => server.seats.queue.length === 1)
    const runArgs = ['seat', 'run', '--license', two, '--user', 'ci', '--host', 'job', '--wait', '60s', '--', 'node', '-e', 'console.log("ran with", process.env.LICADM_LEASE_ID)']
    const run = collect(spawnLicadm(runArgs, {env}), runArgs, {timeoutMs: 90_000})
    await until('seat run waits in line', () => server.seats.queue.length === 2)
    await server.close()
    await new Promise((r) => setTimeout(r, 1500))
    const restarted = await serveDir(dir, server.port)
    const admin = new ServerClient({server: restarted.url, token: ADMIN_TOKEN, publicKeys: restarted.publicKeys})
    for (const id of held) await admin.release(id)

    const got = ok(await checkout)
    expect(got.lease).toMatchObject({licenseId: two, user: 'ann', host: 'pc1'})
    const ran = await run
    expect(ran.code).toBe(0)
    expect(ran.stdout).toMatch(/^ran with lse_/m)
    // It said what happened, then carried on.
    expect(ran.stderr).toMatch(/licadm: the license server is stopping.*asking again while the wait lasts/)
    expect(ran.stderr).toMatch(/licadm: released lease lse_/)
    const [usage] = await admin.list({license: two})
    expect(usage.holders.map((h) => h.user)).toEqual(['ann'])
    await restarted.close()
  })

  it('a wait that ends before the server is back exits 8 (SERVER_UNREACHABLE), saying the server could not be reached when it ended', async () => {
    const {server, two} = await fullServer()
    const env = {...sb.env, LICADM_SERVER: server.url, LICADM_TOKEN: CLIENT_TOKEN}
    const args = ['seat', 'checkout', '--license', two, '--wait', '3s', '--json']
    const checkout = collect(spawnLicadm(args, {env}), args)
    await until('the checkout waits in line', () => server.seats.queue.length === 1)
    await server.close()
    const error = fails(await checkout, 8)
    expect(error).toMatchObject({code: 'SERVER_UNREACHABLE', details: {duringWait: true, lastRefusal: 'NO_SEAT_FREE'}})
    expect(error.message).toMatch(/could not be reached when the wait ended/)
  })
})
