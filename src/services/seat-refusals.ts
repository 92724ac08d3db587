/**
 * Why the seat service says no: its refusals (each with a code, an exit status, a message naming
 * what is wrong and a hint), and the checks of the values a seat request gives.
 */
import {ExitCode, InvalidValueError, LicadmError, NotFoundError, type ErrorOptions} from '../domain/errors.js'
import {LIMITS} from '../domain/license.js'
import {exclusiveOverCap} from '../domain/seat-policy.js'
import {formatDuration, isoSeconds, parseText, parseUint} from '../domain/values.js'
import type {LeaseTable, SeatMode} from '../store/schema-seats.js'
import type {CheckoutInput, Lease, Requester} from './seats.js'

/** What a refusal reads of a license. */
export interface LicenseFacts {
  id: string
  kind: string
  quantity: number
  status: string
  not_before: number
  expires_at: number | null
}

/** A heartbeat for a lease released while its seat lingers. */
export function lingering(row: LeaseTable): LicadmError {
  return new LicadmError('LEASE_NOT_FOUND', ExitCode.notFound, `lease ${row.id} was released at ${isoSeconds(Number(row.released_at))}; its seat lingers until ${isoSeconds(Number(row.expires_at))} for a checkout by user ${row.user} on host ${row.host}`, {
    hint: 'Check out again: the same user on the same host takes the lingering seat back.',
    details: {leaseId: row.id, releasedAt: isoSeconds(Number(row.released_at)), lingersUntil: isoSeconds(Number(row.expires_at))},
  })
}

/**
 * Who holds a full license's seats, one entry per holder (user@host, marked borrowed or lingering)
 * with the seats they hold together: checkout leases add their seats, a station's leases count
 * once, as the license counts them.
 */
export function holderNames(holders: Lease[]): string[] {
  const seats = new Map<string, number>()
  for (const h of holders) {
    const name = `${h.user}@${h.host}${h.kind === 'borrow' ? ' (borrowed)' : h.releasedAt !== null ? ' (lingering)' : ''}`
    const held = seats.get(name) ?? 0
    seats.set(name, h.mode === 'station' && h.kind === 'lease' ? Math.max(held, 1) : held + (h.mode === 'checkout' ? h.seats : 1))
  }
  return [...seats].map(([name, n]) => (n > 1 ? `${name} ×${n}` : name))
}

/**
 * NO_SEAT_FREE: too few seats of a license are free for this checkout. `full` says that no checkout
 * of the license could take a seat now, whoever asks (every seat in use; for an exclusive license,
 * any): a wake in line (SeatQueue) that finds it so goes no further.
 */
export class NoSeatFreeError extends LicadmError {
  constructor(
    message: string,
    options: ErrorOptions,
    readonly full: boolean,
  ) {
    super('NO_SEAT_FREE', ExitCode.conflict, message, options)
  }
}

/** What a checkout found short on a full license. */
export interface Shortage {
  license: {id: string; quantity: number}
  mode: SeatMode
  who: Requester
  /** Seats asked for at once. */
  count: number
  /** Seats in use. */
  used: number
  /** Seats the license's reservations keep for others than `who`, and for whom (subject and pattern). */
  kept: {seats: number; for: string[]}
  /**
   * Who holds the seats, longest-held first; null when the server hides who holds seats (--hide-holders):
   * then the reservations' subjects are not named either, only how many seats they keep.
   */
  holders: Lease[] | null
}

/** The refusal for a checkout that finds too few seats free, naming who holds them unless they are hidden. */
export function noSeatFree({license, mode, who, count, used, kept, holders}: Shortage): NoSeatFreeError {
  const names = holders && holderNames(holders)
  const free = Math.max(0, license.quantity - used - kept.seats)
  const asked = count === 1 ? `no seat of license ${license.id} is free` : `only ${free} of the ${count} seats asked of license ${license.id} ${free === 1 ? 'is' : 'are'} free`
  const forWhom = kept.seats ? ` for user ${who.user} on host ${who.host}` : ''
  const inUse = `${used} of ${license.quantity} in use${mode === 'exclusive' ? ' (exclusive: the license is taken whole)' : ''}`
  const by = names ? ` by ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''}` : ''
  const reserved = kept.seats ? `; ${kept.seats} more reserved for ${holders ? kept.for.join(', ') : 'others'}` : ''
  const full = mode === 'exclusive' ? used > 0 : used >= license.quantity
  return new NoSeatFreeError(
    `${asked}${forWhom}: ${inUse}${by}${reserved}`,
    {
      hint: 'Wait in line for a seat ("licadm seat checkout --wait 10m", or the seat client\'s waitMs), or ask an administrator to force-release a stuck one.',
      details: {
        licenseId: license.id,
        quantity: license.quantity,
        used,
        ...(count > 1 ? {asked: count} : {}),
        ...(kept.seats ? {reservedForOthers: kept.seats} : {}),
        ...(holders ? {holders: holders.map((h) => ({user: h.user, host: h.host, kind: h.kind, seats: h.seats, since: isoSeconds(h.createdAt), expiresAt: isoSeconds(h.expiresAt)}))} : {}),
      },
    },
    full,
  )
}

/**
 * Whether a waiting checkout's refusal leaves no seat of the license it was woken for to anyone
 * behind it in line (see NoSeatFreeError.full): then it keeps the wake instead of passing it on.
 */
export function leavesNoSeat(error: unknown, licenseId: string): boolean {
  return error instanceof NoSeatFreeError && error.full && error.details?.licenseId === licenseId
}

/**
 * No candidate license lends a seat for `duration` seconds: the refusal names the one whose policy
 * allows the longest borrow.
 */
export function borrowTooLong(longest: {licenseId: string; maxSeconds: number}, duration: number): LicadmError {
  const {licenseId, maxSeconds} = longest
  return new LicadmError('BORROW_TOO_LONG', ExitCode.conflict, `a seat of license ${licenseId} can be borrowed for at most ${formatDuration(maxSeconds)}, not ${formatDuration(duration)}`, {
    hint: `Borrow for ${formatDuration(maxSeconds)} or less.`,
    details: {licenseId, maxSeconds, requested: duration},
  })
}

/**
 * A seat policy that would make the license unusable: exclusive (one checkout takes all `quantity`
 * seats) with a per-user cap below that. setPolicy refuses it, naming both settings.
 */
export function exclusiveCapRefused(licenseId: string, quantity: number, maxPerUser: number): InvalidValueError {
  return new InvalidValueError('maxPerUser', `license ${licenseId} in mode exclusive is taken whole (${quantity} seats) by one checkout, so a limit of ${maxPerUser} seat(s) per user would refuse every checkout`, {
    hint: `Raise the limit to ${quantity} or more, remove it (--max-per-user default), or choose another mode (--mode checkout or station).`,
    details: {licenseId, mode: 'exclusive', maxPerUser, quantity},
  })
}

/** The refusal for a user who would hold more seats of a license than its policy allows. */
export function userLimit(licenseId: string, user: string, held: number, need: number, maxPerUser: number, mode: SeatMode): LicadmError {
  const taking = need === 1 ? 'another seat' : mode === 'exclusive' ? `${need} seats (exclusive)` : `${need} more seats`
  return new LicadmError('USER_LIMIT', ExitCode.conflict, `user ${user} holds ${held} seat(s) of license ${licenseId}; ${taking} would pass its limit of ${maxPerUser} per user`, {
    hint: 'Release a seat this user holds (or wait for one to be released), or ask an administrator to raise the license\'s --max-per-user.',
    details: {licenseId, user, held, maxPerUser},
  })
}

/**
 * A checkout that this license could never grant: one of several seats at once when its mode takes
 * one seat (station) or the whole license (exclusive), or it has fewer seats than asked, in all or
 * per user; or any checkout of an exclusive license whose policy caps each user below its quantity
 * (a policy stored before setPolicy refused that). Refused at once, not waited for.
 */
export function seatCountRefusal(license: LicenseFacts, mode: SeatMode, count: number, maxPerUser: number | null): LicadmError | null {
  if (count === 1 && !exclusiveOverCap({mode, maxPerUser}, license.quantity)) return null
  const details = {licenseId: license.id, asked: count, quantity: license.quantity, mode, maxPerUser}
  if (count === 1) {
    return new LicadmError('SEAT_COUNT_REFUSED', ExitCode.conflict, `license ${license.id} is taken whole (${license.quantity} seats) by one checkout (exclusive), but its policy allows ${maxPerUser} seat(s) per user: no checkout could ever be granted`, {
      hint: `Ask an administrator to raise or remove the license's per-user limit ("licadm server policy ${license.id} --max-per-user default"), or to change its mode.`,
      details,
    })
  }
  if (mode !== 'checkout') {
    const takes = mode === 'station' ? 'counts one seat per user and host (station)' : 'is taken whole by one checkout (exclusive)'
    return new LicadmError('SEAT_COUNT_REFUSED', ExitCode.usage, `license ${license.id} ${takes}: a checkout of ${count} seats does not apply to it`, {
      hint: 'Check out one seat, or ask an administrator to count this license per checkout ("licadm server policy LICENSE --mode checkout").',
      details,
    })
  }
  const most = Math.min(license.quantity, maxPerUser ?? license.quantity)
  if (count <= most) return null
  const limit = most === license.quantity ? `has ${license.quantity} seat(s) in all` : `allows ${maxPerUser} seat(s) per user`
  return new LicadmError('SEAT_COUNT_REFUSED', ExitCode.conflict, `license ${license.id} ${limit}: a checkout of ${count} seats could never be granted`, {
    hint: `Ask for at most ${most} seat(s), or for a license with more seats.`,
    details,
  })
}

/** Why a license gives no seats at all now (single, revoked, expired, not yet valid); null when it may. */
export function licenseProblem(license: LicenseFacts, now: number): LicadmError | null {
  const id = license.id
  if (license.kind !== 'concurrent') return notConcurrent(id)
  if (license.status === 'revoked') return new LicadmError('LICENSE_REVOKED', ExitCode.revoked, `license ${id} is revoked`, {details: {licenseId: id}})
  if (license.expires_at !== null && Number(license.expires_at) <= now) {
    return new LicadmError('LICENSE_EXPIRED', ExitCode.expired, `license ${id} expired at ${isoSeconds(Number(license.expires_at))}`, {details: {licenseId: id, expiresAt: isoSeconds(Number(license.expires_at))}})
  }
  if (Number(license.not_before) > now) {
    return new LicadmError('LICENSE_NOT_YET_VALID', ExitCode.notYetValid, `license ${id} is not valid before ${isoSeconds(Number(license.not_before))}`, {details: {licenseId: id}})
  }
  return null
}

/** A single license asked for seats (`purpose`: what the seats were wanted for, e.g. " to reserve"). */
export function notConcurrent(licenseId: string, purpose = ''): LicadmError {
  return new LicadmError('NOT_CONCURRENT', ExitCode.conflict, `license ${licenseId} is a single license, not a concurrent one: it has no floating seats${purpose}`, {details: {licenseId}})
}

export function notInContainer(licenseId: string, serial: string): LicadmError {
  return new LicadmError('NOT_IN_CONTAINER', ExitCode.auth, `license ${licenseId} is not in container ${serial}: its credential reaches that container's licenses only`, {
    hint: `Check out a license that container holds ("licadm container show ${serial}" lists them), or use a client token.`,
    details: {licenseId, container: serial},
  })
}

export function leaseNotFound(id: string): LicadmError {
  return new NotFoundError('lease', id, {hint: 'It was released, reclaimed after its TTL, or removed by an administrator. Check out a new seat.'})
}

export function checkText(v: unknown, name: string, required: boolean): string | undefined {
  return parseText(v, name, {required, blank: 'refuse'})
}

export function checkId(v: unknown, name: string): string {
  return checkText(v, name, true)!
}

export function checkRequester(input: Requester): Requester {
  return {
    user: checkText(input.user, 'user', true)!,
    host: checkText(input.host, 'host', true)!,
    process: checkText(input.process, 'process', false),
    address: input.address,
  }
}

export function checkTarget(input: CheckoutInput): {license?: string; product?: number; features: number} {
  const license = checkText(input.license, 'license', false)
  const product = parseUint(input.product, 'product', LIMITS.code)
  const features = parseUint(input.features ?? 0, 'features', LIMITS.features, {hex: true, required: true})!
  if ((license === undefined) === (product === null)) throw new InvalidValueError('license', 'give either a license id or a product code (and optionally features)')
  return {license, product: product ?? undefined, features}
}
