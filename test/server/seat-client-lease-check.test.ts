/**
 * The seat client takes only the lease it asked for: a checkout's lease (and its verified token) is
 * checked against the request (license or product, features, seats, user, host, process), and a
 * renewal must be the very lease held. Anything else is refused as wrong-target, and a seat taken
 * by a refused checkout is released.
 */
import {afterAll, describe, expect, it} from 'vitest'

import type {SeatClient} from '../../src/client/seat-client.js'
import {VerificationError} from '../../src/domain/errors.js'
import type {CheckoutInput, Grant} from '../../src/services/seats.js'
import {closeAll, defaultSeed, refusal, testServer} from './helpers.js'
import {seatClient, serverWithTtl, used} from './seat-client-helpers.js'

afterAll(closeAll)

/**
 * The client's checkout requests as a proxy that rewrites them forwards them. (The server's answer
 * is then for the request it got: the response signature's request binding cannot tell.)
 */
function rewriteCheckouts(seats: SeatClient, change: (input: CheckoutInput) => CheckoutInput): void {
  const real = seats.client.checkout.bind(seats.client)
  seats.client.checkout = (input, options) => real(change(input), options)
}

/** Makes every heartbeat of the client answer with what `change` makes of the server's answer. */
function answerHeartbeats(seats: SeatClient, change: (grant: Grant, real: (id: string) => Promise<Grant>) => Promise<Grant>): void {
  const real = seats.client.heartbeat.bind(seats.client)
  seats.client.heartbeat = async (id) => change(await real(id), real)
}

async function expectWrongTarget(checkout: Promise<unknown>, field: string): Promise<void> {
  const err = await refusal(checkout)
  expect(err).toBeInstanceOf(VerificationError)
  expect(err).toMatchObject({code: 'WRONG_TARGET', exit: 18, details: {reason: 'wrong-target', field}})
}

describe('a checkout gets the lease it asked for, or is refused and the seat it took released', () => {
  it('a checkout by product and features rewritten to another product (a cheaper license): refused, the seat released', async () => {
    const s = await testServer()
    const {seats} = seatClient(s)
    rewriteCheckouts(seats, (input) => ({...input, product: 8, features: 1}))
    await expectWrongTarget(seats.checkout({product: 7, features: 3}, {autoHeartbeat: false}), 'product')
    expect(seats.seats).toEqual([])
    expect(await used(s, s.license('two'))).toBe(0)
    expect(await used(s, s.license('ten'))).toBe(0)
    await s.close()
  })

  it('a checkout by license rewritten to another license: refused, the seat released', async () => {
    const s = await testServer()
    const [ten, two] = [s.license('ten'), s.license('two')]
    const {seats} = seatClient(s)
    rewriteCheckouts(seats, (input) => ({...input, license: two}))
    await expectWrongTarget(seats.checkout({license: ten}, {autoHeartbeat: false}), 'license')
    expect(await used(s, two)).toBe(0)
    await s.close()
  })

  it("a license without all the features asked for (the request's features rewritten): refused, by license as by product", async () => {
    const s = await testServer({seed: {...defaultSeed, licenses: [{key: 'basic', product: 7, quantity: 5, features: 0x1}]}})
    const basic = s.license('basic')
    const {seats} = seatClient(s)
    rewriteCheckouts(seats, (input) => ({...input, features: 0x1}))
    await expectWrongTarget(seats.checkout({product: 7, features: 0x2}, {autoHeartbeat: false}), 'features')
    await expectWrongTarget(seats.checkout({license: basic, features: 0x2}, {autoHeartbeat: false}), 'features')
    expect(await used(s, basic)).toBe(0)
    await s.close()
  })

  it('fewer seats than asked, or a lease for another user, host or process: refused, the seat released', async () => {
    const s = await testServer()
    const ten = s.license('ten')
    const {seats} = seatClient(s)
    const cases: Array<[string, (input: CheckoutInput) => CheckoutInput]> = [
      ['seats', (input) => ({...input, seats: 1})],
      ['user', (input) => ({...input, user: 'mallory'})],
      ['host', (input) => ({...input, host: 'elsewhere'})],
      ['process', (input) => ({...input, process: 'pid:1'})],
    ]
    const real = seats.client.checkout
    for (const [field, change] of cases) {
      seats.client.checkout = real
      rewriteCheckouts(seats, change)
      await expectWrongTarget(seats.checkout({license: ten, seats: 2}, {autoHeartbeat: false}), field)
    }
    expect(await used(s, ten)).toBe(0)
    await s.close()
  })

  it('without pinned keys the lease in the answer is still checked against the request', async () => {
    const s = await testServer()
    const {seats} = seatClient(s, {publicKeys: undefined, releaseOnExit: false})
    rewriteCheckouts(seats, (input) => ({...input, product: 8, features: 1}))
    await expectWrongTarget(seats.checkout({product: 7, features: 3}, {autoHeartbeat: false}), 'product')
    expect(await used(s, s.license('two'))).toBe(0)
    await s.close()
  })

  it('honest checkouts pass: features within the license, names the server trims, an exclusive lease taking the license whole, several seats', async () => {
    const s = await testServer()
    const [ten, two] = [s.license('ten'), s.license('two')]
    await s.admin.setPolicy(two, {mode: 'exclusive'})
    const {seats} = seatClient(s, {user: ' app ', host: 'ci '})
    const byProduct = await seats.checkout({product: 7, features: 0x1}, {autoHeartbeat: false})
    expect(byProduct.lease).toMatchObject({licenseId: ten, user: 'app', host: 'ci'})
    const several = await seats.checkout({license: ten, seats: 3, process: ' job-1 '}, {autoHeartbeat: false})
    expect(several.lease).toMatchObject({seats: 3, process: 'job-1'})
    const exclusive = await seats.checkout({license: two}, {autoHeartbeat: false})
    expect(exclusive.lease).toMatchObject({mode: 'exclusive', seats: 2})
    await exclusive.heartbeat()
    await seats.close()
    await s.close()
  })
})

describe('a heartbeat renews the lease held, or is refused', () => {
  it("an answer for another lease (the heartbeat's path rewritten), without pinned keys: refused as wrong-target, the seat keeps its lease", async () => {
    const {s, two} = await serverWithTtl(60)
    const {seats, seen} = seatClient(s, {publicKeys: undefined, releaseOnExit: false})
    const seat = await seats.checkout({license: two}, {autoHeartbeat: false})
    const other = await s.client.checkout({license: two, user: 'someone', host: 'else'})
    const lease = seat.lease
    answerHeartbeats(seats, (_grant, real) => real(other.lease.id))
    await expectWrongTarget(seat.heartbeat(), 'id')
    expect(seat.lease).toBe(lease)
    expect(seat.state).toBe('active')
    expect(seen.renewed).toEqual([])
    await seats.close()
    await s.close()
  })

  it('a renewal whose lease says another holder than its (genuine) token: refused, with pinned keys as without', async () => {
    const {s, two} = await serverWithTtl(60)
    for (const publicKeys of [s.publicKeys, undefined]) {
      const {seats} = seatClient(s, {publicKeys, releaseOnExit: false})
      const seat = await seats.checkout({license: two}, {autoHeartbeat: false})
      answerHeartbeats(seats, async (grant) => ({...grant, lease: {...grant.lease, user: 'mallory'}}))
      const err = await refusal(seat.heartbeat())
      expect(err).toBeInstanceOf(VerificationError)
      expect((err as VerificationError).reason).toBe('wrong-target')
      expect(seat.lease.user).toBe('app')
      await seats.close()
    }
    await s.close()
  })
})
