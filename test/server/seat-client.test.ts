/**
 * The seat client library (src/client/seat-client.ts) against in-process servers: renewal and lost
 * callbacks, lost as a terminal state, retries of transient failures until the lease expires,
 * release answers, clock skew, lease-token verification on heartbeats, close() and signals.
 */
import {spawn} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {request as httpRequest} from 'node:http'
import {createServer, connect, type Server, type Socket} from 'node:net'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {ClockSkewError, SeatClient, type SeatLease} from '../../src/client/seat-client.js'
import {LicadmError, VerificationError} from '../../src/domain/errors.js'
import {verifyLeaseToken} from '../../src/formats/lease.js'
import type {Grant} from '../../src/services/seats.js'
import {tempDir} from '../unit/helpers.js'
import {ADMIN_TOKEN, CLIENT_TOKEN, closeAll, refusal, testServer, type TestServer} from './helpers.js'
import {seatClient as client, serverWithTtl, until, used, type Seen} from './seat-client-helpers.js'

const tmp = tempDir()
afterAll(async () => {
  await closeAll()
  tmp.cleanup()
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A TCP relay to the server that can be cut (every connection dropped, new ones refused) and restored. */
async function relay(target: string): Promise<{url: string; cut(): void; restore(): void; close(): Promise<void>}> {
  const {port, hostname} = new URL(target)
  const sockets = new Set<Socket>()
  let down = false
  const server: Server = createServer((inbound) => {
    if (down) return inbound.destroy()
    const outbound = connect(Number(port), hostname)
    for (const s of [inbound, outbound]) {
      sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => {
        sockets.delete(s)
        inbound.destroy()
        outbound.destroy()
      })
    }
    inbound.pipe(outbound).pipe(inbound)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as {port: number}
  return {
    url: `http://127.0.0.1:${address.port}`,
    cut() {
      down = true
      for (const s of sockets) s.destroy()
    },
    restore() {
      down = false
    },
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

describe('renewal callback', () => {
  it('onRenewed fires for every renewal, automatic or by heartbeat(), with the renewed lease', async () => {
    const {s, two} = await serverWithTtl(5)
    const {seats, seen} = client(s)
    const seat = await seats.checkout({license: two})
    const first = seat.lease.expiresAt
    s.clock.advance(1000)
    await until('the automatic heartbeat renewed the lease', () => seen.renewed.length > 0)
    expect(seen.renewed[0]).toBe(first + 1)
    expect(seat.lease.expiresAt).toBe(first + 1)
    s.clock.advance(1000)
    const grant = await seat.heartbeat()
    expect(grant.lease.expiresAt).toBe(first + 2)
    expect(seen.renewed.at(-1)).toBe(first + 2)
    expect(seat.token).toBe(grant.token)
    expect(seen.errors).toEqual([])
    expect(seen.lost).toEqual([])
    expect(await seat.release()).toBe(true)
    await s.close()
  })
})

describe('release answers whether the server still had the lease', () => {
  it('true when it freed the seat, false when an admin had removed it; a second call gives the same answer', async () => {
    const {s, two} = await serverWithTtl(60)
    const {seats} = client(s)
    const a = await seats.checkout({license: two}, {autoHeartbeat: false})
    const b = await seats.checkout({license: two}, {autoHeartbeat: false})
    expect(await used(s, two)).toBe(2)
    expect(await Promise.all([a.release(), a.release()])).toEqual([true, true])
    expect(a.state).toBe('released')
    await s.admin.forceRelease(b.id)
    // The client has not heard of it yet: the seat is active until the server says otherwise.
    expect(b.active).toBe(true)
    expect(await b.release()).toBe(false)
    expect(await b.release()).toBe(false)
    expect(await used(s, two)).toBe(0)
    expect((await refusal(a.heartbeat())).code).toBe('LEASE_NOT_FOUND')
    await s.close()
  })
})

describe('a lost lease is a terminal state', () => {
  it('removed by an admin: the automatic heartbeat finds it gone, onLost fires once with LEASE_NOT_FOUND, heartbeats stop', async () => {
    const {s, two} = await serverWithTtl(5)
    const hooks = process.listenerCount('SIGINT')
    const {seats, seen} = client(s)
    const seat = await seats.checkout({license: two})
    expect(process.listenerCount('SIGINT')).toBe(hooks + 1)
    await s.admin.forceRelease(seat.id)
    await until('the seat is lost', () => seen.lost.length > 0)
    expect(seen.lost).toHaveLength(1)
    expect(seen.lost[0]).toBeInstanceOf(LicadmError)
    expect(seen.lost[0].code).toBe('LEASE_NOT_FOUND')
    expect(seat.state).toBe('lost')
    expect(seat.active).toBe(false)
    expect(seat.lostReason).toBe(seen.lost[0])
    expect(seats.seats).toEqual([])
    expect(process.listenerCount('SIGINT')).toBe(hooks)
    // Longer than a heartbeat interval (a third of 5 s) and its retries: no further attempt.
    const errors = seen.errors.length
    await sleep(2500)
    expect(seen.errors).toHaveLength(errors)
    expect(seen.lost).toHaveLength(1)
    // heartbeat() now answers with the reason, without asking the server; release() with false.
    expect(await refusal(seat.heartbeat())).toBe(seen.lost[0])
    expect(await seat.release()).toBe(false)
    expect(seat.state).toBe('lost')
    await s.close()
  })

  it('expired on the server (LEASE_EXPIRED) or its license revoked (LICENSE_REVOKED): lost at the next heartbeat', async () => {
    const {s, two} = await serverWithTtl(60)
    const {seats, seen} = client(s)
    const expiring = await seats.checkout({license: two}, {autoHeartbeat: false})
    s.clock.advance(61_000)
    expect((await refusal(expiring.heartbeat())).code).toBe('LEASE_EXPIRED')
    expect(expiring.state).toBe('lost')
    expect(seen.lost.map((e) => e.code)).toEqual(['LEASE_EXPIRED'])

    const revoked = await seats.checkout({license: two}, {autoHeartbeat: false})
    await s.store.db.updateTable('licenses').set({status: 'revoked'}).where('id', '=', two).execute()
    expect((await refusal(revoked.heartbeat())).code).toBe('LICENSE_REVOKED')
    expect(revoked.state).toBe('lost')
    expect(seen.lost.map((e) => e.code)).toEqual(['LEASE_EXPIRED', 'LICENSE_REVOKED'])
    expect(seats.seats).toEqual([])
    await s.close()
  })

  it('network failures are retried with backoff; when the server is back, the lease is renewed and never lost', async () => {
    const {s, two} = await serverWithTtl(9)
    const net = await relay(s.url)
    const {seats, seen} = client(s, {
      // Two failed attempts, then the network comes back.
      onHeartbeatError(error) {
        seen.errors.push(error)
        if (seen.errors.length === 2) net.restore()
      },
    }, net.url)
    const seat = await seats.checkout({license: two})
    net.cut()
    s.clock.advance(1000)
    await until('a heartbeat got through again', () => seen.renewed.length > 0)
    expect(seen.errors).toHaveLength(2)
    expect(seen.errors.map((e) => (e as LicadmError).code)).toEqual(['SERVER_UNREACHABLE', 'SERVER_UNREACHABLE'])
    expect(seat.state).toBe('active')
    expect(seen.lost).toEqual([])
    expect(await seat.release()).toBe(true)
    await net.close()
    await s.close()
  })

  it('a server unreachable until the lease expires: lost with LEASE_EXPIRED, the network failure as its cause', async () => {
    const {s, two} = await serverWithTtl(5)
    const net = await relay(s.url)
    const {seats, seen} = client(s, {}, net.url)
    const seat = await seats.checkout({license: two})
    net.cut()
    await until('the seat is lost', () => seen.lost.length > 0)
    const [lost] = seen.lost
    expect(lost.code).toBe('LEASE_EXPIRED')
    expect(lost.message).toMatch(new RegExp(`lease ${seat.id} expired at .*no heartbeat renewed it \\(last failure: cannot reach the license server`))
    expect((lost.cause as LicadmError).code).toBe('SERVER_UNREACHABLE')
    // Retried before giving up, every attempt reported.
    expect(seen.errors.length).toBeGreaterThan(1)
    expect(seat.state).toBe('lost')
    const errors = seen.errors.length
    await sleep(2500)
    expect(seen.errors).toHaveLength(errors)
    await net.close()
    await s.close()
  })
})

describe('clock skew', () => {
  it('maxSkewMs refuses a machine whose clock is off the signed server time, before any seat is taken', async () => {
    const s = await testServer()
    const two = s.license('two')
    s.clock.set(Date.now() + 2 * 86_400_000)
    const {seats} = client(s, {maxSkewMs: 5 * 60_000})
    const err = await refusal(seats.checkout({license: two}))
    expect(err).toBeInstanceOf(ClockSkewError)
    expect(err).toMatchObject({code: 'CLOCK_SKEW', exit: 15})
    expect(err.message).toMatch(/^this machine's clock is 4[78]\.\d h behind the license server's signed time \(at most 5\.0 min allowed\)/)
    expect(Math.abs((err as ClockSkewError).skewMs - 2 * 86_400_000)).toBeLessThan(60_000)
    expect(Math.abs(seats.skewMs! - 2 * 86_400_000)).toBeLessThan(60_000)
    expect(await used(s, two)).toBe(0)
    // checkClock says the same on its own.
    expect(await refusal(seats.checkClock())).toBeInstanceOf(ClockSkewError)
    await s.close()
  })

  it("lease tokens are verified at the server's signed time: a skewed machine without maxSkewMs still checks out and renews", async () => {
    const s = await testServer()
    const two = s.license('two')
    s.clock.set(Date.now() + 2 * 86_400_000)
    const {seats, seen} = client(s)
    const seat = await seats.checkout({license: two}, {autoHeartbeat: false})
    // At this machine's time the token would look issued in the future.
    expect(() => verifyLeaseToken(seat.token, s.publicKeys, Math.floor(Date.now() / 1000))).toThrow(/in the future/)
    s.clock.advance(1000)
    await seat.heartbeat()
    expect(seen.renewed).toHaveLength(1)
    expect(seats.skewMs).toBeGreaterThan(86_400_000)
    expect(await seat.release()).toBe(true)
    await s.close()
  })

  it('a skew that appears while the seat is held: the next heartbeat loses it (CLOCK_SKEW) and gives the seat back', async () => {
    // A TTL longer than the jump, so the server itself still renews the lease.
    const {s, two} = await serverWithTtl(7200)
    s.clock.set(Date.now())
    const {seats, seen} = client(s, {maxSkewMs: 5 * 60_000})
    const seat = await seats.checkout({license: two}, {autoHeartbeat: false})
    expect(Math.abs(seats.skewMs!)).toBeLessThan(60_000)
    s.clock.advance(3_600_000)
    const err = await refusal(seat.heartbeat())
    expect(err).toBeInstanceOf(ClockSkewError)
    expect(seat.state).toBe('lost')
    expect(seen.lost.map((e) => e.code)).toEqual(['CLOCK_SKEW'])
    await seats.releaseAll()
    expect(await used(s, two)).toBe(0)
    await s.close()
  })

  it('maxSkewMs needs pinned keys: an unsigned time proves nothing', async () => {
    const s = await testServer()
    expect(() => new SeatClient({server: s.url, token: CLIENT_TOKEN, maxSkewMs: 60_000})).toThrow(/maxSkewMs needs publicKeys/)
    expect(() => new SeatClient({server: s.url, token: CLIENT_TOKEN, publicKeys: s.publicKeys, maxSkewMs: -1})).toThrow(/maxSkewMs must be/)
    const unsigned = new SeatClient({server: s.url, token: CLIENT_TOKEN, user: 'app', host: 'ci', releaseOnExit: false})
    const seat = await unsigned.checkout({license: s.license('two')}, {autoHeartbeat: false})
    expect(unsigned.skewMs).toBeUndefined()
    expect(await seat.release()).toBe(true)
    await s.close()
  })
})

describe('lease tokens are verified on heartbeats as on checkouts', () => {
  /** Makes the client's next heartbeat answer with what `change` makes of the real renewed grant. */
  const originals = new WeakMap<SeatClient, (id: string) => Promise<Grant>>()
  function answerWith(seats: SeatClient, change: (grant: Grant) => Grant | Promise<Grant>): void {
    if (!originals.has(seats)) originals.set(seats, seats.client.heartbeat.bind(seats.client))
    const real = originals.get(seats)!
    seats.client.heartbeat = async (id: string) => change(await real(id))
  }

  async function setup(): Promise<{s: TestServer; seats: SeatClient; seen: Seen; seat: SeatLease; other: Grant}> {
    const {s, two} = await serverWithTtl(60)
    const {seats, seen} = client(s)
    const seat = await seats.checkout({license: two}, {autoHeartbeat: false})
    const other = await s.client.checkout({license: two, user: 'someone', host: 'else'})
    return {s, seats, seen, seat, other}
  }

  it("another lease's token (signed by the server, but not this lease's): refused as wrong-target; the seat keeps its token", async () => {
    const {s, seats, seen, seat, other} = await setup()
    const token = seat.token
    answerWith(seats, (grant) => ({...grant, token: other.token}))
    const err = await refusal(seat.heartbeat())
    expect(err).toBeInstanceOf(VerificationError)
    expect((err as VerificationError).reason).toBe('wrong-target')
    expect(seat.token).toBe(token)
    expect(seat.state).toBe('active')
    expect(seen.renewed).toEqual([])
    expect(seen.errors).toEqual([err])
    await seats.close()
    await s.close()
  })

  it("a token signed by another vendor's key (unknown-key), or changed (signature-invalid): refused", async () => {
    const {s, seats, seat} = await setup()
    const foreign = await testServer()
    const theirs = await foreign.client.checkout({license: foreign.license('two'), user: 'app', host: 'ci'})
    answerWith(seats, (grant) => ({...grant, token: theirs.token}))
    expect((await refusal(seat.heartbeat())).code).toBe('UNKNOWN_KEY')
    answerWith(seats, (grant) => {
      const [h, p, sig] = grant.token.split('.')
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString())
      const longer = Buffer.from(JSON.stringify({...payload, exp: payload.exp + 86_400})).toString('base64url')
      return {...grant, lease: {...grant.lease, expiresAt: payload.exp + 86_400}, token: `${h}.${longer}.${sig}`}
    })
    expect((await refusal(seat.heartbeat())).code).toBe('SIGNATURE_INVALID')
    expect(seat.state).toBe('active')
    await seats.close()
    await foreign.close()
    await s.close()
  })

  it("a checkout whose token does not verify is refused, and the seat it took is released", async () => {
    const {s, two} = await serverWithTtl(60)
    const foreign = await testServer()
    const theirs = await foreign.client.checkout({license: foreign.license('two'), user: 'app', host: 'ci'})
    const {seats} = client(s)
    const real = seats.client.checkout.bind(seats.client)
    seats.client.checkout = async (input) => ({...(await real(input)), token: theirs.token})
    expect((await refusal(seats.checkout({license: two}))).code).toBe('UNKNOWN_KEY')
    expect(seats.seats).toEqual([])
    expect(await used(s, two)).toBe(0)
    await foreign.close()
    await s.close()
  })
})

describe('waiting for a free seat (waitMs)', () => {
  it('a checkout waits in line on the server while the license is full and gets the seat once one is released', async () => {
    const {s, two} = await serverWithTtl(60)
    const {seats} = client(s)
    const held = [await seats.checkout({license: two}), await seats.checkout({license: two})]
    const waits: Array<{code: string; waitMs: number}> = []
    const waiting = seats.checkout({license: two}, {waitMs: 90_000, onWait: (refusal, waitMs) => waits.push({code: refusal.code, waitMs})})
    await until('the checkout waits on the server', () => s.seats.queue.length === 1)
    // One refusal, then one request that the server holds for up to a minute: no polling.
    expect(waits).toEqual([{code: 'NO_SEAT_FREE', waitMs: 60_000}])
    expect(await used(s, two)).toBe(2)
    expect((await s.client.status()).waiting).toBe(1)
    const metrics = await (await fetch(`${s.url}/metrics`, {headers: {authorization: `Bearer ${ADMIN_TOKEN}`}})).text()
    expect(metrics).toMatch(/^licadm_checkouts_waiting 1$/m)
    await held[0].release()
    const seat = await waiting
    expect(seat.state).toBe('active')
    expect(await used(s, two)).toBe(2)
    expect(waits).toHaveLength(1)
    expect(s.seats.queue.length).toBe(0)
    await seats.close()
    await s.close()
  })

  it('waiting checkouts get released seats in the order they came; one that cannot take a seat passes it on and keeps its place', async () => {
    const {s, two} = await serverWithTtl(60)
    const holders = [await s.client.checkout({license: two, user: 'h1', host: 'x'}), await s.client.checkout({license: two, user: 'h2', host: 'x'})]
    const served: string[] = []
    const wait = async (user: string) => {
      const queued = s.seats.queue.length
      const grant = s.client.checkout({license: two, user, host: 'pc'}, {waitMs: 30_000}).then((g) => (served.push(user), g))
      await until(`${user} waits`, () => s.seats.queue.length === queued + 1)
      return {grant}
    }
    const [{grant: a}, {grant: b}, {grant: c}] = [await wait('a'), await wait('b'), await wait('c')]
    await s.client.release(holders[1].lease.id)
    await a
    await s.client.release(holders[0].lease.id)
    await b
    expect(served).toEqual(['a', 'b'])
    expect(s.seats.queue.length).toBe(1)
    await s.client.release((await a).lease.id)
    expect((await c).lease.user).toBe('c')
    await s.close()

    // Ann may hold one seat: she waits first, but the seat Bob frees goes past her to Carol.
    const t = await testServer()
    const lic = t.license('two')
    await t.admin.setPolicy(lic, {maxPerUser: 1})
    const ann = await t.client.checkout({license: lic, user: 'ann', host: 'pc1'})
    const bob = await t.client.checkout({license: lic, user: 'bob', host: 'pc2'})
    const annAgain = t.client.checkout({license: lic, user: 'ann', host: 'pc3'}, {waitMs: 30_000})
    await until('ann waits', () => t.seats.queue.length === 1)
    const carol = t.client.checkout({license: lic, user: 'carol', host: 'pc4'}, {waitMs: 30_000})
    await until('carol waits', () => t.seats.queue.length === 2)
    await t.client.release(bob.lease.id)
    expect((await carol).lease.user).toBe('carol')
    expect(t.seats.queue.length).toBe(1)
    await t.client.release(ann.lease.id)
    expect((await annAgain).lease.host).toBe('pc3')
    await t.close()
  })

  it('a waiting checkout of several seats lets smaller ones behind it take single freed seats, and gets its seats once that many are free', async () => {
    const t = await testServer()
    const ten = t.license('ten')
    const holders = await Promise.all(Array.from({length: 10}, (_, i) => t.client.checkout({license: ten, user: `h${i}`, host: 'x'})))
    const seats = new SeatClient({server: t.url, token: CLIENT_TOKEN, publicKeys: t.publicKeys, user: 'render', host: 'farm', releaseOnExit: false})
    let granted = false
    const big = seats.checkout({license: ten, seats: 3}, {waitMs: 30_000, autoHeartbeat: false}).then((seat) => ((granted = true), seat))
    await until('the job of three waits', () => t.seats.queue.length === 1)
    const small = t.client.checkout({license: ten, user: 'ann', host: 'pc'}, {waitMs: 30_000})
    await until('ann waits', () => t.seats.queue.length === 2)
    await t.client.release(holders[0].lease.id)
    expect((await small).lease.user).toBe('ann')
    expect(t.seats.queue.length).toBe(1)
    // Two free seats are not three: it tries, and waits on.
    await t.client.release(holders[1].lease.id)
    await t.client.release(holders[2].lease.id)
    await until('the job waits on', () => t.seats.queue.length === 1)
    expect(granted).toBe(false)
    await t.client.release(holders[3].lease.id)
    const seat = await big
    expect(seat.lease).toMatchObject({seats: 3, user: 'render'})
    expect(await used(t, ten)).toBe(10)
    await seats.close()
    expect(await used(t, ten)).toBe(7)
    await t.close()
  })

  it('a woken checkout refused for another reason passes the seat on to the next in line', async () => {
    const t = await testServer()
    const lic = t.license('two')
    const a = await t.client.checkout({license: lic, user: 'a', host: 'x'})
    await t.client.checkout({license: lic, user: 'b', host: 'x'})
    const mallory = refusal(t.client.checkout({license: lic, user: 'mallory', host: 'pc'}, {waitMs: 30_000}))
    await until('mallory waits', () => t.seats.queue.length === 1)
    const carol = t.client.checkout({license: lic, user: 'carol', host: 'pc'}, {waitMs: 30_000})
    await until('carol waits', () => t.seats.queue.length === 2)
    await t.admin.addRule({product: 8, action: 'deny', subject: 'user', pattern: 'mallory'})
    await t.client.release(a.lease.id)
    expect((await mallory).code).toBe('ACCESS_DENIED')
    // Before Mallory had her answer, the seat went on to Carol: nobody waits any more.
    expect(t.seats.queue.length).toBe(0)
    expect((await carol).lease.user).toBe('carol')
    await t.close()
  })

  it('100 checkouts waiting on a 10-seat license, each releasing its seat soon after: all are served, never more than 10 seats at once', async () => {
    const t = await testServer()
    const ten = t.license('ten')
    const holders = await Promise.all(Array.from({length: 10}, (_, i) => t.client.checkout({license: ten, user: `holder${i}`, host: 'x'})))
    let most = 0
    const waiter = async (i: number) => {
      const grant = await t.client.checkout({license: ten, user: `waiter${i}`, host: 'pc'}, {waitMs: 120_000})
      most = Math.max(most, await used(t, ten))
      await t.client.release(grant.lease.id)
      return grant.lease.user
    }
    const waiting = Promise.all(Array.from({length: 100}, (_, i) => waiter(i)))
    await until('all wait', () => t.seats.queue.length === 100)
    for (const h of holders) await t.client.release(h.lease.id)
    const served = await waiting
    expect(new Set(served).size).toBe(100)
    expect(most).toBeLessThanOrEqual(10)
    expect(await used(t, ten)).toBe(0)
    expect(t.seats.queue.length).toBe(0)
    await t.close()
  })

  it('a checkout that waits longer than one request keeps its place in line; a place is kept for that checkout only', async () => {
    const t = await testServer()
    const lic = t.license('two')
    const holders = [await t.client.checkout({license: lic, user: 'a', host: 'x'}), await t.client.checkout({license: lic, user: 'b', host: 'x'})]
    // Ann's request waits a second in vain: its refusal says which place is kept for her.
    const first = await refusal(t.client.request('POST', '/v1/leases', {license: lic, user: 'ann', host: 'pc', wait: 1}))
    expect(first.code).toBe('NO_SEAT_FREE')
    const place = first.details?.place
    expect(place).toEqual(expect.any(Number))
    const bob = t.client.checkout({license: lic, user: 'bob', host: 'pc2'}, {waitMs: 30_000})
    await until('bob waits', () => t.seats.queue.length === 1)
    // Ann asks again with her place, and is ahead of Bob; Carol's claim to the same place is not hers.
    const ann = t.client.request<Grant>('POST', '/v1/leases', {license: lic, user: 'ann', host: 'pc', wait: 30, place})
    await until('ann waits', () => t.seats.queue.length === 2)
    const carol = refusal(t.client.request('POST', '/v1/leases', {license: lic, user: 'carol', host: 'pc3', wait: 30, place}))
    await until('carol waits', () => t.seats.queue.length === 3)
    await t.client.release(holders[0].lease.id)
    expect((await ann).lease.user).toBe('ann')
    await t.client.release(holders[1].lease.id)
    expect((await bob).lease.user).toBe('bob')
    await t.close()
    // Still waiting when the server stopped: told so (503), not refused a seat.
    expect(await carol).toMatchObject({code: 'SERVER_STOPPING', details: {httpStatus: 503, lastRefusal: 'NO_SEAT_FREE'}})
  })

  it("the client's waiting requests, each shorter than the whole wait (requestWaitMs), pass on the place in line: a later checkout stays behind", async () => {
    const t = await testServer()
    const lic = t.license('two')
    const holders = [await t.client.checkout({license: lic, user: 'a', host: 'x'}), await t.client.checkout({license: lic, user: 'b', host: 'x'})]
    const waits: number[] = []
    const ann = t.client.checkout({license: lic, user: 'ann', host: 'pc'}, {waitMs: 60_000, requestWaitMs: 1000, onWait: (_, ms) => waits.push(ms)})
    await until('ann waits', () => t.seats.queue.length === 1)
    const bob = t.client.checkout({license: lic, user: 'bob', host: 'pc2'}, {waitMs: 60_000})
    await until('bob waits', () => t.seats.queue.length === 2)
    // Ann's one-second request ends unserved; her next one goes back to her place, ahead of Bob.
    await until("ann's next request waits", () => waits.length >= 2 && t.seats.queue.length === 2)
    expect(waits.slice(0, 2)).toEqual([1000, 1000])
    await t.client.release(holders[0].lease.id)
    expect(await Promise.race([ann.then(() => 'ann'), bob.then(() => 'bob')])).toBe('ann')
    expect(t.seats.queue.length).toBe(1)
    await t.client.release(holders[1].lease.id)
    expect((await bob).lease.user).toBe('bob')

    // A request never waits longer than the server allows (a minute).
    const stop = new AbortController()
    let asked = 0
    const capped = await refusal(
      t.client.checkout({license: lic, user: 'cy', host: 'pc3'}, {waitMs: 300_000, requestWaitMs: 120_000, signal: stop.signal, onWait: (_, ms) => ((asked = ms), stop.abort())}),
    )
    expect(capped.code).toBe('NO_SEAT_FREE')
    expect(asked).toBe(60_000)
    await t.close()
  })

  it('the server answers waiting checkouts at once when it stops', async () => {
    const {s, two} = await serverWithTtl(60)
    await s.client.checkout({license: two, user: 'h1', host: 'x'})
    await s.client.checkout({license: two, user: 'h2', host: 'x'})
    // One request that would wait a minute: the answer comes when the server stops, and the stop does not wait for it.
    const waiting = refusal(s.client.request('POST', '/v1/leases', {license: two, user: 'w', host: 'pc', wait: 60}, {timeoutMs: 120_000}))
    await until('it waits', () => s.seats.queue.length === 1)
    await s.close()
    // Not a refusal of a seat: "the server is stopping, ask again in a moment" (503, Retry-After).
    expect(await waiting).toMatchObject({code: 'SERVER_STOPPING', exit: 8, details: {httpStatus: 503, retryAfter: 1, lastRefusal: 'NO_SEAT_FREE'}})
  })

  it('when the time is up, the last NO_SEAT_FREE is thrown; other refusals are not waited on', async () => {
    const {s, two} = await serverWithTtl(60)
    const {seats} = client(s)
    await seats.checkout({license: two})
    await seats.checkout({license: two})
    let waits = 0
    const full = await refusal(seats.checkout({license: two}, {waitMs: 600, onWait: () => waits++}))
    expect(full.code).toBe('NO_SEAT_FREE')
    expect(waits).toBeGreaterThanOrEqual(1)
    await s.store.db.updateTable('licenses').set({status: 'revoked'}).where('id', '=', s.license('ten')).execute()
    waits = 0
    expect((await refusal(seats.checkout({license: s.license('ten')}, {waitMs: 60_000, onWait: () => waits++}))).code).toBe('LICENSE_REVOKED')
    expect(waits).toBe(0)
    await seats.close()
    await s.close()
  })

  it('an abort signal or close() ends the wait at once', async () => {
    const {s, two} = await serverWithTtl(60)
    const {seats: holder} = client(s)
    await holder.checkout({license: two})
    await holder.checkout({license: two})
    const {seats} = client(s, {user: 'waiter'})
    const stop = new AbortController()
    let waits = 0
    const aborted = seats.checkout({license: two}, {waitMs: 600_000, signal: stop.signal, onWait: () => waits++})
    await until('it waits', () => waits >= 1)
    await until('it waits on the server', () => s.seats.queue.length === 1)
    stop.abort()
    expect((await refusal(aborted)).code).toBe('NO_SEAT_FREE')
    // The server sees the client leave, and its checkout leaves the line.
    await until('the server drops the wait', () => s.seats.queue.length === 0)
    waits = 0
    const closed = seats.checkout({license: two}, {waitMs: 600_000, onWait: () => waits++})
    await until('it waits', () => waits >= 1)
    await seats.close()
    expect(await refusal(closed)).toMatchObject({code: 'USAGE', message: expect.stringMatching(/closed/)})
    // Nothing was taken by the waiter.
    expect((await s.client.list({license: two}))[0].holders.map((h) => h.user)).toEqual(['app', 'app'])
    await holder.close()
    await s.close()
  })
})

describe('seats freed together wake as many waiting checkouts (a lease of several seats, exclusive or not)', () => {
  /** Checkouts of one seat each that wait in line on the server, in this order. */
  async function waitInLine(s: TestServer, license: string, users: string[]): Promise<Array<Promise<Grant>>> {
    const waiting: Array<Promise<Grant>> = []
    for (const user of users) {
      const queued = s.seats.queue.length
      waiting.push(s.client.checkout({license, user, host: 'pc'}, {waitMs: 30_000}))
      await until(`${user} waits`, () => s.seats.queue.length === queued + 1)
    }
    return waiting
  }

  it('a released lease of several seats serves as many waiting checkouts at once: a checkout that never waited does not jump the line', async () => {
    const t = await testServer()
    const two = t.license('two')
    const alice = await t.client.checkout({license: two, user: 'alice', host: 'pc1', seats: 2})
    const [bob, carol] = await waitInLine(t, two, ['bob', 'carol'])
    await t.client.release(alice.lease.id)
    expect((await bob).lease.user).toBe('bob')
    // Carol was woken with Bob: the second seat is hers, not Eve's, who comes after.
    expect((await refusal(t.client.checkout({license: two, user: 'eve', host: 'pc9'}))).code).toBe('NO_SEAT_FREE')
    expect((await carol).lease.user).toBe('carol')
    expect(t.seats.queue.length).toBe(0)
    await t.close()
  })

  it("the sweeper's reclaim of an expired lease of several seats serves as many waiting checkouts", async () => {
    const {s, two} = await serverWithTtl(60)
    await s.client.checkout({license: two, user: 'alice', host: 'pc1', seats: 2})
    const [bob, carol] = await waitInLine(s, two, ['bob', 'carol'])
    s.clock.advance(61_000)
    expect(await s.seats.sweep()).toBe(1)
    expect((await bob).lease.user).toBe('bob')
    expect((await refusal(s.client.checkout({license: two, user: 'eve', host: 'pc9'}))).code).toBe('NO_SEAT_FREE')
    expect((await carol).lease.user).toBe('carol')
    await s.close()
  })

  it('a lingering lease of several seats taken back with fewer: the seats left over go to those in line', async () => {
    const t = await testServer()
    const two = t.license('two')
    await t.admin.setPolicy(two, {linger: 60})
    const alice = await t.client.checkout({license: two, user: 'alice', host: 'pc1', seats: 2})
    await t.client.release(alice.lease.id)
    const [bob] = await waitInLine(t, two, ['bob'])
    // Alice takes back one of her two lingering seats: the other is Bob's, who waits for it.
    expect((await t.client.checkout({license: two, user: 'alice', host: 'pc1'})).lease.seats).toBe(1)
    expect((await refusal(t.client.checkout({license: two, user: 'eve', host: 'pc9'}))).code).toBe('NO_SEAT_FREE')
    expect((await bob).lease.user).toBe('bob')
    await t.close()
  })

  it('a client that goes away while its checkout waits: the seat it got is freed at once despite a linger, and the next in line gets it', async () => {
    const t = await testServer()
    const two = t.license('two')
    await t.admin.setPolicy(two, {linger: 60})
    await t.client.checkout({license: two, user: 'h1', host: 'x'})
    // The server grants the leaving client's checkout, and answers only once the client is gone.
    const checkout = t.seats.checkout.bind(t.seats)
    let granted!: () => void
    const got = new Promise<void>((resolve) => (granted = resolve))
    t.seats.checkout = async (input, scope, options) => {
      const grant = await checkout(input, scope, options)
      const signal = options?.signal
      if (input.user === 'leaving' && signal) {
        granted()
        await new Promise((resolve) => (signal.aborted ? resolve(undefined) : signal.addEventListener('abort', resolve, {once: true})))
      }
      return grant
    }
    const leaving = httpRequest(`${t.url}/v1/leases`, {method: 'POST', agent: false, headers: {authorization: `Bearer ${CLIENT_TOKEN}`, 'content-type': 'application/json'}})
    leaving.on('error', () => {})
    leaving.end(JSON.stringify({license: two, user: 'leaving', host: 'pc', wait: 30}))
    await got
    const [carol] = await waitInLine(t, two, ['carol'])
    leaving.destroy()
    expect((await carol).lease.user).toBe('carol')
    const [usage] = await t.client.list({license: two})
    expect(usage.holders.map((h) => [h.user, h.releasedAt]).sort()).toEqual([
      ['carol', null],
      ['h1', null],
    ])
    await t.close()
  })
})

describe('shutdown: close(), releaseAll() and signal handlers', () => {
  it('close() releases every seat and waits for it; later checkouts are refused', async () => {
    const {s, two} = await serverWithTtl(60)
    const hooks = {sigint: process.listenerCount('SIGINT'), beforeExit: process.listenerCount('beforeExit')}
    const {seats} = client(s)
    const a = await seats.checkout({license: two})
    const b = await seats.checkout({license: two})
    expect(process.listenerCount('SIGINT')).toBe(hooks.sigint + 1)
    await seats.close()
    expect(await used(s, two)).toBe(0)
    expect([a.state, b.state]).toEqual(['released', 'released'])
    expect(process.listenerCount('SIGINT')).toBe(hooks.sigint)
    expect(process.listenerCount('beforeExit')).toBe(hooks.beforeExit)
    expect((await refusal(seats.checkout({license: two}))).code).toBe('USAGE')
    await s.close()
  })

  it('handleSignals: false installs no SIGINT/SIGTERM handler, but still releases at the end of the process', async () => {
    const {s, two} = await serverWithTtl(60)
    const hooks = {sigint: process.listenerCount('SIGINT'), sigterm: process.listenerCount('SIGTERM'), beforeExit: process.listenerCount('beforeExit')}
    const {seats} = client(s, {handleSignals: false})
    await seats.checkout({license: two})
    expect(process.listenerCount('SIGINT')).toBe(hooks.sigint)
    expect(process.listenerCount('SIGTERM')).toBe(hooks.sigterm)
    expect(process.listenerCount('beforeExit')).toBe(hooks.beforeExit + 1)
    await seats.releaseAll()
    expect(process.listenerCount('beforeExit')).toBe(hooks.beforeExit)
    expect(await used(s, two)).toBe(0)
    await s.close()
  })

  it("an app with its own SIGINT handler awaits close(): the seat is free before it exits, and the exit is the app's", async () => {
    const {s, two} = await serverWithTtl(60)
    const script = join(tmp.dir, 'own-handler.mjs')
    // The library entry as vendors import it (needs the build).
    const entry = new URL('../../dist/index.js', import.meta.url).pathname
    writeFileSync(
      script,
      `import {SeatClient} from ${JSON.stringify(entry)}
const [server, token, license] = process.argv.slice(2)
const seats = new SeatClient({server, token, user: 'app', host: 'ci'})
const seat = await seats.checkout({license})
const keep = setInterval(() => {}, 1000)
process.once('SIGINT', async () => {
  await seats.close()
  const [usage] = await seats.client.list({license})
  process.stdout.write('closed: ' + seat.state + ', seats used ' + usage.used + '\\n')
  clearInterval(keep)
  process.exitCode = 130
})
process.stdout.write(seat.id + '\\n')
`,
    )
    const child = spawn(process.execPath, [script, s.url, CLIENT_TOKEN, two], {stdio: ['ignore', 'pipe', 'pipe']})
    try {
      let out = ''
      let err = ''
      child.stderr.on('data', (b) => (err += b))
      const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) => child.on('exit', (code, signal) => resolve({code, signal})))
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString()
          if (out.includes('\n')) resolve()
        })
        child.on('exit', (code) => reject(new Error(`app exited ${code}: ${err}`)))
      })
      expect(await used(s, two)).toBe(1)
      child.kill('SIGINT')
      const r = await exited
      expect(r, err).toEqual({code: 130, signal: null})
      expect(out).toContain('closed: released, seats used 0')
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await s.close()
    }
  })
})
