/**
 * Heartbeat retries against a short lease, on the test clock (fake timers and performance.now),
 * with the server played by the test: a hanging heartbeat is given up early enough for a retry
 * before the lease expires, and a retry's jitter never puts it past the next beat.
 */
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import {SeatClient} from '../../src/client/seat-client.js'
import {ExitCode, LicadmError} from '../../src/domain/errors.js'
import type {CheckoutInput, Grant} from '../../src/services/seats.js'
import type {Seen} from './seat-client-helpers.js'

/** The lease's renewal time, in the server's epoch seconds. */
const NOW = 1_780_000_000

/** The grant an honest server gives for this checkout, with this TTL (seconds). */
function grantFor(input: CheckoutInput, ttl: number, renewedAt = NOW): Grant {
  return {
    ttl,
    token: 'not checked without pinned keys',
    lease: {
      id: 'lse_test',
      licenseId: input.license!,
      productCode: 7,
      kind: 'lease',
      mode: 'checkout',
      user: input.user,
      host: input.host,
      process: input.process ?? null,
      address: null,
      seats: 1,
      createdAt: NOW,
      renewedAt,
      expiresAt: renewedAt + ttl,
      releasedAt: null,
    },
  }
}

function unreachable(): LicadmError {
  return new LicadmError('SERVER_UNREACHABLE', ExitCode.unreachable, 'cannot reach the license server: no answer within 10 s')
}

/**
 * A seat of TTL `ttl` from a client whose server is played by `heartbeat` (called with the
 * attempt's number, from 1). Heartbeats run by themselves.
 */
async function seatWith(ttl: number, heartbeat: (attempt: number, renewed: Grant) => Promise<Grant>) {
  const seen: Seen = {renewed: [], lost: [], errors: []}
  const seats = new SeatClient({
    server: 'http://127.0.0.1:9',
    token: 'unused',
    user: 'app',
    host: 'ci',
    releaseOnExit: false,
    onRenewed: (seat) => seen.renewed.push(seat.lease.expiresAt),
    onLost: (error) => seen.lost.push(error),
    onHeartbeatError: (error) => seen.errors.push(error),
  })
  let input!: CheckoutInput
  let attempts = 0
  seats.client.checkout = async (asked) => grantFor((input = asked), ttl)
  seats.client.heartbeat = () => heartbeat(++attempts, grantFor(input, ttl, NOW + 1))
  seats.client.release = async (leaseId) => ({released: true, leaseId})
  const seat = await seats.checkout({license: 'lic_test'})
  return {seat, seen, attempts: () => attempts}
}

/** Never answers: the request fails when the transport's own 10 s timeout (the default timeoutMs) ends it. */
function hangs(): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(unreachable()), 10_000))
}

beforeEach(() => {
  vi.useFakeTimers({toFake: ['setTimeout', 'clearTimeout', 'performance']})
})
afterEach(() => {
  vi.useRealTimers()
})

describe('heartbeat attempts and retries fit in the lease', () => {
  it('a heartbeat that hangs is given up after half the time the lease has left: the retry renews it before it expires', async () => {
    // No jitter: the retry comes 1 s after the failure.
    vi.spyOn(Math, 'random').mockReturnValue(0.5)
    // TTL 6 s: heartbeats every 2 s; the first hangs, the next gets through.
    const {seat, seen, attempts} = await seatWith(6, (attempt, renewed) => (attempt === 1 ? hangs() : Promise.resolve(renewed)))
    await vi.advanceTimersByTimeAsync(6000 - 1)
    expect(attempts()).toBe(2)
    expect(seen.errors).toHaveLength(1)
    expect(seen.errors[0]).toMatchObject({code: 'SERVER_UNREACHABLE', message: expect.stringMatching(/^no answer to the heartbeat of lease lse_test within .* s: given up, to retry before the lease expires/)})
    expect(seen.renewed).toEqual([NOW + 1 + 6])
    // The hung request's own failure, when it comes, is nobody's business any more.
    await vi.advanceTimersByTimeAsync(10_000)
    expect(seen.errors).toHaveLength(1)
    expect(seen.lost).toEqual([])
    expect(seat.state).toBe('active')
    await seat.release()
  })

  it('heartbeats that all hang: each is given up in time for another, until the lease is lost at its expiry', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5)
    const {seat, seen, attempts} = await seatWith(6, () => hangs())
    await vi.advanceTimersByTimeAsync(6000 - 1)
    expect(attempts()).toBe(2)
    expect(seen.lost).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(seen.lost.map((e) => e.code)).toEqual(['LEASE_EXPIRED'])
    expect((seen.lost[0].cause as LicadmError).code).toBe('SERVER_UNREACHABLE')
    expect(seat.state).toBe('lost')
  })

  it("a retry's jitter never puts it later than the next beat", async () => {
    // The most jitter: +20%.
    vi.spyOn(Math, 'random').mockReturnValue(0.9999)
    // TTL 3 s: heartbeats every second, the first retry 1 s (+20%) after a failure.
    const {seat, seen, attempts} = await seatWith(3, (attempt, renewed) => (attempt === 1 ? Promise.reject(unreachable()) : Promise.resolve(renewed)))
    await vi.advanceTimersByTimeAsync(1000)
    expect(attempts()).toBe(1)
    expect(seen.errors).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1000)
    expect(attempts()).toBe(2)
    expect(seen.renewed).toHaveLength(1)
    await seat.release()
  })
})
