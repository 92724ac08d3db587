/**
 * Why the seat service says no: its refusals (each with a code, an exit status, a message naming
 * what is wrong and a hint), and the checks of the values a seat request gives.
 */
import {ExitCode, InvalidValueError, LicadmError, NotFoundError} from '../domain/errors.js'
import {LIMITS} from '../domain/license.js'
import {isoSeconds, parseText, parseUint} from '../domain/values.js'
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

/** The refusal for a user who would hold more seats of a license than its policy allows. */
export function userLimit(licenseId: string, user: string, held: number, need: number, maxPerUser: number, mode: SeatMode): LicadmError {
  const taking = need === 1 ? 'another seat' : mode === 'exclusive' ? `${need} seats (exclusive)` : `${need} more seats`
  return new LicadmError('USER_LIMIT', ExitCode.conflict, `user ${user} holds ${held} seat(s) of license ${licenseId}; ${taking} would pass its limit of ${maxPerUser} per user`, {
    hint: 'Release a seat this user holds (or wait for one to be released), or ask an administrator to raise the license\'s --max-per-user.',
    details: {licenseId, user, held, maxPerUser},
  })
}

/**
 * A checkout of several seats at once that this license could never grant: its mode takes one seat
 * (station) or the whole license (exclusive), or it has fewer seats than asked, in all or per user.
 */
export function seatCountRefusal(license: LicenseFacts, mode: SeatMode, count: number, maxPerUser: number | null): LicadmError | null {
  const details = {licenseId: license.id, asked: count, quantity: license.quantity, mode, maxPerUser}
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
