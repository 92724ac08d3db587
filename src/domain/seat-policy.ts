import {LIMITS} from './license.js'

/**
 * The bounds of the license server's seat settings, one definition for the seat service, its HTTP
 * schemas and the flags of "server start", "server policy", "server reservations add" and "seat borrow".
 */
export const SEAT_RANGES = {
  /** Seconds a lease lives without a heartbeat. */
  leaseTtl: {min: 5, max: 7 * 86_400},
  /** Seconds a borrow lasts. */
  borrowSeconds: {min: 60, max: 10 * 366 * 86_400},
  /** Seats of one license borrowed at once. */
  borrowSeats: {min: 0, max: LIMITS.quantity.max},
  /** Seats of one license one user holds at once. */
  maxPerUser: {min: 1, max: LIMITS.quantity.max},
  /** Seconds a released seat stays taken by its lease (0: none). */
  linger: {min: 0, max: 86_400},
  /** Seconds one checkout request waits on the server for a seat (a client waiting longer asks again). */
  waitSeconds: {min: 0, max: 60},
  /** Seats one checkout takes at once (a license counting per checkout; its quantity bounds them further). */
  checkoutSeats: {min: 1, max: LIMITS.quantity.max},
  /** Seats one reservation keeps (the license's quantity bounds them further). */
  reservedSeats: {min: 1, max: LIMITS.quantity.max},
} as const

/**
 * The refusals a waiting checkout waits after (client and server): no seat is free, or the user
 * holds the most a license's policy allows; a seat may be released in the meantime.
 */
export const WAITABLE: ReadonlySet<string> = new Set(['NO_SEAT_FREE', 'USER_LIMIT'])

/**
 * Whether a license's policy caps each user below what one exclusive checkout takes (the whole
 * license, `quantity` seats): then no checkout of it could ever be granted.
 */
export function exclusiveOverCap(policy: {mode: string; maxPerUser: number | null}, quantity: number): boolean {
  return policy.mode === 'exclusive' && policy.maxPerUser !== null && policy.maxPerUser < quantity
}
