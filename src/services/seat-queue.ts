import {ExitCode, LicadmError} from '../domain/errors.js'

/** A seat that may have become free: a lease of this license was released, returned, reclaimed or taken back smaller. */
export interface FreedSeat {
  licenseId: string
  productCode: number
}

/** Why a wait in line ended: a seat that may be free, the time was up, or the queue was closed. */
export type WaitOutcome = {woken: FreedSeat; place: number} | {woken: null; place: number} | {closed: true}

/** How long a place is kept for a checkout whose request ran out of time, for its next request. */
export const HOLD_MS = 30_000

/** Seconds a checkout answered SERVER_STOPPING is told to wait before it asks again (Retry-After). */
export const STOPPING_RETRY_AFTER_S = 1

/**
 * The answer to a checkout that waited in line when the server stopped: not a refusal of a seat
 * (`refusal`, its last one, says why it waited), but "ask again in a moment" (HTTP 503 with
 * Retry-After). A restarted server has a new line: the place in this one is not kept.
 */
export function serverStopping(refusal: LicadmError): LicadmError {
  const licenseId = typeof refusal.details?.licenseId === 'string' ? refusal.details.licenseId : undefined
  return new LicadmError('SERVER_STOPPING', ExitCode.unreachable, 'the license server is stopping: this checkout waited in line for a seat and got none before it stopped', {
    hint: 'Ask again in a moment: a restarted server has a new line (licadm\'s clients do so by themselves while their wait lasts).',
    details: {retryAfter: STOPPING_RETRY_AFTER_S, lastRefusal: refusal.code, ...(licenseId === undefined ? {} : {licenseId})},
  })
}

interface Waiter {
  place: number
  licenseId?: string
  productCode?: number
  end(outcome: WaitOutcome): void
}

/**
 * Checkouts waiting for a seat, in line: the one waiting longest is woken first when a seat of its
 * license (or of its product, for a checkout by product) may have become free, and as many as seats
 * were freed. A woken checkout that still cannot take the seat (its user holds the most the policy
 * allows, say) keeps its place and passes the seat on to the next in line (passOn), unless no seat
 * of the license is left for anyone. Waiting checkouts also wake on their own now and
 * then (the caller's timeout), to see changes no event announces: another process's writes.
 */
export class SeatQueue {
  private waiters: Waiter[] = []
  private nextPlace = 0
  /** Places kept for checkouts that will ask again (see hold), with whose they are and until when. */
  private readonly held = new Map<number, {holder: string; until: number}>()
  private stopped = false

  /** The server stops: no checkout waits any more. */
  get closed(): boolean {
    return this.stopped
  }

  /** How many checkouts wait now. */
  get length(): number {
    return this.waiters.length
  }

  /**
   * Waits in line for a seat of `target` for at most `ms`; `place` keeps the place of an earlier
   * wait of the same checkout. Ends early, as closed, when `signal` aborts or the queue closes.
   */
  wait(target: {licenseId?: string; productCode?: number}, ms: number, place: number | undefined, signal?: AbortSignal): Promise<WaitOutcome> {
    if (this.stopped || signal?.aborted) return Promise.resolve({closed: true})
    return new Promise((resolve) => {
      const waiter: Waiter = {
        place: place ?? this.nextPlace++,
        ...target,
        end: (outcome) => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', aborted)
          resolve(outcome)
        },
      }
      const leave = (outcome: WaitOutcome) => {
        const i = this.waiters.indexOf(waiter)
        if (i >= 0) this.waiters.splice(i, 1)
        waiter.end(outcome)
      }
      const aborted = () => leave({closed: true})
      const timer = setTimeout(() => leave({woken: null, place: waiter.place}), ms)
      signal?.addEventListener('abort', aborted, {once: true})
      // In order of place: a checkout that waits again goes back where it was.
      let i = this.waiters.length
      while (i > 0 && this.waiters[i - 1].place > waiter.place) i--
      this.waiters.splice(i, 0, waiter)
    })
  }

  /**
   * Keeps `place` for `holder` (who asks for what) for HOLD_MS: a client that waits longer than one
   * request asks again with it (claim) and keeps its place in line.
   */
  hold(place: number, holder: string): void {
    const now = Date.now()
    for (const [p, h] of this.held) if (h.until <= now) this.held.delete(p)
    this.held.set(place, {holder, until: now + HOLD_MS})
  }

  /** The place kept for `holder` under this number, given up to it; undefined when there is none. */
  claim(place: number | undefined, holder: string): number | undefined {
    if (place === undefined) return undefined
    const kept = this.held.get(place)
    if (!kept || kept.holder !== holder || kept.until <= Date.now()) return undefined
    this.held.delete(place)
    return place
  }

  /**
   * `seats` seats may be free: wakes as many of the first in line for them, one per seat, so a lease
   * of several seats (an exclusive one: the license's quantity) serves as many waiting checkouts at
   * once, before a checkout that never waited can take them.
   */
  freed(seat: FreedSeat, seats = 1): void {
    for (let i = 0; i < seats; i++) if (!this.passOn(seat, -1)) return
  }

  /**
   * A woken checkout at `place` could not take the seat (or took none of it): the next in line after
   * it gets the chance. False when nobody after it waits for that seat.
   */
  passOn(seat: FreedSeat, place: number): boolean {
    const i = this.waiters.findIndex((w) => w.place > place && (w.licenseId === seat.licenseId || (w.licenseId === undefined && w.productCode === seat.productCode)))
    if (i < 0) return false
    const [waiter] = this.waiters.splice(i, 1)
    waiter.end({woken: seat, place: waiter.place})
    return true
  }

  /** Seats may be free anywhere (a policy or reservation changed): every waiting checkout tries again. */
  wakeAll(): void {
    const all = this.waiters
    this.waiters = []
    for (const w of all) w.end({woken: null, place: w.place})
  }

  /** The server stops: every waiting checkout ends now, and none waits from now on. */
  close(): void {
    this.stopped = true
    const all = this.waiters
    this.waiters = []
    for (const w of all) w.end({closed: true})
  }
}
