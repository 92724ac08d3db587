/**
 * A checkout waiting in line outlasts a restart of the server: the stopping server answers it 503
 * SERVER_STOPPING (signed, with Retry-After), and the client asks again, through the outage, of the
 * restarted server while its wait lasts; a wait that ends during the outage says so (exit 8).
 */
import {randomBytes} from 'node:crypto'
import {createServer} from 'node:net'

import {afterAll, describe, expect, it} from 'vitest'

import {ServerClient} from '../../src/client/http.js'
import {SeatClient} from '../../src/client/seat-client.js'
import {request as transportRequest} from '../../src/client/transport.js'
import {ExitCode, type LicadmError} from '../../src/domain/errors.js'
import {NONCE_HEADER, requestBinding, SIGNATURE_HEADER, verifyResponse} from '../../src/formats/response.js'
import {ADMIN_TOKEN, CLIENT_TOKEN, closeAll, refusal, testServer} from './helpers.js'
import {restartableServers} from './restart-helpers.js'
import {until} from './seat-client-helpers.js'

const {serveDir, fullServer, cleanup} = restartableServers('licadm-wait-restart-')
afterAll(async () => {
  await cleanup()
  await closeAll()
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('a checkout waiting in line while the server restarts', {timeout: 60_000}, () => {
  it('gets its seat from the restarted server (same data and port) within its wait: ServerClient and SeatClient', async () => {
    const {server, dir, two, held} = await fullServer()
    const retried: string[] = []
    const client = new ServerClient({server: server.url, token: CLIENT_TOKEN, publicKeys: server.publicKeys})
    const waiting = client.checkout({license: two, user: 'w1', host: 'pc1'}, {waitMs: 30_000, onRetry: (failure) => retried.push(failure.code)})
    const seats = new SeatClient({server: server.url, token: CLIENT_TOKEN, publicKeys: server.publicKeys, user: 'w2', host: 'pc2', releaseOnExit: false, handleSignals: false})
    const seatWaiting = seats.checkout({license: two}, {waitMs: 30_000})
    await until('both checkouts wait in line', () => server.seats.queue.length === 2)
    const outcomes = {first: 'pending', second: 'pending'}
    void waiting.then(
      () => (outcomes.first = 'granted'),
      (e: LicadmError) => (outcomes.first = e.code),
    )
    void seatWaiting.then(
      () => (outcomes.second = 'granted'),
      (e: LicadmError) => (outcomes.second = e.code),
    )
    await server.close()
    // The port stays closed for a while (an upgrade): the waiting checkouts do not give up.
    await sleep(1500)
    expect(outcomes).toEqual({first: 'pending', second: 'pending'})
    const restarted = await serveDir(dir, server.port)
    const admin = new ServerClient({server: restarted.url, token: ADMIN_TOKEN, publicKeys: restarted.publicKeys})
    // The leases held before the restart are still held: the seats are freed on the new server.
    for (const id of held) expect(await admin.release(id)).toMatchObject({released: true})
    const grant = await waiting
    expect(grant.lease).toMatchObject({licenseId: two, user: 'w1', host: 'pc1'})
    const seat = await seatWaiting
    expect(seat.lease).toMatchObject({licenseId: two, user: 'w2', host: 'pc2'})
    expect(seat.state).toBe('active')
    // The stopping server said so (not NO_SEAT_FREE), then the port was closed for a while.
    expect(retried[0]).toBe('SERVER_STOPPING')
    expect(retried.slice(1).every((code) => ['SERVER_UNAVAILABLE', 'SERVER_UNREACHABLE'].includes(code))).toBe(true)
    // Both leases are the restarted server's, and the seat client renews its own there.
    const [usage] = await admin.list({license: two})
    expect(usage.holders.map((h) => h.user).sort()).toEqual(['w1', 'w2'])
    expect((await seat.heartbeat()).lease.id).toBe(seat.id)
    await seats.close()
    await restarted.close()
  })

  it('fails with the unreachable error (exit 8) once its wait ends during the outage, saying so; without a wait, one attempt', async () => {
    const {server, two} = await fullServer()
    const client = new ServerClient({server: server.url, token: CLIENT_TOKEN, publicKeys: server.publicKeys})
    const begun = Date.now()
    const waiting = refusal(client.checkout({license: two, user: 'w', host: 'pc'}, {waitMs: 3000}))
    await until('the checkout waits in line', () => server.seats.queue.length === 1)
    await server.close()
    const error = await waiting
    const took = Date.now() - begun
    expect(error).toMatchObject({code: 'SERVER_UNREACHABLE', exit: ExitCode.unreachable, details: {duringWait: true, lastRefusal: 'NO_SEAT_FREE'}})
    expect(error.message).toMatch(/no seat within the wait .*could not be reached when the wait ended/)
    // It tried until its time was up, not a moment after the server stopped.
    expect(took).toBeGreaterThanOrEqual(2900)
    expect(took).toBeLessThan(10_000)

    // Nothing listens there now: a checkout without a wait makes one attempt, and so does the
    // first request of one with a wait (a wrong URL is not waited out).
    for (const waitMs of [0, 20_000]) {
      const begin = Date.now()
      expect(await refusal(client.checkout({license: two, user: 'w', host: 'pc'}, {waitMs}))).toMatchObject({code: 'SERVER_UNREACHABLE', exit: ExitCode.unreachable})
      expect(Date.now() - begin).toBeLessThan(2000)
    }
  })

  it('a waiting SeatClient checkout stopped by close() during the outage ends at once', async () => {
    const {server, two} = await fullServer()
    const seats = new SeatClient({server: server.url, token: CLIENT_TOKEN, publicKeys: server.publicKeys, user: 'w', host: 'pc', releaseOnExit: false, handleSignals: false})
    const waiting = refusal(seats.checkout({license: two}, {waitMs: 60_000}))
    await until('the checkout waits in line', () => server.seats.queue.length === 1)
    await server.close()
    await sleep(500)
    const begin = Date.now()
    await seats.close()
    expect(await waiting).toMatchObject({code: 'USAGE', message: expect.stringMatching(/closed/)})
    expect(Date.now() - begin).toBeLessThan(2000)
  })
})

describe("the stopping server's answer to a checkout waiting in line", () => {
  it('is 503 SERVER_STOPPING with Retry-After, signed for the request, and closes the connection', async () => {
    const s = await testServer()
    const two = s.license('two')
    await s.client.checkout({license: two, user: 'h1', host: 'x'})
    await s.client.checkout({license: two, user: 'h2', host: 'x'})
    const nonce = randomBytes(16).toString('base64url')
    const body = JSON.stringify({license: two, user: 'w', host: 'pc', wait: 30})
    const answer = transportRequest({
      method: 'POST',
      url: `${s.url}/v1/leases`,
      headers: {authorization: `Bearer ${CLIENT_TOKEN}`, 'content-type': 'application/json', [NONCE_HEADER]: nonce},
      body,
      timeoutMs: 30_000,
    })
    await until('the checkout waits in line', () => s.seats.queue.length === 1)
    const closing = s.close()
    const response = await answer
    await closing
    expect(response.status).toBe(503)
    expect(response.headers['retry-after']).toBe('1')
    expect(response.headers.connection).toBe('close')
    const json = JSON.parse(response.text)
    expect(json).toMatchObject({ok: false, error: {code: 'SERVER_STOPPING', exitCode: ExitCode.unreachable, details: {retryAfter: 1, lastRefusal: 'NO_SEAT_FREE', licenseId: two}}})
    const signature = response.headers[SIGNATURE_HEADER] as string
    expect(signature).toEqual(expect.any(String))
    expect(() => verifyResponse(signature, response.text, 503, s.publicKeys, requestBinding(nonce, 'POST', '/v1/leases', body))).not.toThrow()
  })

  it('an unsigned 503 of a stopping server is SERVER_UNAVAILABLE to a client with no pinned key too', async () => {
    const server = createServer((socket) => {
      socket.once('data', () => {
        const text = '{"code":"FST_ERR_SERVER_CLOSING"}'
        socket.end(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 2\r\ncontent-length: ${text.length}\r\nconnection: close\r\n\r\n${text}`)
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const client = new ServerClient({server: `http://127.0.0.1:${(server.address() as {port: number}).port}`, token: CLIENT_TOKEN})
      expect(await refusal(client.list())).toMatchObject({code: 'SERVER_UNAVAILABLE', exit: ExitCode.unreachable, details: {httpStatus: 503, retryAfter: 2}})
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
