/**
 * `licadm seat checkout --wait` and `licadm seat run --wait`, spawned from the built CLI, waiting in
 * line while the license server restarts (same data directory and port): they get their seats from
 * the restarted server; a wait that ends before the server is back exits 8, saying so.
 */
import {afterAll, describe, expect, it} from 'vitest'

import {ServerClient} from '../../src/client/http.js'
import {collect, fails, ok, sandbox, spawnLicadm} from '../helpers/cli.js'
import {ADMIN_TOKEN, CLIENT_TOKEN} from '../server/helpers.js'
import {restartableServers} from '../server/restart-helpers.js'
import {until} from '../server/seat-client-helpers.js'

const sb = sandbox('licadm-e2e-seat-wait-restart-')
const {serveDir, fullServer, cleanup} = restartableServers('licadm-e2e-wait-restart-')
afterAll(async () => {
  await cleanup()
  sb.cleanup()
})

describe('waiting in line across a server restart (CLI)', {timeout: 120_000}, () => {
  it('seat checkout --wait and seat run --wait get their seats from the restarted server', async () => {
    const {server, dir, two, held} = await fullServer()
    const env = {...sb.env, LICADM_SERVER: server.url, LICADM_TOKEN: CLIENT_TOKEN}
    const checkoutArgs = ['seat', 'checkout', '--license', two, '--user', 'ann', '--host', 'pc1', '--wait', '60s', '--json']
    const checkout = collect(spawnLicadm(checkoutArgs, {env}), checkoutArgs, {timeoutMs: 90_000})
    await until('the checkout waits in line', () => server.seats.queue.length === 1, 30_000)
    const runArgs = ['seat', 'run', '--license', two, '--user', 'ci', '--host', 'job', '--wait', '60s', '--', 'node', '-e', 'console.log("ran with", process.env.LICADM_LEASE_ID)']
    const run = collect(spawnLicadm(runArgs, {env}), runArgs, {timeoutMs: 90_000})
    await until('seat run waits in line', () => server.seats.queue.length === 2, 30_000)
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
    await until('the checkout waits in line', () => server.seats.queue.length === 1, 30_000)
    await server.close()
    const error = fails(await checkout, 8)
    expect(error).toMatchObject({code: 'SERVER_UNREACHABLE', details: {duringWait: true, lastRefusal: 'NO_SEAT_FREE'}})
    expect(error.message).toMatch(/could not be reached when the wait ended/)
  })
})
