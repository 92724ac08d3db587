import {createPublicKey} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {jwtVerify, createLocalJWKSet, compactVerify, decodeProtectedHeader} from 'jose'
import {afterAll, describe, expect, it} from 'vitest'

import {SeatClient} from '../../src/client/seat-client.js'
import {ServerClient} from '../../src/client/http.js'
import {armorBorrow, returnedBorrowId, verifyBorrowFile, verifyLeaseToken, LEASE_TYP, BORROW_TYP} from '../../src/formats/lease.js'
import {dearmor} from '../../src/crypto/armor.js'
import {publicJwk} from '../../src/crypto/keys.js'
import {systemClock} from '../../src/domain/clock.js'
import {KeyRing} from '../../src/services/keyring.js'
import {reservedInUse} from '../../src/domain/seat-counting.js'
import {SeatService} from '../../src/services/seats.js'
import {VendorService} from '../../src/services/vendor.js'
import {startServer} from '../../src/server/runtime.js'
import {openStore} from '../../src/store/store.js'
import {ADMIN_TOKEN, CLIENT_TOKEN, closeAll, defaultSeed, refusal, testServer, type TestServer} from './helpers.js'

afterAll(closeAll)

const who = (i: number) => ({user: `user${i}`, host: `host${i}`})

/** Fires n checkouts at once; returns the granted lease ids and the refusal codes. */
async function burst(s: TestServer, license: string, n: number): Promise<{granted: string[]; refused: string[]}> {
  const results = await Promise.allSettled(Array.from({length: n}, (_, i) => s.client.checkout({license, ...who(i)})))
  const granted: string[] = []
  const refused: string[] = []
  for (const r of results) {
    if (r.status === 'fulfilled') granted.push(r.value.lease.id)
    else refused.push((r.reason as {code: string}).code)
  }
  return {granted, refused}
}

async function used(s: TestServer, license: string): Promise<number> {
  const [usage] = await s.client.list({license})
  return usage.used
}

describe('seat allocation under concurrency', () => {
  it('1,000 concurrent checkouts of a 10-seat license grant exactly 10, round after round, with releases and expiries interleaved', async () => {
    const s = await testServer()
    const ten = s.license('ten')

    // Round 1: an empty license.
    let round = await burst(s, ten, 1000)
    expect(round.granted).toHaveLength(10)
    expect(new Set(round.granted).size).toBe(10)
    expect(round.refused).toHaveLength(990)
    expect(new Set(round.refused)).toEqual(new Set(['NO_SEAT_FREE']))
    expect(await used(s, ten)).toBe(10)
    let held = round.granted

    // Round 2: four releases race with 1,000 checkouts; every freed seat is taken at most once.
    const releasing = held.slice(0, 4)
    const [releases, round2] = await Promise.all([Promise.all(releasing.map((id) => s.client.release(id))), burst(s, ten, 1000)])
    expect(releases.every((r) => r.released)).toBe(true)
    expect(round2.granted.length).toBeLessThanOrEqual(4)
    held = [...held.slice(4), ...round2.granted]
    expect(await used(s, ten)).toBe(held.length)
    // Fill up what the race left free: exactly the rest.
    const fill = await burst(s, ten, 1000)
    expect(fill.granted).toHaveLength(10 - held.length)
    held = [...held, ...fill.granted]
    expect(await used(s, ten)).toBe(10)

    // Round 3: half the holders heartbeat, then the TTL passes: the others expire; 1,000 checkouts
    // race with the sweeper and take exactly the expired seats.
    s.clock.advance(200_000)
    const kept = held.slice(0, 5)
    await Promise.all(kept.map((id) => s.client.heartbeat(id)))
    s.clock.advance(150_000) // 350 s after the first checkouts, 150 s after the heartbeats
    const [round3] = await Promise.all([burst(s, ten, 1000), s.sweeper.run()])
    expect(round3.granted).toHaveLength(5)
    expect(await used(s, ten)).toBe(10)

    // Round 4: everything expires; the sweeper reclaims; the next burst takes all 10 again.
    s.clock.advance(400_000)
    const {reclaimed} = await s.admin.advanceClock(0)
    expect(reclaimed).toBe(10)
    expect(await used(s, ten)).toBe(0)
    round = await burst(s, ten, 1000)
    expect(round.granted).toHaveLength(10)
    const rows = await s.store.db.selectFrom('leases').select(['id']).execute()
    expect(rows).toHaveLength(10)
    await s.close()
  }, 300_000) // several thousand requests over 1,000 sockets: generous on a busy CI machine
})

describe('leases', () => {
  it('a lease expires without heartbeats and is reclaimed; a heartbeat renews it', async () => {
    const s = await testServer()
    const two = s.license('two')
    const a = await s.client.checkout({license: two, ...who(1)})
    expect(a.ttl).toBe(300)
    expect(a.lease.expiresAt - a.lease.createdAt).toBe(300)
    const b = await s.client.checkout({license: two, ...who(2)})
    expect((await refusal(s.client.checkout({license: two, ...who(3)}))).code).toBe('NO_SEAT_FREE')

    s.clock.advance(200_000)
    const renewed = await s.client.heartbeat(a.lease.id)
    expect(renewed.lease.expiresAt).toBe(a.lease.expiresAt + 200)
    s.clock.advance(200_000)
    // b is past its expiry: its seat counts as free even before the sweeper runs.
    const c = await s.client.checkout({license: two, ...who(3)})
    const late = await refusal(s.client.heartbeat(b.lease.id))
    expect(['LEASE_EXPIRED', 'LEASE_NOT_FOUND']).toContain(late.code)
    expect(await s.client.heartbeat(a.lease.id)).toBeTruthy()

    const {reclaimed} = await s.admin.advanceClock(301)
    expect(reclaimed).toBe(2)
    const gone = await refusal(s.client.heartbeat(c.lease.id))
    expect(gone.code).toBe('LEASE_NOT_FOUND')
    expect(gone.exit).toBe(3)
    await s.close()
  })

  it('a heartbeat after expiry but before the sweep says the lease expired', async () => {
    const s = await testServer()
    const g = await s.client.checkout({license: s.license('ten'), ...who(1)})
    s.clock.advance(301_000)
    const err = await refusal(s.client.heartbeat(g.lease.id))
    expect(err.code).toBe('LEASE_EXPIRED')
    expect(err.exit).toBe(6)
    expect(err.details?.httpStatus).toBe(410)
    await s.close()
  })

  it('release frees a seat at once and is harmless to repeat', async () => {
    const s = await testServer()
    const two = s.license('two')
    const a = await s.client.checkout({license: two, ...who(1)})
    await s.client.checkout({license: two, ...who(2)})
    expect(await s.client.release(a.lease.id)).toEqual({released: true, leaseId: a.lease.id})
    expect(await s.client.release(a.lease.id)).toEqual({released: false, leaseId: a.lease.id})
    await s.client.checkout({license: two, ...who(3)})
    await s.close()
  })

  it('the lease TTL is set per server and per license', async () => {
    const s = await testServer({settings: {leaseTtl: 120}})
    const g = await s.client.checkout({license: s.license('ten'), ...who(1)})
    expect(g.ttl).toBe(120)
    await s.admin.setPolicy(s.license('two'), {leaseTtl: 30})
    const h = await s.client.checkout({license: s.license('two'), ...who(1)})
    expect(h.ttl).toBe(30)
    expect(h.lease.expiresAt - h.lease.createdAt).toBe(30)
    await s.close()
  })

  it('checks out by product code and features, and refuses what no license offers', async () => {
    const s = await testServer()
    const g = await s.client.checkout({product: 7, features: 2, ...who(1)})
    expect(g.lease.licenseId).toBe(s.license('ten'))
    expect((await refusal(s.client.checkout({product: 7, features: 4, ...who(1)}))).code).toBe('NO_LICENSE')
    expect((await refusal(s.client.checkout({product: 99, ...who(1)}))).code).toBe('NO_LICENSE')
    expect((await refusal(s.client.checkout({license: 'lic_nope', ...who(1)}))).code).toBe('LICENSE_NOT_FOUND')
    await s.close()
  })

  it('refuses expired and revoked licenses and single licenses, saying why', async () => {
    const s = await testServer({
      seed: {
        products: [{code: 7, name: 'Seven'}],
        licenses: [
          {key: 'short', product: 7, quantity: 5, expires: '1d'},
          {key: 'single', product: 7, kind: 'single'},
        ],
      },
    })
    expect((await refusal(s.client.checkout({license: s.license('single'), ...who(1)}))).code).toBe('NOT_CONCURRENT')
    const g = await s.client.checkout({license: s.license('short'), ...who(1)})
    expect(g.lease.expiresAt).toBe(g.lease.createdAt + 300)
    s.clock.advance(2 * 86_400_000)
    const expired = await refusal(s.client.checkout({license: s.license('short'), ...who(1)}))
    expect(expired.code).toBe('LICENSE_EXPIRED')
    expect(expired.message).toMatch(/expired at 2026-06-02/)
    await s.store.db.updateTable('licenses').set({status: 'revoked'}).where('id', '=', s.license('single')).execute()
    await s.close()
  })

  it('the lease token verifies offline with the vendor key (licadm and jose)', async () => {
    const s = await testServer()
    const g = await s.client.checkout({license: s.license('ten'), ...who(1)})
    const now = Math.floor(s.clock.now() / 1000)
    const {claims} = verifyLeaseToken(g.token, s.publicKeys, now)
    expect(claims).toMatchObject({sub: g.lease.id, lic: s.license('ten'), product: 7, features: 3, user: 'user1', host: 'host1', iss: '4242', exp: g.lease.expiresAt})
    const jwks = createLocalJWKSet({keys: [publicJwk(createPublicKey(s.publicKeyPem))]})
    const {protectedHeader, payload} = await jwtVerify(g.token, jwks, {typ: LEASE_TYP, algorithms: ['EdDSA'], currentDate: new Date(s.clock.now())})
    expect(protectedHeader.kid).toBe(s.kid)
    expect(payload.sub).toBe(g.lease.id)
    await s.close()
  })
})

describe('counting modes', () => {
  it('station share: one user on one host holds one seat however many processes', async () => {
    const s = await testServer()
    const two = s.license('two')
    await s.admin.setPolicy(two, {mode: 'station'})
    const a = await Promise.all([1, 2, 3].map((p) => s.client.checkout({license: two, user: 'ann', host: 'pc1', process: `p${p}`})))
    expect(a.every((g) => g.lease.mode === 'station')).toBe(true)
    expect(await used(s, two)).toBe(1)
    await s.client.checkout({license: two, user: 'bob', host: 'pc2'})
    expect(await used(s, two)).toBe(2)
    // The same user on another host is another station.
    expect((await refusal(s.client.checkout({license: two, user: 'ann', host: 'pc3'}))).code).toBe('NO_SEAT_FREE')
    // Ann's station keeps its seat until her last process releases.
    await s.client.release(a[0].lease.id)
    await s.client.release(a[1].lease.id)
    expect((await refusal(s.client.checkout({license: two, user: 'cid', host: 'pc4'}))).code).toBe('NO_SEAT_FREE')
    await s.client.checkout({license: two, user: 'ann', host: 'pc1', process: 'p4'})
    await s.client.release(a[2].lease.id)
    expect(await used(s, two)).toBe(2)
    await s.close()
  })

  it('exclusive: one holder takes the license whole', async () => {
    const s = await testServer()
    const ten = s.license('ten')
    await s.admin.setPolicy(ten, {mode: 'exclusive'})
    const g = await s.client.checkout({license: ten, ...who(1)})
    expect(g.lease.seats).toBe(10)
    expect(await used(s, ten)).toBe(10)
    const no = await refusal(s.client.checkout({license: ten, ...who(2)}))
    expect(no.code).toBe('NO_SEAT_FREE')
    expect(no.message).toMatch(/exclusive/)
    expect(no.message).toMatch(/user1@host1/)
    await s.client.release(g.lease.id)
    const burstResult = await burst(s, ten, 50)
    expect(burstResult.granted).toHaveLength(1)
    await s.close()
  })

  it('a per-user maximum: one user holds at most N seats (leases and borrows together, a station once); others are not held back', async () => {
    const s = await testServer()
    const ten = s.license('ten')
    const policy = await s.admin.setPolicy(ten, {maxPerUser: 2})
    expect(policy).toMatchObject({licenseId: ten, mode: 'checkout', maxPerUser: 2})
    const a1 = await s.client.checkout({license: ten, user: 'ann', host: 'pc1'})
    await s.client.checkout({license: ten, user: 'ann', host: 'pc2'})
    const third = await refusal(s.client.checkout({license: ten, user: 'ann', host: 'pc3'}))
    expect(third).toMatchObject({code: 'USER_LIMIT', exit: 4, details: {licenseId: ten, user: 'ann', held: 2, maxPerUser: 2}})
    expect(third.message).toMatch(/user ann holds 2 seat\(s\) of license .*limit of 2 per user/)
    // Other users still get the free seats.
    await s.client.checkout({license: ten, user: 'bob', host: 'pc1'})
    expect(await used(s, ten)).toBe(3)
    // A borrow counts too, and is capped the same way.
    expect((await refusal(s.client.borrow({license: ten, user: 'ann', host: 'pc1', duration: 86_400}))).code).toBe('USER_LIMIT')
    await s.client.release(a1.lease.id)
    await s.client.borrow({license: ten, user: 'ann', host: 'laptop', duration: 86_400})
    expect((await refusal(s.client.checkout({license: ten, user: 'ann', host: 'pc1'}))).code).toBe('USER_LIMIT')
    // An exclusive checkout takes all ten seats, more than two: a policy under which no checkout could be granted is refused, naming both settings.
    const never = await refusal(s.admin.setPolicy(ten, {mode: 'exclusive', maxPerUser: 2}))
    expect(never).toMatchObject({code: 'INVALID_VALUE', exit: 2, details: {flag: 'maxPerUser', mode: 'exclusive', maxPerUser: 2, quantity: 10}})
    expect(never.message).toMatch(/^maxPerUser: license \S+ in mode exclusive is taken whole \(10 seats\) by one checkout, so a limit of 2 seat\(s\) per user would refuse every checkout$/)
    expect(never.hint).toMatch(/--max-per-user default.*--mode/)
    expect((await refusal(s.admin.setPolicy(ten, {mode: 'exclusive'}, {merge: true}))).code).toBe('INVALID_VALUE')
    expect(await s.admin.getPolicy(ten)).toMatchObject({mode: 'checkout', maxPerUser: 2})
    // Such a policy in the store (written before it was refused) refuses every checkout at once, not after a wait.
    // (Written behind the service's back right after a setPolicy, which leaves no copy of it cached.)
    await s.admin.setPolicy(ten, {maxPerUser: 2})
    await s.store.db.updateTable('seat_policies').set({mode: 'exclusive'}).where('license_id', '=', ten).execute()
    let waits = 0
    const refused = await refusal(s.client.checkout({license: ten, user: 'cid', host: 'pc1'}, {waitMs: 60_000, onWait: () => waits++}))
    expect(refused).toMatchObject({code: 'SEAT_COUNT_REFUSED', exit: 4, message: expect.stringMatching(/taken whole \(10 seats\) by one checkout \(exclusive\), but its policy allows 2 seat\(s\) per user/)})
    expect(waits).toBe(0)
    // With the limit at the license's quantity, one holder takes it whole.
    await s.admin.setPolicy(ten, {mode: 'exclusive', maxPerUser: 10})
    // Setting the policy again without the cap lifts it.
    expect((await s.admin.setPolicy(ten, {})).maxPerUser).toBeNull()
    await s.client.checkout({license: ten, user: 'ann', host: 'pc1'})
    await s.close()
  })

  it('a per-user maximum holds under concurrency, and with station share a station counts once', async () => {
    const s = await testServer()
    const ten = s.license('ten')
    await s.admin.setPolicy(ten, {maxPerUser: 3})
    const results = await Promise.allSettled(Array.from({length: 200}, (_, i) => s.client.checkout({license: ten, user: 'ci', host: `runner${i}`})))
    const granted = results.filter((r) => r.status === 'fulfilled')
    expect(granted).toHaveLength(3)
    expect(new Set(results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as {code: string}).code] : [])))).toEqual(new Set(['USER_LIMIT']))
    expect(await used(s, ten)).toBe(3)

    const two = s.license('two')
    await s.admin.setPolicy(two, {mode: 'station', maxPerUser: 1})
    await Promise.all([1, 2, 3].map((p) => s.client.checkout({license: two, user: 'ann', host: 'pc1', process: `p${p}`})))
    expect((await refusal(s.client.checkout({license: two, user: 'ann', host: 'pc2'}))).code).toBe('USER_LIMIT')
    await s.client.checkout({license: two, user: 'bob', host: 'pc2'})
    expect(await used(s, two)).toBe(2)
    await s.close()
  })

  it('a checkout that waits asks again after USER_LIMIT, and gets the seat its user released', async () => {
    const s = await testServer()
    const ten = s.license('ten')
    await s.admin.setPolicy(ten, {maxPerUser: 1})
    const first = await s.client.checkout({license: ten, user: 'ci', host: 'job1'})
    const waits: string[] = []
    const second = await s.client.checkout(
      {license: ten, user: 'ci', host: 'job2'},
      {
        waitMs: 30_000,
        onWait: (error) => {
          waits.push(error.code)
          if (waits.length === 1) void s.client.release(first.lease.id)
        },
      },
    )
    expect(waits[0]).toBe('USER_LIMIT')
    expect(second.lease).toMatchObject({user: 'ci', host: 'job2'})
    await s.close()
  })

  it('a checkout of several seats takes them in one lease, frees them at once, and is refused when fewer are free, saying how many', async () => {
    const s = await testServer()
    const ten = s.license('ten')
    const job = await s.client.checkout({license: ten, user: 'ci', host: 'job1', seats: 4})
    expect(job.lease).toMatchObject({seats: 4, mode: 'checkout'})
    expect(await used(s, ten)).toBe(4)
    // The lease token says how many seats it holds.
    expect(verifyLeaseToken(job.token, s.publicKeys, Math.floor(s.clock.now() / 1000)).claims.seats).toBe(4)
    const single = await s.client.checkout({license: ten, user: 'ann', host: 'pc1'})
    expect(verifyLeaseToken(single.token, s.publicKeys, Math.floor(s.clock.now() / 1000)).claims.seats).toBeUndefined()
    // bob holds three seats in two leases: the refusal names him once, with all three.
    await s.client.checkout({license: ten, user: 'bob', host: 'pc2', seats: 2})
    await s.client.checkout({license: ten, user: 'bob', host: 'pc2'})
    const short = await refusal(s.client.checkout({license: ten, user: 'cy', host: 'pc3', seats: 3}))
    expect(short).toMatchObject({code: 'NO_SEAT_FREE', exit: 4, details: {used: 8, quantity: 10, asked: 3}})
    expect(short.message).toMatch(new RegExp(`^only 2 of the 3 seats asked of license ${ten} are free: 8 of 10 in use by `))
    expect(short.message.split(' in use by ')[1].split(', ').sort()).toEqual(['ann@pc1', 'bob@pc2 ×3', 'ci@job1 ×4'])
    expect((short.details as {holders: {user: string; seats: number}[]}).holders.map((h) => `${h.user}:${h.seats}`).sort()).toEqual(['ann:1', 'bob:1', 'bob:2', 'ci:4'])
    // Two of them are free, as two single checkouts or one of two.
    await s.client.checkout({license: ten, user: 'cy', host: 'pc3', seats: 2})
    expect(await used(s, ten)).toBe(10)
    expect((await s.client.release(job.lease.id)).released).toBe(true)
    expect(await used(s, ten)).toBe(6)
    // A heartbeat keeps all of them; the sweep frees all of them.
    const big = await s.client.checkout({license: ten, user: 'ci', host: 'job2', seats: 4})
    expect((await s.client.heartbeat(big.lease.id)).lease.seats).toBe(4)
    s.clock.advance(301_000)
    await s.seats.sweep()
    expect(await used(s, ten)).toBe(0)
    await s.close()
  })

  it('a count the license could never grant is refused at once, not waited for: more seats than it has or allows a user, or a mode that takes one or all', async () => {
    const s = await testServer()
    const ten = s.license('ten')
    let waits = 0
    const tooMany = await refusal(s.client.checkout({license: ten, user: 'ci', host: 'job', seats: 11}, {waitMs: 60_000, onWait: () => waits++}))
    expect(tooMany).toMatchObject({code: 'SEAT_COUNT_REFUSED', exit: 4, message: `license ${ten} has 10 seat(s) in all: a checkout of 11 seats could never be granted`, details: {asked: 11, quantity: 10}})
    expect(waits).toBe(0)
    await s.admin.setPolicy(ten, {maxPerUser: 3})
    expect((await refusal(s.client.checkout({license: ten, user: 'ci', host: 'job', seats: 4}, {waitMs: 60_000}))).message).toMatch(/allows 3 seat\(s\) per user: a checkout of 4 seats could never/)
    // Within the cap, but past what the user holds already: USER_LIMIT, which a waiting checkout waits out.
    await s.client.checkout({license: ten, user: 'ci', host: 'job', seats: 2})
    expect(await refusal(s.client.checkout({license: ten, user: 'ci', host: 'job2', seats: 2}))).toMatchObject({code: 'USER_LIMIT', message: expect.stringMatching(/2 more seats would pass its limit of 3 per user/)})
    for (const mode of ['station', 'exclusive'] as const) {
      await s.admin.setPolicy(ten, {mode})
      const refused = await refusal(s.client.checkout({license: ten, user: 'dee', host: 'pc', seats: 2}))
      expect(refused).toMatchObject({code: 'SEAT_COUNT_REFUSED', exit: 2, message: expect.stringMatching(mode === 'station' ? /counts one seat per user and host/ : /taken whole by one checkout/)})
      expect(refused.hint).toMatch(/--mode checkout/)
    }
    // The request itself: a count of 0 or not a whole number is a 400 naming the field.
    expect((await refusal(s.client.checkout({license: ten, user: 'dee', host: 'pc', seats: 0}))).message).toMatch(/seats/)
    await s.close()

    // By product: a license too small for the count is passed over; a full one that could serve later is the answer.
    const p = await testServer({seed: {...defaultSeed, licenses: [{key: 'small', product: 7, quantity: 2}, {key: 'big', product: 7, quantity: 5}]}})
    const held = await Promise.all(Array.from({length: 5}, (_, i) => p.client.checkout({license: p.license('big'), ...who(i)})))
    expect(await refusal(p.client.checkout({product: 7, user: 'ci', host: 'job', seats: 3}))).toMatchObject({code: 'NO_SEAT_FREE', details: {licenseId: p.license('big'), asked: 3}})
    await Promise.all(held.slice(0, 3).map((h) => p.client.release(h.lease.id)))
    expect((await p.client.checkout({product: 7, user: 'ci', host: 'job', seats: 3})).lease).toMatchObject({licenseId: p.license('big'), seats: 3})
    await p.close()
  })

  it('checkouts of several seats under concurrency never take more than the license has', async () => {
    const s = await testServer()
    const ten = s.license('ten')
    for (let round = 0; round < 3; round++) {
      const results = await Promise.allSettled(Array.from({length: 120}, (_, i) => s.client.checkout({license: ten, ...who(i), seats: 1 + (i % 3)})))
      const granted = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
      const taken = granted.reduce((sum, g) => sum + g.lease.seats, 0)
      expect(taken).toBeLessThanOrEqual(10)
      expect(taken).toBeGreaterThanOrEqual(8) // the license is full: what is left is less than the smallest refused ask
      expect(await used(s, ten)).toBe(taken)
      expect(new Set(results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as {code: string}).code] : [])))).toEqual(new Set(['NO_SEAT_FREE']))
      await Promise.all(granted.map((g) => s.client.release(g.lease.id)))
    }
    expect(await used(s, ten)).toBe(0)
    await s.close()
  })

  it('a linger keeps a released seat taken: the same user on the same host takes it back, nobody else may until it ends; an admin frees it at once', async () => {
    const s = await testServer()
    const two = s.license('two')
    expect(await s.admin.setPolicy(two, {linger: 60}, {merge: true})).toMatchObject({mode: 'checkout', linger: 60})
    const ann = await s.client.checkout({license: two, user: 'ann', host: 'pc1'})
    const bob = await s.client.checkout({license: two, user: 'bob', host: 'pc2'})
    const now = Math.floor(s.clock.now() / 1000)
    expect(await s.client.release(ann.lease.id)).toEqual({released: true, leaseId: ann.lease.id, lingersUntil: now + 60})
    expect(await s.client.release(ann.lease.id)).toEqual({released: false, leaseId: ann.lease.id})
    expect(await used(s, two)).toBe(2)
    const [usage] = await s.client.list({license: two})
    expect(usage.holders.find((h) => h.id === ann.lease.id)).toMatchObject({releasedAt: now, expiresAt: now + 60})
    expect(await refusal(s.client.heartbeat(ann.lease.id))).toMatchObject({code: 'LEASE_NOT_FOUND', message: expect.stringMatching(/was released at .*; its seat lingers until .* for a checkout by user ann on host pc1$/)})
    const cy = await refusal(s.client.checkout({license: two, user: 'cy', host: 'pc3'}))
    expect(cy.code).toBe('NO_SEAT_FREE')
    expect(cy.message).toMatch(/ann@pc1 \(lingering\)/)
    // The linger is the user's on that host: ann elsewhere is refused too; on pc1 she takes it back.
    expect((await refusal(s.client.checkout({license: two, user: 'ann', host: 'pc9'}))).code).toBe('NO_SEAT_FREE')
    const back = await s.client.checkout({license: two, user: 'ann', host: 'pc1'})
    expect((await s.client.list({license: two}))[0].holders.map((h) => h.id).sort()).toEqual([back.lease.id, bob.lease.id].sort())

    // The linger ends: the sweeper frees the seat, and it is no lease lost for want of a heartbeat (nor counted as reclaimed).
    await s.client.release(back.lease.id)
    s.clock.advance(61_000)
    // Past its linger, the lease is gone: a heartbeat hears so before the sweep as after it.
    const beforeSweep = await refusal(s.client.heartbeat(back.lease.id))
    expect(await s.seats.sweep()).toBe(0)
    const afterSweep = await refusal(s.client.heartbeat(back.lease.id))
    expect(afterSweep.code).toBe('LEASE_NOT_FOUND')
    expect({code: beforeSweep.code, message: beforeSweep.message, hint: beforeSweep.hint}).toEqual({code: afterSweep.code, message: afterSweep.message, hint: afterSweep.hint})
    expect(await used(s, two)).toBe(1)
    expect((await s.seats.usageReport({license: two})).licenses[0].reclaimed).toBe(0)
    // An administrator frees a lingering seat at once; without a linger, a release frees it at once.
    const cyLease = await s.client.checkout({license: two, user: 'cy', host: 'pc3'})
    await s.client.release(cyLease.lease.id)
    expect(await used(s, two)).toBe(2)
    await s.admin.forceRelease(cyLease.lease.id)
    expect(await used(s, two)).toBe(1)
    expect((await s.admin.setPolicy(two, {linger: 0}, {merge: true})).linger).toBeNull()
    const dee = await s.client.checkout({license: two, user: 'dee', host: 'pc4'})
    expect(await s.client.release(dee.lease.id)).toEqual({released: true, leaseId: dee.lease.id})
    expect(await used(s, two)).toBe(1)
    await s.close()

    // By product, a lingering seat taken back for a checkout that license then refuses stays lingering.
    const p = await testServer({seed: {...defaultSeed, licenses: [{key: 'x', product: 7, quantity: 3}, {key: 'y', product: 7, quantity: 3}]}})
    const [first, second] = [p.license('x'), p.license('y')].sort()
    await p.admin.setPolicy(first, {linger: 60})
    const lingering = await p.client.checkout({license: first, user: 'ann', host: 'pc1'})
    await p.client.release(lingering.lease.id)
    await Promise.all([1, 2].map((i) => p.client.checkout({license: first, ...who(i)})))
    const pair = await p.client.checkout({product: 7, user: 'ann', host: 'pc1', seats: 2})
    expect(pair.lease).toMatchObject({licenseId: second, seats: 2})
    expect(await used(p, first)).toBe(3)
    expect((await p.client.list({license: first}))[0].holders.map((h) => h.id)).toContain(lingering.lease.id)
    await p.close()
  })

  it('a refusal for a full license names the holders, unless the server hides them', async () => {
    const s = await testServer()
    const two = s.license('two')
    await s.client.checkout({license: two, user: 'ann', host: 'pc1'})
    s.clock.advance(1000)
    await s.client.checkout({license: two, user: 'bob', host: 'pc2'})
    const no = await refusal(s.client.checkout({license: two, ...who(3)}))
    // Longest-held first.
    expect(no.message).toMatch(/ann@pc1, bob@pc2/)
    expect((no.details?.holders as unknown[]).length).toBe(2)
    await s.close()
    const hidden = await testServer({settings: {hideHolders: true}})
    await hidden.client.checkout({license: hidden.license('two'), user: 'ann', host: 'pc1'})
    await hidden.client.checkout({license: hidden.license('two'), user: 'bob', host: 'pc2'})
    const no2 = await refusal(hidden.client.checkout({license: hidden.license('two'), ...who(3)}))
    expect(no2.message).not.toMatch(/ann/)
    expect(no2.details?.holders).toBeUndefined()
    // Nor whom reservations keep seats for: only how many they keep.
    const ten = hidden.license('ten')
    await hidden.admin.addReservation({license: ten, subject: 'user', pattern: 'ceo@corp', seats: 2})
    await hidden.client.checkout({license: ten, user: 'ann', host: 'pc1', seats: 8})
    const no3 = await refusal(hidden.client.checkout({license: ten, ...who(3)}))
    expect(no3).toMatchObject({code: 'NO_SEAT_FREE', message: `no seat of license ${ten} is free for user user3 on host host3: 8 of 10 in use; 2 more reserved for others`, details: {reservedForOthers: 2}})
    expect(JSON.stringify(no3)).not.toMatch(/ceo|ann/)
    // Nor in the seat list a client reads: only the holders of the one station it names; admins see all.
    const [listed] = await hidden.client.list({license: hidden.license('two')})
    expect(listed).toMatchObject({used: 2, holders: [], holdersHidden: true})
    expect((await hidden.client.list({license: hidden.license('two'), user: 'ann'}))[0]).toMatchObject({holders: [], holdersHidden: true})
    const own = (await hidden.client.list({license: hidden.license('two'), user: 'ann', host: 'pc1'}))[0]
    expect(own).toMatchObject({holdersHidden: false, holders: [{user: 'ann', host: 'pc1'}]})
    expect(own.holders).toHaveLength(1)
    const all = (await hidden.admin.list({license: hidden.license('two')}))[0]
    expect(all.holdersHidden).toBe(false)
    expect(all.holders.map((h) => h.user).sort()).toEqual(['ann', 'bob'])
    await hidden.close()
  })
})

describe('seat reservations', () => {
  const reservationSeed = {...defaultSeed, licenses: [...defaultSeed.licenses, {key: 'three', product: 7, quantity: 3}, {key: 'single', product: 7, kind: 'single'}]}

  it('reserved seats are kept for their user: others are refused saying so; the user takes them first and the free seats after', async () => {
    const s = await testServer({seed: reservationSeed})
    const three = s.license('three')
    const r = await s.admin.addReservation({license: three, subject: 'user', pattern: 'alice', seats: 2})
    expect(r).toMatchObject({licenseId: three, subject: 'user', pattern: 'alice', seats: 2})
    const bob = await s.client.checkout({license: three, user: 'bob', host: 'pc1'})
    const carol = await refusal(s.client.checkout({license: three, user: 'carol', host: 'pc2'}))
    expect(carol).toMatchObject({code: 'NO_SEAT_FREE', exit: 4, details: {licenseId: three, quantity: 3, used: 1, reservedForOthers: 2}})
    expect(carol.message).toMatch(/free for user carol on host pc2: 1 of 3 in use by bob@pc1; 2 more reserved for user alice$/)
    // Alice, in any case, gets her two seats; then the license is full for her too, and says nothing of reservations.
    await s.client.checkout({license: three, user: 'ALICE', host: 'pc3'})
    const a2 = await s.client.checkout({license: three, user: 'alice', host: 'pc4'})
    const full = await refusal(s.client.checkout({license: three, user: 'alice', host: 'pc5'}))
    expect(full.code).toBe('NO_SEAT_FREE')
    expect(full.message).not.toMatch(/reserved/)
    expect(full.details?.reservedForOthers).toBeUndefined()
    // A free seat is anyone's: alice takes it beside her reserved ones, and then only one of hers is kept.
    await s.client.release(bob.lease.id)
    await s.client.checkout({license: three, user: 'alice', host: 'pc5'})
    await s.client.release(a2.lease.id)
    expect((await s.admin.listReservations(three)).map((x) => x.inUse)).toEqual([2])
    await s.client.checkout({license: three, user: 'bob', host: 'pc1'})
    expect(await used(s, three)).toBe(3)
    const [usage] = await s.client.list({license: three})
    expect(usage.reserved).toBe(2)
    // Removing the reservation frees its seats for anyone.
    expect(await s.admin.removeReservation(r.id)).toMatchObject({id: r.id, seats: 2})
    expect(await s.admin.listReservations(three)).toEqual([])
    expect((await s.client.list({license: three}))[0].reserved).toBe(0)
    const audit = await s.store.db.selectFrom('audit_events').select(['action', 'subject']).where('action', 'in', ['seat.reserve', 'seat.unreserve']).orderBy('seq').execute()
    expect(audit).toEqual([
      {action: 'seat.reserve', subject: `license:${three}`},
      {action: 'seat.unreserve', subject: `license:${three}`},
    ])
    await s.close()
  })

  it('by host pattern and by address block; borrows and station share count as leases do', async () => {
    const s = await testServer({seed: reservationSeed})
    const ten = s.license('ten')
    await s.admin.addReservation({license: ten, subject: 'host', pattern: 'build-*', seats: 4})
    await s.admin.addReservation({license: ten, subject: 'address', pattern: '10.0.0.0/8', seats: 3})
    // The client is at 127.0.0.1: of 10 seats, 3 free for it (7 reserved for others), 7 for a build host.
    const mine = await burst(s, ten, 10)
    expect(mine.granted).toHaveLength(3)
    const refused = await refusal(s.client.checkout({license: ten, user: 'x', host: 'pc'}))
    expect(refused.message).toMatch(/7 more reserved for host build-\*, address 10\.0\.0\.0\/8$/)
    // A borrow is refused the same way; a build host borrows one of its reserved seats.
    expect((await refusal(s.client.borrow({license: ten, user: 'x', host: 'laptop', duration: 3600}))).code).toBe('NO_SEAT_FREE')
    await s.client.borrow({license: ten, user: 'ci', host: 'BUILD-1', duration: 3600})
    await s.admin.setPolicy(ten, {mode: 'station'})
    // Three processes of one build station take one seat.
    await Promise.all([1, 2, 3].map((p) => s.client.checkout({license: ten, user: 'ci', host: 'build-2', process: `p${p}`})))
    expect((await s.admin.listReservations(ten)).map((r) => [r.pattern, r.inUse])).toEqual([
      ['build-*', 2],
      ['10.0.0.0/8', 0],
    ])
    for (const host of ['build-3', 'build-4']) await s.client.checkout({license: ten, user: 'ci', host})
    // The host reservation is used up; the address block's 3 seats stay kept for 10/8.
    expect((await refusal(s.client.checkout({license: ten, user: 'ci', host: 'build-5'}))).message).toMatch(/3 more reserved for address 10\.0\.0\.0\/8$/)
    expect(await used(s, ten)).toBe(7)
    await s.close()
  })

  it('holds under concurrency: 200 others and 50 of the reserved user at once get exactly the seats meant for them', async () => {
    const s = await testServer({seed: reservationSeed})
    const ten = s.license('ten')
    await s.admin.addReservation({license: ten, subject: 'user', pattern: 'vip', seats: 4})
    const results = await Promise.allSettled([
      ...Array.from({length: 200}, (_, i) => s.client.checkout({license: ten, ...who(i)})),
      ...Array.from({length: 50}, (_, i) => s.client.checkout({license: ten, user: 'vip', host: `vip-host${i}`})),
    ])
    const granted = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.lease.user] : []))
    expect(granted).toHaveLength(10)
    expect(granted.filter((u) => u === 'vip').length).toBeGreaterThanOrEqual(4)
    expect(new Set(results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as {code: string}).code] : [])))).toEqual(new Set(['NO_SEAT_FREE']))
    expect(await used(s, ten)).toBe(10)
    await s.close()
  })

  it('refuses what cannot be reserved, saying why', async () => {
    const s = await testServer({seed: reservationSeed})
    const three = s.license('three')
    await s.admin.addReservation({license: three, subject: 'user', pattern: 'alice', seats: 2})
    const over = await refusal(s.admin.addReservation({license: three, subject: 'host', pattern: 'pc1', seats: 2}))
    expect(over).toMatchObject({code: 'OVER_RESERVED', exit: 4, details: {licenseId: three, quantity: 3, reserved: 2, requested: 2, httpStatus: 409}})
    expect(over.message).toMatch(/has 3 seat\(s\), 2 of them reserved already: 2 more cannot be reserved/)
    expect((await refusal(s.admin.addReservation({license: s.license('single'), subject: 'user', pattern: 'alice', seats: 1}))).code).toBe('NOT_CONCURRENT')
    expect(await refusal(s.admin.addReservation({license: 'lic_01nothere', subject: 'user', pattern: 'alice', seats: 1}))).toMatchObject({code: 'LICENSE_NOT_FOUND', exit: 3})
    expect((await refusal(s.admin.addReservation({license: three, subject: 'address', pattern: '10.0.0.0/99', seats: 1}))).code).toBe('INVALID_VALUE')
    expect((await refusal(s.admin.addReservation({license: three, subject: 'user', pattern: 'bob', seats: 0}))).code).toBe('INVALID_REQUEST')
    expect((await refusal(s.admin.addReservation({license: three, subject: 'group' as 'user', pattern: 'eng', seats: 1}))).code).toBe('INVALID_REQUEST')
    expect(await refusal(s.admin.removeReservation(999))).toMatchObject({code: 'RESERVATION_NOT_FOUND', exit: 3})
    expect(await refusal(s.admin.listReservations('lic_01nothere'))).toMatchObject({code: 'LICENSE_NOT_FOUND', exit: 3})
    expect((await s.admin.listReservations()).map((r) => r.pattern)).toEqual(['alice'])
    await s.close()
  })

  it('a holder fills the first reservation it matches that has room', () => {
    const reservation = (id: number, subject: 'user' | 'host', pattern: string, seats: number) => ({id, licenseId: 'lic', subject, pattern, seats, createdAt: 0, block: undefined})
    const lease = (user: string, host: string, mode: 'checkout' | 'station' | 'exclusive' = 'checkout', seats = 1) => ({user, host, address: null, kind: 'lease' as const, mode, seats})
    const byUserThenHost = [reservation(1, 'user', 'alice', 1), reservation(2, 'host', 'pc1', 1)]
    expect(reservedInUse(byUserThenHost, [lease('alice', 'pc1'), lease('bob', 'pc1')])).toEqual([1, 1])
    expect(reservedInUse(byUserThenHost, [lease('alice', 'pc1'), lease('alice', 'pc1'), lease('alice', 'pc2')])).toEqual([1, 1])
    // A station counts once however many leases it has; an exclusive lease's seats fill what they match.
    expect(reservedInUse(byUserThenHost, [lease('alice', 'pc2', 'station'), lease('alice', 'pc2', 'station')])).toEqual([1, 0])
    expect(reservedInUse([reservation(1, 'user', 'a*', 3)], [lease('ann', 'x', 'exclusive', 10)])).toEqual([3])
    expect(reservedInUse(byUserThenHost, [lease('carol', 'pc9')])).toEqual([0, 0])
  })
})

describe('the seat usage report', () => {
  it('counts per license and day: peak seats in use, checkouts, denials, reclaimed leases; full days', async () => {
    const s = await testServer()
    const two = s.license('two')
    const ten = s.license('ten')
    const ann = await s.client.checkout({license: two, user: 'ann', host: 'pc1'})
    await s.client.checkout({license: two, user: 'bob', host: 'pc2'})
    for (let i = 0; i < 2; i++) expect((await refusal(s.client.checkout({license: two, user: 'carol', host: 'pc3'}))).code).toBe('NO_SEAT_FREE')
    // Refusals of other kinds are not denials for want of a seat.
    expect((await refusal(s.client.checkout({license: two, user: '', host: 'pc3'}))).code).toBe('INVALID_REQUEST')
    await s.client.release(ann.lease.id)
    await s.client.checkout({license: two, user: 'dave', host: 'pc4'})
    await s.client.borrow({license: ten, user: 'erin', host: 'laptop', duration: 3600})
    // The next day (UTC) the two leases left and the borrow have long expired: the sweeper reclaims them.
    expect((await s.admin.advanceClock(86_400)).reclaimed).toBe(3)
    await s.client.checkout({license: two, user: 'fay', host: 'pc5'})

    const report = await s.admin.usageReport()
    expect(report).toMatchObject({since: '2026-05-04', until: '2026-06-02'})
    const [tenUsage, twoUsage] = [ten, two].map((id) => report.licenses.find((l) => l.licenseId === id)!)
    expect(twoUsage).toEqual({
      licenseId: two,
      productCode: 8,
      quantity: 2,
      peak: 2,
      daysFull: 1,
      checkouts: 4,
      denials: 2,
      reclaimed: 2,
      days: [
        {day: '2026-06-01', peak: 2, checkouts: 3, denials: 2, reclaimed: 0},
        {day: '2026-06-02', peak: 1, checkouts: 1, denials: 0, reclaimed: 2},
      ],
      // Per user: most checkouts first, then most denials.
      users: [
        {user: 'ann', checkouts: 1, denials: 0},
        {user: 'bob', checkouts: 1, denials: 0},
        {user: 'dave', checkouts: 1, denials: 0},
        {user: 'fay', checkouts: 1, denials: 0},
        {user: 'carol', checkouts: 0, denials: 2},
      ],
    })
    // The borrow ran out on the first day, but was reclaimed on the second.
    expect(tenUsage).toMatchObject({peak: 1, daysFull: 0, checkouts: 1, denials: 0, reclaimed: 1, users: [{user: 'erin', checkouts: 1, denials: 0}]})

    // One license, the last day, a given span.
    expect((await s.admin.usageReport({license: two, days: 1})).licenses).toEqual([expect.objectContaining({checkouts: 1, days: [expect.objectContaining({day: '2026-06-02'})]})])
    expect((await s.admin.usageReport({since: '2026-06-01', until: '2026-06-01'})).licenses.map((l) => l.checkouts)).toEqual(report.licenses.map((l) => (l.licenseId === two ? 3 : 1)))
    const early = await s.admin.usageReport({until: '2026-05-31'})
    expect(early.licenses.every((l) => l.checkouts === 0 && l.days.length === 0 && l.users.length === 0)).toBe(true)
    expect((await s.admin.usageReport({license: two, days: 1})).licenses[0].users.map((u) => u.user)).toEqual(['fay'])
    await s.close()
  })

  it('a checkout request that waits in line counts as one denial, however often it tries again', async () => {
    const s = await testServer()
    const two = s.license('two')
    await s.client.checkout({license: two, user: 'a', host: 'x'})
    await s.client.checkout({license: two, user: 'b', host: 'x'})
    const waiting = refusal(s.client.checkout({license: two, user: 'w', host: 'pc'}, {waitMs: 3000}))
    const queued = async () => {
      while (s.seats.queue.length !== 1) await new Promise((r) => setTimeout(r, 10))
    }
    await queued()
    // A policy change wakes every waiting checkout: it tries again, and waits again.
    for (const leaseTtl of [600, 900]) {
      await s.admin.setPolicy(two, {leaseTtl})
      await queued()
    }
    expect((await waiting).code).toBe('NO_SEAT_FREE')
    // Two requests refused: the client's first, and the one that waited (and tried three times) in vain.
    expect((await s.admin.usageReport({license: two})).licenses[0]).toMatchObject({checkouts: 2, denials: 2})
    await s.close()
  })

  it('refuses a bad span or license, saying why', async () => {
    const s = await testServer()
    expect((await refusal(s.admin.usageReport({since: '2026-06-02', until: '2026-06-01'}))).message).toMatch(/2026-06-02 is after 2026-06-01/)
    expect((await refusal(s.admin.usageReport({since: '2026-02-30'}))).message).toMatch(/"2026-02-30" is not a day: give YYYY-MM-DD/)
    expect((await refusal(s.admin.usageReport({since: '2026-06-01', days: 3}))).message).toMatch(/not both/)
    expect((await refusal(s.admin.usageReport({days: 0}))).code).toBe('INVALID_VALUE')
    expect((await refusal(s.admin.usageReport({since: 'yesterday'}))).code).toBe('INVALID_REQUEST')
    expect(await refusal(s.admin.usageReport({license: 'lic_01nothere'}))).toMatchObject({code: 'LICENSE_NOT_FOUND', exit: 3})
    expect((await refusal(s.client.usageReport())).code).toBe('FORBIDDEN')
    await s.close()
  })

  it('is saved by the sweeper and when the server stops, kept across restarts, and pruned after a year and a month', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'licadm-usage-'))
    const start = () => startServer({port: 0, data: {kind: 'dir', dir}, clock: systemClock, seed: JSON.stringify(defaultSeed), tokens: [{token: ADMIN_TOKEN, role: 'vendor', name: 'admin'}], sweepIntervalMs: 60_000})
    try {
      let server = await start()
      const admin = () => new ServerClient({server: server.url, token: ADMIN_TOKEN, publicKeys: server.publicKeys})
      const ten = server.licenses.find((l) => l.key === 'ten')!.id
      const saved = () => server.store.db.selectFrom('seat_usage_days').selectAll().where('license_id', '=', ten).execute()
      await server.store.db.insertInto('seat_usage_days').values({license_id: ten, day: '2020-01-01', peak: 9, checkouts: 9, denials: 9, reclaimed: 9}).execute()
      await server.store.db.insertInto('seat_usage_users').values({license_id: ten, day: '2020-01-01', user: 'old', checkouts: 9, denials: 9}).execute()
      await admin().checkout({license: ten, user: 'ann', host: 'pc1'})
      expect((await saved()).map((r) => r.day)).toEqual(['2020-01-01'])
      await server.sweeper.run()
      expect(await saved()).toEqual([expect.objectContaining({checkouts: 1, peak: 1})])
      await admin().checkout({license: ten, user: 'bob', host: 'pc2'})
      await server.close()
      server = await start()
      expect(await saved()).toEqual([expect.objectContaining({checkouts: 2, peak: 2})])
      expect((await admin().usageReport({license: ten})).licenses[0]).toMatchObject({peak: 2, checkouts: 2, users: [{user: 'ann', checkouts: 1, denials: 0}, {user: 'bob', checkouts: 1, denials: 0}]})
      expect(await server.store.db.selectFrom('seat_usage_users').select('user').where('day', '<', '2021-01-01').execute()).toEqual([])
      await server.close()
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})

describe('borrowing', () => {
  it('a borrow with an idempotency key: a re-run gets the same borrow and file, not a second seat; other input under the key is refused; a borrow that ended frees its key', async () => {
    const s = await testServer()
    const ten = s.license('ten')
    const ask = {license: ten, user: 'ann', host: 'laptop', duration: 3600, idempotencyKey: 'ci-42'}
    const first = await s.client.borrow(ask)
    expect(first.replayed).toBe(false)
    const again = await s.client.borrow(ask)
    expect(again).toEqual({...first, replayed: true})
    expect(await used(s, ten)).toBe(1)
    for (const other of [{duration: 7200}, {user: 'bob'}, {features: 1}]) {
      expect(await refusal(s.client.borrow({...ask, ...other}))).toMatchObject({code: 'IDEMPOTENCY_KEY_REUSED', exit: 4, details: {key: 'ci-42'}})
    }
    expect(await used(s, ten)).toBe(1)
    // Returned: the key is free, and the next borrow under it is a new one.
    await s.client.returnBorrow(first.borrow.id)
    const next = await s.client.borrow(ask)
    expect(next.replayed).toBe(false)
    expect(next.borrow.id).not.toBe(first.borrow.id)
    // Expired (not swept yet): free too.
    s.clock.advance(3601_000)
    const after = await s.client.borrow({...ask, duration: 60})
    expect(after).toMatchObject({replayed: false, borrow: {expiresAt: Math.floor(s.clock.now() / 1000) + 60}})
    await s.close()
  })

  it('a borrow is a signed file, counts against the seats until returned or expired, within the limits', async () => {
    const s = await testServer({settings: {borrowMaxSeconds: 7 * 86_400}})
    const two = s.license('two')
    await s.admin.setPolicy(two, {borrowMaxSeats: 1})
    const tooLong = await refusal(s.client.borrow({license: two, ...who(1), duration: 8 * 86_400}))
    expect(tooLong.code).toBe('BORROW_TOO_LONG')
    expect(tooLong.message).toMatch(/at most 7d/)

    const b = await s.client.borrow({license: two, ...who(1), duration: 3 * 86_400})
    expect(b.borrow.kind).toBe('borrow')
    expect(b.file).toMatch(/^-----BEGIN LICADM BORROW-----/)
    const now = Math.floor(s.clock.now() / 1000)
    const {claims} = verifyBorrowFile(b.file, s.publicKeys, now)
    expect(claims.exp).toBe(now + 3 * 86_400)
    const jwks = createLocalJWKSet({keys: [publicJwk(createPublicKey(s.publicKeyPem))]})
    await jwtVerify(dearmor(b.file, 'BORROW').jws, jwks, {typ: BORROW_TYP, currentDate: new Date(s.clock.now())})
    // The file given back early: verified with the keys, else checked for its type and shape.
    expect(returnedBorrowId(b.file, s.publicKeys)).toBe(b.borrow.id)
    const [h, p, sig] = dearmor(b.file, 'BORROW').jws.split('.')
    const changed = armorBorrow([h, Buffer.from(JSON.stringify({...claims, sub: 'brw_other'})).toString('base64url'), sig].join('.'))
    expect(() => returnedBorrowId(changed, s.publicKeys)).toThrow(expect.objectContaining({code: 'SIGNATURE_INVALID'}))
    expect(returnedBorrowId(changed)).toBe('brw_other')
    const lease = await s.client.checkout({license: two, ...who(9)})
    expect(() => returnedBorrowId(armorBorrow(lease.token))).toThrow(expect.objectContaining({code: 'WRONG_TYPE', message: expect.stringMatching(/not a borrow file: its type is "licadm-lease\+jwt"/)}))
    expect(() => returnedBorrowId(armorBorrow(`${Buffer.from('{"alg":').toString('base64url')}.${p}.${sig}`))).toThrow(expect.objectContaining({code: 'MALFORMED', message: expect.stringMatching(/^the borrow file's JWS header is not valid JSON$/), hint: expect.stringMatching(/ask for it again/)}))
    expect(await s.client.release(lease.lease.id)).toMatchObject({released: true})

    const limit = await refusal(s.client.borrow({license: two, ...who(2), duration: 86_400}))
    expect(limit.code).toBe('BORROW_LIMIT')
    // One seat borrowed, one leased: the license is full.
    await s.client.checkout({license: two, ...who(2)})
    const full = await refusal(s.client.checkout({license: two, ...who(3)}))
    expect(full.code).toBe('NO_SEAT_FREE')
    expect(full.message).toMatch(/user1@host1 \(borrowed\)/)

    expect(await s.client.returnBorrow(b.borrow.id)).toEqual({returned: true, borrowId: b.borrow.id})
    expect(await s.client.returnBorrow(b.borrow.id)).toEqual({returned: false, borrowId: b.borrow.id})
    await s.client.checkout({license: two, ...who(3)})

    // A borrow that is not returned ends at its expiry.
    const s2 = await testServer()
    const b2 = await s2.client.borrow({license: s2.license('two'), ...who(1), duration: 86_400})
    s2.clock.advance(86_400_000)
    expect(b2).toBeTruthy()
    expect((await s2.admin.advanceClock(1)).reclaimed).toBe(1)
    expect(await used(s2, s2.license('two'))).toBe(0)
    await s.close()
    await s2.close()
  })

  it('by product, a license whose policy lends for less is passed over; too long only when no license lends for that long, naming the longest', async () => {
    const p = await testServer({settings: {borrowMaxSeconds: 30 * 86_400}, seed: {...defaultSeed, licenses: [{key: 'x', product: 7, quantity: 3}, {key: 'y', product: 7, quantity: 3}]}})
    // The first candidate (licenses are tried in id order) lends for a day only.
    const [first, second] = [p.license('x'), p.license('y')].sort()
    await p.admin.setPolicy(first, {borrowMaxSeconds: 86_400})
    const week = await p.client.borrow({product: 7, ...who(1), duration: 7 * 86_400})
    expect(week.borrow.licenseId).toBe(second)
    expect((await p.client.borrow({product: 7, ...who(2), duration: 3600})).borrow.licenseId).toBe(first)
    const tooLong = await refusal(p.client.borrow({product: 7, ...who(3), duration: 40 * 86_400}))
    expect(tooLong).toMatchObject({code: 'BORROW_TOO_LONG', message: `a seat of license ${second} can be borrowed for at most 30d, not 40d`, details: {licenseId: second, maxSeconds: 30 * 86_400}})
    // A license that lends for that long but has no seat free is the answer, not the one that lends for less.
    await Promise.all([4, 5].map((i) => p.client.checkout({license: second, ...who(i)})))
    expect((await refusal(p.client.borrow({product: 7, ...who(6), duration: 7 * 86_400}))).code).toBe('NO_SEAT_FREE')
    await p.close()
  })
})

describe('administration', () => {
  it('an admin force-releases a stuck lease; a client token may not', async () => {
    const s = await testServer()
    const two = s.license('two')
    const g = await s.client.checkout({license: two, ...who(1)})
    const forbidden = await refusal(s.client.forceRelease(g.lease.id))
    expect(forbidden.code).toBe('FORBIDDEN')
    expect(forbidden.details?.httpStatus).toBe(403)
    const removed = await s.admin.forceRelease(g.lease.id)
    expect(removed.id).toBe(g.lease.id)
    expect((await refusal(s.client.heartbeat(g.lease.id))).code).toBe('LEASE_NOT_FOUND')
    expect((await refusal(s.admin.forceRelease(g.lease.id))).code).toBe('LEASE_NOT_FOUND')
    expect(await used(s, two)).toBe(0)
    const audit = await s.store.db.selectFrom('audit_events').select('action').where('action', '=', 'seat.force-release').execute()
    expect(audit).toHaveLength(1)
    await s.close()
  })

  it('access rules deny users, hosts and addresses with a clear refusal; a default deny allows only the allowed', async () => {
    const s = await testServer()
    const ten = s.license('ten')
    const mallory = await s.admin.addRule({product: 7, action: 'deny', subject: 'user', pattern: 'mallory'})
    const denied = await refusal(s.client.checkout({license: ten, user: 'mallory', host: 'pc1'}))
    expect(denied.code).toBe('ACCESS_DENIED')
    expect(denied.exit).toBe(7)
    expect(denied.details?.httpStatus).toBe(403)
    expect(denied.message).toMatch(/user mallory is denied for product 7/)
    await s.client.checkout({license: ten, user: 'alice', host: 'pc1'})

    await s.admin.addRule({product: 7, action: 'deny', subject: 'host', pattern: 'kiosk-*'})
    expect((await refusal(s.client.checkout({license: ten, user: 'alice', host: 'KIOSK-12'}))).message).toMatch(/host KIOSK-12 is denied/)

    const net = await s.admin.addRule({product: 7, action: 'deny', subject: 'address', pattern: '127.0.0.0/8'})
    expect((await refusal(s.client.checkout({license: ten, user: 'alice', host: 'pc1'}))).message).toMatch(/address 127\.0\.0\.1 is denied/)
    // Rules are per product: product 8 is not affected.
    await s.client.checkout({license: s.license('two'), user: 'mallory', host: 'pc1'})
    await s.admin.removeRule(net.id)
    await s.admin.removeRule(mallory.id)

    await s.admin.setDefaultAction(7, 'deny')
    await s.admin.addRule({product: 7, action: 'allow', subject: 'user', pattern: 'alice'})
    await s.client.checkout({license: ten, user: 'alice', host: 'pc1'})
    const bob = await refusal(s.client.checkout({license: ten, user: 'bob', host: 'pc1'}))
    expect(bob.code).toBe('ACCESS_DENIED')
    expect(bob.message).toMatch(/denies everyone not allowed by a rule/)
    const [rules] = await s.admin.listRules(7)
    expect(rules.defaultAction).toBe('deny')
    expect(rules.rules.map((r) => `${r.action} ${r.subject} ${r.pattern}`)).toEqual(['deny host kiosk-*', 'allow user alice'])
    // Borrowing obeys the rules too.
    expect((await refusal(s.client.borrow({license: ten, user: 'bob', host: 'pc1', duration: 3600}))).code).toBe('ACCESS_DENIED')
    const bad = await refusal(s.admin.addRule({product: 7, action: 'deny', subject: 'address', pattern: 'not-an-ip'}))
    expect(bad.code).toBe('INVALID_VALUE')
    await s.close()
  })
  it('obeys access rules, seat reservations and seat policies that another process wrote into the same store, without a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'licadm-seats-shared-'))
    const server = await startServer({port: 0, data: {kind: 'dir', dir}, clock: systemClock, seed: JSON.stringify(defaultSeed), tokens: [{token: CLIENT_TOKEN, role: 'client', name: 'tests'}]})
    const other = await openStore({path: join(dir, 'licadm.db')})
    try {
      const client = new ServerClient({server: server.url, token: CLIENT_TOKEN, publicKeys: server.publicKeys})
      const ten = server.licenses.find((l) => l.key === 'ten')!.id
      // The server has read (and cached) product 7's rules: none.
      await client.checkout({license: ten, user: 'mallory', host: 'pc1'})
      // Another licadm process on the same store denies mallory and makes the license exclusive.
      const elsewhere = new SeatService({store: other, keys: new KeyRing(join(dir, 'keys')), clock: systemClock, actor: 'test'})
      await elsewhere.rules.addRule({product: 7, action: 'deny', subject: 'user', pattern: 'mallory'})
      expect((await refusal(client.checkout({license: ten, user: 'mallory', host: 'pc1'}))).code).toBe('ACCESS_DENIED')
      // It keeps 9 of the 10 seats for vip (mallory holds the tenth), then lets them go again.
      const reservation = await elsewhere.rules.addReservation({license: ten, subject: 'user', pattern: 'vip', seats: 9})
      expect((await refusal(client.checkout({license: ten, user: 'alice', host: 'pc2'}))).message).toMatch(/9 more reserved for user vip/)
      await elsewhere.rules.removeReservation(reservation.id)
      await elsewhere.rules.setPolicy({license: ten, mode: 'exclusive'})
      const taken = await refusal(client.checkout({license: ten, user: 'alice', host: 'pc2'}))
      expect(taken.code).toBe('NO_SEAT_FREE')
      expect(taken.message).toMatch(/exclusive/)
    } finally {
      await other.close()
      await server.close()
      rmSync(dir, {recursive: true, force: true})
    }
  })
})

describe('signed responses', () => {
  it('follow a key rotation by another process: from its next sweep the server signs lease tokens, borrow files and responses with the new active key only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'licadm-seats-rotate-'))
    const server = await startServer({port: 0, data: {kind: 'dir', dir}, clock: systemClock, seed: JSON.stringify(defaultSeed), tokens: [{token: CLIENT_TOKEN, role: 'client', name: 'tests'}], sweepIntervalMs: 60_000})
    const other = await openStore({path: join(dir, 'licadm.db')})
    try {
      const ten = server.licenses.find((l) => l.key === 'ten')!.id
      const elsewhere = new VendorService({store: other, keys: new KeyRing(join(dir, 'keys')), clock: systemClock, actor: 'test'})
      const {kid} = await elsewhere.rotate()
      await elsewhere.removeKey(server.kid)
      // A client that pins the keys exported after the rotation: the removed key is not among them.
      const client = new ServerClient({server: server.url, token: CLIENT_TOKEN, publicKeys: await elsewhere.verificationKeys()})
      expect([...(await elsewhere.verificationKeys()).keys()]).toEqual([kid])
      expect(await refusal(client.list())).toMatchObject({code: 'UNKNOWN_KEY'})
      await server.sweeper.run()
      const grant = await client.checkout({license: ten, user: 'ann', host: 'pc1'})
      expect(decodeProtectedHeader(grant.token).kid).toBe(kid)
      const borrowed = await client.borrow({license: ten, user: 'ann', host: 'pc2', duration: 3600})
      expect(decodeProtectedHeader(dearmor(borrowed.file, 'BORROW').jws).kid).toBe(kid)
      expect(await client.release(grant.lease.id)).toMatchObject({released: true})
    } finally {
      await other.close()
      await server.close()
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('every response carries the server time and a signature that verifies with the vendor key (licadm and jose)', async () => {
    const s = await testServer()
    for (const [method, path, body] of [
      ['GET', '/healthz'],
      ['POST', '/v1/leases', {license: s.license('ten'), user: 'u', host: 'h'}],
      ['POST', '/v1/leases', {user: 5}],
      ['GET', '/nowhere'],
    ] as Array<[string, string, unknown?]>) {
      const res = await fetch(`${s.url}${path}`, {
        method,
        headers: {authorization: `Bearer ${CLIENT_TOKEN}`, ...(body ? {'content-type': 'application/json'} : {})},
        body: body ? JSON.stringify(body) : undefined,
      })
      const text = await res.text()
      expect(res.headers.get('licadm-time')).toBe(new Date(s.clock.now()).toISOString())
      const sig = res.headers.get('licadm-signature')!
      const [h, , sg] = sig.split('.')
      const jwks = createLocalJWKSet({keys: [publicJwk(createPublicKey(s.publicKeyPem))]})
      const {protectedHeader, payload} = await compactVerify(`${h}.${Buffer.from(text).toString('base64url')}.${sg}`, jwks)
      expect(Buffer.from(payload).toString()).toBe(text)
      expect(protectedHeader).toMatchObject({alg: 'EdDSA', typ: 'licadm-response+jws', t: s.clock.now(), st: res.status})
    }
    await s.close()
  })

  it('the client refuses a response signed by another key', async () => {
    const s = await testServer()
    const other = await testServer()
    const fooled = new ServerClient({server: s.url, token: CLIENT_TOKEN, publicKeys: other.publicKeys})
    const err = await refusal(fooled.health())
    expect(err.code).toBe('UNKNOWN_KEY')
    await s.close()
    await other.close()
  })
})

describe('the seat client library', () => {
  it('checks out, heartbeats by itself, and releases', async () => {
    const s = await testServer()
    const two = s.license('two')
    await s.admin.setPolicy(two, {leaseTtl: 5})
    const seats = new SeatClient({server: s.url, token: CLIENT_TOKEN, publicKeys: s.publicKeys, user: 'app', host: 'ci'})
    const seat = await seats.checkout({license: two})
    expect(seat.ttl).toBe(5)
    expect(seats.seats).toHaveLength(1)
    const first = seat.lease.expiresAt
    s.clock.advance(1000)
    // The automatic heartbeat (at a third of the TTL, at least a second) renews the lease.
    const deadline = Date.now() + 10_000
    while (seat.lease.expiresAt === first && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    expect(seat.lease.expiresAt).toBe(first + 1)
    expect(await used(s, two)).toBe(1)
    await seat.release()
    await seat.release()
    expect(seats.seats).toHaveLength(0)
    expect(await used(s, two)).toBe(0)
    expect(process.listeners('SIGTERM').length).toBe(0)
    const wrong = new SeatClient({server: s.url, token: 'wrong-token-123', user: 'app', host: 'ci'})
    expect((await refusal(wrong.checkout({license: two}))).code).toBe('AUTH')
    await s.close()
  })
})

it('tokens: the vendor token works on the seat API too; a missing token is refused', async () => {
  const s = await testServer()
  const admin = new ServerClient({server: s.url, token: ADMIN_TOKEN})
  await admin.checkout({license: s.license('ten'), ...who(1)})
  const anonymous = new ServerClient({server: s.url})
  const err = await refusal(anonymous.checkout({license: s.license('ten'), ...who(1)}))
  expect(err.code).toBe('AUTH')
  expect(err.details?.httpStatus).toBe(401)
  await s.close()
})
