import {randomFillSync} from 'node:crypto'
import type {BlockList} from 'node:net'

import type {Selectable} from 'kysely'

import {epochSeconds} from '../domain/clock.js'
import {ExitCode, InvalidValueError, LicadmError, NotFoundError} from '../domain/errors.js'
import {newId} from '../domain/ids.js'
import {LIMITS} from '../domain/license.js'
import {reservedInUse, seatsUsed, type CountedReservation, type HolderRow} from '../domain/seat-counting.js'
import {SEAT_RANGES, SEAT_TEXT_MAX, WAITABLE} from '../domain/seat-policy.js'
import {addressBlock, checkAction, checkPattern, checkSubject, subjectMatches, subjectValue, type RuleAction, type RuleSubject} from '../domain/seat-subjects.js'
import {formatDuration, isoSeconds, parseUint} from '../domain/values.js'
import type {Signer} from '../crypto/keys.js'
import type {Vendor} from '../formats/license.js'
import {armorBorrow, LEASE_TYP, signBorrow, type SeatClaims} from '../formats/lease.js'
import {signCompactAsync} from '../crypto/sign-async.js'
import type {AccessRuleTable, LeaseTable, SeatMode, SeatPolicyTable, SeatReservationTable} from '../store/schema-seats.js'
import type {SqlValue, SyncSql} from '../store/store.js'
import {appendAudit} from './audit.js'
import {SeatQueue, type FreedSeat} from './seat-queue.js'
import {byLicense, dayBefore, isoDay, parseDay, summarizeUsage, USAGE_DAYS, UsageCounter, type UsageDay, type UsageReport, type UserUsage} from './seat-usage.js'
import type {ServiceContext} from './context.js'
import {VendorService} from './vendor.js'

export type {SeatMode} from '../store/schema-seats.js'
export const SEAT_MODES: readonly SeatMode[] = ['checkout', 'station', 'exclusive']
export {RULE_SUBJECTS, type RuleAction, type RuleSubject} from '../domain/seat-subjects.js'

/** Server-wide seat settings; a license's seat policy overrides the lease TTL and borrow limits. */
export interface SeatSettings {
  /** Seconds a lease lives without a heartbeat (default 300). */
  leaseTtl: number
  /** The longest borrow, in seconds (default 30 days). */
  borrowMaxSeconds: number
  /** How many seats of one license may be borrowed at once (null: as many as it has). */
  borrowMaxSeats: number | null
  /** Refusals for a full license do not name who holds the seats. */
  hideHolders: boolean
}

export const DEFAULT_SEAT_SETTINGS: SeatSettings = {leaseTtl: 300, borrowMaxSeconds: 30 * 86_400, borrowMaxSeats: null, hideHolders: false}

/** Who asks for a seat. `address` is the client's network address as the server sees it. */
export interface Requester {
  user: string
  host: string
  process?: string
  address?: string
}

export interface CheckoutInput extends Requester {
  /** A license id; or `product` (and optionally `features`, all of whose bits the license must have). */
  license?: string
  product?: number
  features?: number
  /** Seats the lease takes at once (default 1): a license counting per checkout only. */
  seats?: number
}

export interface BorrowInput extends Omit<CheckoutInput, 'seats'> {
  /** Seconds. */
  duration: number
}

export interface Lease {
  id: string
  licenseId: string
  productCode: number
  kind: 'lease' | 'borrow'
  mode: SeatMode
  user: string
  host: string
  process: string | null
  address: string | null
  seats: number
  createdAt: number
  renewedAt: number
  /** For a lingering lease (released, its seat still taken): the end of the linger. */
  expiresAt: number
  /** When a lingering lease was released; null while it is held. */
  releasedAt: number | null
}

export interface Grant {
  lease: Lease
  /** Seconds between heartbeats that keep the lease (its time to live). */
  ttl: number
  /** The signed lease token (JWS, typ licadm-lease+jwt). */
  token: string
}

export interface BorrowGrant {
  borrow: Lease
  /** The armored borrow file (BORROW, typ licadm-borrow+jwt). */
  file: string
}

/**
 * What a request may reach: every license (a token), or only the licenses of one enterprise
 * container (its credential; see ContainerService.seatPrincipal).
 */
export interface SeatScope {
  container?: string
}

export interface SeatUsage {
  licenseId: string
  productCode: number
  features: number
  mode: SeatMode
  quantity: number
  used: number
  borrowed: number
  expiresAt: number | null
  /** Seats kept by the license's reservations (see SeatReservation). */
  reserved: number
  holders: Lease[]
}

export interface SeatPolicy {
  licenseId: string
  mode: SeatMode
  leaseTtl: number | null
  borrowMaxSeconds: number | null
  borrowMaxSeats: number | null
  /** The most seats one user holds of the license at once, leases and borrows (null: no cap). */
  maxPerUser: number | null
  /** Seconds a released lease keeps its seat (null: none); the same user on the same host takes it back. */
  linger: number | null
}

export interface AccessRule {
  id: number
  productCode: number
  action: RuleAction
  subject: RuleSubject
  pattern: string
  createdAt: number
}

/**
 * Seats of a concurrent license kept for a user, a host or a client address (a pattern as in the
 * access rules): nobody else may take them. A lease fills the first (oldest) reservation it matches
 * that has room, so the reservation's holders take its seats first and the license's free ones after.
 */
export interface SeatReservation {
  id: number
  licenseId: string
  subject: RuleSubject
  pattern: string
  seats: number
  createdAt: number
}

/** A reservation with the seats of it its holders use now. */
export interface ReservationUsage extends SeatReservation {
  inUse: number
}

export interface ReservationInput {
  license: string
  subject: string
  pattern: string
  seats: unknown
}

export interface AccessRules {
  productCode: number
  defaultAction: RuleAction
  rules: AccessRule[]
}

interface LicenseRow {
  id: string
  product_code: number
  kind: string
  quantity: number
  features: number
  status: string
  not_before: number
  expires_at: number | null
  /** Seats of the unexpired leases that are not station leases (when selected with licenseWithUsed). */
  plain?: number
  /** How many unexpired station leases there are. */
  stations?: number
}

/**
 * A license with the seats its unexpired leases take: the counters kept by triggers (migration
 * 0006_seat_counts) less the leases past expiry not yet reclaimed. The two parameters are the time now.
 */
const LICENSE_WITH_USED = `select l.id, l.product_code, l.kind, l.quantity, l.features, l.status, l.not_before, l.expires_at,
  coalesce(c.plain, 0) - (select coalesce(sum(case when x.kind = 'lease' and x.mode = 'station' then 0 else x.seats end), 0)
     from leases x where x.license_id = l.id and x.expires_at <= ?) as plain,
  coalesce(c.stations, 0) - (select count(*) from leases y where y.license_id = l.id and y.expires_at <= ? and y.kind = 'lease' and y.mode = 'station') as stations
  from licenses l left join seat_counts c on c.license_id = l.id`

/** A waiting checkout tries again at least this often (ms), for changes no event announces: another process's writes. */
const RECHECK_MS = 5000

/**
 * The random part of lease ids, drawn from the system's generator 4 KiB at a time: a randomBytes
 * call per checkout cost more than the rest of making the id.
 */
const idPool = Buffer.alloc(4096)
let idPoolOffset = idPool.length
function idRandom(): Buffer {
  if (idPoolOffset + 12 > idPool.length) {
    randomFillSync(idPool)
    idPoolOffset = 0
  }
  idPoolOffset += 12
  return idPool.subarray(idPoolOffset - 12, idPoolOffset)
}

/**
 * Floating seats of concurrent licenses: checkout, heartbeat, release, borrow, return,
 * force-release, the sweeper's reclaim, seat policies and access rules. Every seat is allocated
 * inside one write transaction (BEGIN IMMEDIATE): the count and the insert see the same leases, so
 * concurrent checkouts never hand out more seats than there are. Checkout, heartbeat and release
 * run their statements synchronously (store.writeSync): they are the license server's hot path.
 */
export class SeatService {
  private readonly vendorService: VendorService
  private issuer?: Promise<{vendor: Vendor; signer: Signer}>
  /** Access rules per product, compiled; valid while the store's data_version is `cachedVersion`. */
  private readonly rules = new Map<number, {defaultAction: RuleAction; rules: AccessRule[]; blocks: Map<number, BlockList>}>()
  /** Reservations per license, compiled (most licenses have none: an empty list); valid as the rules. */
  private readonly reservationSets = new Map<string, CompiledReservation[]>()
  /** Seat policies per license (null: none), read once per checkout otherwise; valid as the rules. */
  private readonly policies = new Map<string, SeatPolicy | null>()
  private cachedVersion = -1
  /** Seat usage per license and day, counted here and flushed to the store by the sweeper. */
  private readonly counter = new UsageCounter()
  /** Checkouts waiting for a seat (see checkout's `waitMs`). */
  readonly queue = new SeatQueue()

  /**
   * @param withSigner how the server signs with the vendor's key (the license server hands it to a
   * signing thread); the key ring's signer as it is by default.
   */
  constructor(
    private readonly ctx: ServiceContext,
    readonly settings: SeatSettings = DEFAULT_SEAT_SETTINGS,
    private readonly withSigner: (signer: Signer) => Signer = (signer) => signer,
  ) {
    this.vendorService = new VendorService(ctx)
  }

  /** The vendor and its active key, looked up once (the server signs every response with them). */
  signing(): Promise<{vendor: Vendor; signer: Signer}> {
    this.issuer ??= Promise.all([this.vendorService.get(), this.vendorService.signer()]).then(([vendor, signer]) => ({vendor, signer: this.withSigner(signer)}))
    this.issuer.catch(() => (this.issuer = undefined))
    return this.issuer
  }

  /**
   * Checks out a seat, or refuses saying why (no seat free, expired, revoked, access denied). With
   * `waitMs`, a checkout refused for want of a free seat (NO_SEAT_FREE, or USER_LIMIT until its user
   * releases one) waits in line (SeatQueue) and tries again when a seat of its license may be free,
   * until it gets one or the time is up (the last refusal then, with `details.place`: the place in
   * line kept for a while for the same checkout, given back as `place`), or `signal` aborts. A request
   * counts as one denial in the usage report, however often it tried while it waited.
   */
  async checkout(input: CheckoutInput, scope: SeatScope = {}, options: {waitMs?: number; signal?: AbortSignal; place?: number} = {}): Promise<Grant> {
    const who = checkRequester(input)
    const target = checkTarget(input)
    const count = parseUint(input.seats ?? 1, 'seats', SEAT_RANGES.checkoutSeats)!
    // Real time: a test clock may stand still while a client waits.
    const deadline = Date.now() + (options.waitMs ?? 0)
    // Who asks for what: a place in line is kept for the same checkout only. Made only for a
    // checkout that waits (not on the hot path of one that does not).
    const holder = () => JSON.stringify([who.user, who.host, who.process ?? null, target.license ?? null, target.product ?? null, target.features, count, scope.container ?? null])
    let place = options.place === undefined ? undefined : this.queue.claim(options.place, holder())
    let woken: FreedSeat | null = null
    for (;;) {
      try {
        return await this.checkoutOnce(who, target, count, scope)
      } catch (error) {
        // The seat that woke this checkout may not be one it can take: the next in line may.
        if (woken) this.queue.passOn(woken, place!)
        if (!(error instanceof LicadmError && WAITABLE.has(error.code))) throw error
        const left = deadline - Date.now()
        if (left <= 0) {
          if (place === undefined) this.refused(error, who)
          // Its place is kept for its next request: the refusal says which.
          this.queue.hold(place, holder())
          this.refused(new LicadmError(error.code, error.exit, error.message, {hint: error.hint, details: {...error.details, place}}), who)
        }
        const outcome = await this.queue.wait({licenseId: target.license, productCode: target.product}, Math.min(left, RECHECK_MS), place, options.signal)
        if ('closed' in outcome) this.refused(error, who)
        place = outcome.place
        woken = outcome.woken
      }
    }
  }

  private async checkoutOnce(who: Requester, target: ReturnType<typeof checkTarget>, count: number, scope: SeatScope): Promise<Grant> {
    const issuer = await this.signing()
    const now = epochSeconds(this.ctx.clock)
    const {lease, ttl, features, usedAfter} = await this.ctx.store.writeSync((q) => {
      const candidates = this.candidates(q, target, now, scope)
      let refusal: LicadmError | undefined
      for (const license of candidates) {
        this.checkAccess(q, Number(license.product_code), who)
        const policy = this.policy(q, license.id)
        const mode = policy?.mode ?? 'checkout'
        const ttl = policy?.leaseTtl ?? this.settings.leaseTtl
        // A seat lingering after this user's release on this host is theirs to take back.
        const takenBack = policy?.linger ? takeBackLingering(q, license.id, who, now) : false
        // Its seats in use are read again without the lease taken back.
        const counted = takenBack ? q.get<LicenseRow>(`${LICENSE_WITH_USED} where l.id = ?`, now, now, license.id)! : license
        const need = this.seatsNeeded(q, counted, mode, who, now, policy?.maxPerUser ?? null, count)
        if (need instanceof LicadmError) {
          if (takenBack) q.run('rollback to lingering')
          // A license that may free seats later is the better answer than one that never could.
          if (!refusal || (!WAITABLE.has(refusal.code) && WAITABLE.has(need.code))) refusal = need
          continue
        }
        if (takenBack) q.run('release lingering')
        const lease = this.newLease('lease', license, who, mode, need.seats, now, ttl)
        insertLease(q, lease)
        return {lease, ttl, features: Number(license.features), usedAfter: need.usedAfter}
      }
      throw refusal!
    })
    this.counter.granted(lease.licenseId, lease.user, now, usedAfter)
    return {lease, ttl, token: await leaseToken(lease, features, issuer)}
  }

  /** A lease or borrow held by `who` from now for `seconds`, never beyond the license's expiry. */
  private newLease(kind: Lease['kind'], license: LicenseRow, who: ReturnType<typeof checkRequester>, mode: Lease['mode'], seats: number, now: number, seconds: number): Lease {
    return {
      id: newId(kind === 'lease' ? 'lse' : 'brw', this.ctx.clock.now(), idRandom()),
      licenseId: license.id,
      productCode: Number(license.product_code),
      kind,
      mode,
      user: who.user,
      host: who.host,
      process: who.process ?? null,
      address: who.address ?? null,
      seats,
      createdAt: now,
      renewedAt: now,
      expiresAt: capExpiry(now + seconds, license),
      releasedAt: null,
    }
  }

  /** Renews a lease for another TTL. A lease that expired is gone: check out again. */
  async heartbeat(id: string, scope: SeatScope = {}): Promise<Grant> {
    const leaseId = checkId(id, 'lease id')
    const issuer = await this.signing()
    const now = epochSeconds(this.ctx.clock)
    // A refusal that also deletes the lease is returned from the transaction, not thrown in it:
    // throwing would roll the delete back.
    const outcome = await this.ctx.store.writeSync((q): {lease: Lease; ttl: number; features: number} | {refusal: LicadmError} => {
      const row = q.get<LeaseTable>('select * from leases where id = ?', leaseId)
      if (!row || row.kind !== 'lease' || !inScope(q, row.license_id, scope)) throw leaseNotFound(leaseId)
      if (row.released_at !== null) throw lingering(row)
      if (Number(row.expires_at) <= now) {
        q.run('delete from leases where id = ?', leaseId)
        this.counter.reclaimed(row.license_id, now)
        this.freed(row)
        return {
          refusal: new LicadmError('LEASE_EXPIRED', ExitCode.expired, `lease ${leaseId} expired at ${isoSeconds(Number(row.expires_at))} without a heartbeat; its seat was reclaimed`, {
            hint: 'Check out a new seat.',
            details: {leaseId},
          }),
        }
      }
      const license = q.get<LicenseRow>('select id, product_code, kind, quantity, features, status, not_before, expires_at from licenses where id = ?', row.license_id)!
      const problem = licenseProblem(license, now)
      if (problem) {
        q.run('delete from leases where id = ?', leaseId)
        this.freed(row)
        return {refusal: problem}
      }
      const policy = this.policy(q, row.license_id)
      const ttl = policy?.leaseTtl ?? this.settings.leaseTtl
      const expiresAt = capExpiry(now + ttl, license)
      q.run('update leases set renewed_at = ?, expires_at = ? where id = ?', now, expiresAt, leaseId)
      return {lease: {...fromRow(row), renewedAt: now, expiresAt}, ttl, features: Number(license.features)}
    })
    if ('refusal' in outcome) throw outcome.refusal
    const {lease, ttl, features} = outcome
    return {lease, ttl, token: await leaseToken(lease, features, issuer)}
  }

  /**
   * Frees a lease's seat at once, or, when its license's policy has a linger, at the linger's end
   * (`lingersUntil`). Releasing a lease that is gone or released already changes nothing.
   */
  async release(id: string, scope: SeatScope = {}): Promise<{released: boolean; leaseId: string; lingersUntil?: number}> {
    const leaseId = checkId(id, 'lease id')
    const now = epochSeconds(this.ctx.clock)
    const outcome = await this.ctx.store.runSync((q): {freed?: FreedRow; lingersUntil?: number} | undefined => {
      const row = q.get<FreedRow & {released_at: number | null; expires_at: number}>("select license_id, product_code, released_at, expires_at from leases where id = ? and kind = 'lease'", leaseId)
      if (!row || row.released_at !== null || !inScope(q, row.license_id, scope)) return undefined
      const linger = this.policy(q, row.license_id)?.linger
      if (linger && Number(row.expires_at) > now) {
        const lingersUntil = capExpiry(now + linger, q.get<Pick<LicenseRow, 'expires_at'>>('select expires_at from licenses where id = ?', row.license_id)!)
        q.run('update leases set released_at = ?, expires_at = ? where id = ?', now, lingersUntil, leaseId)
        return {lingersUntil}
      }
      q.run('delete from leases where id = ?', leaseId)
      return {freed: row}
    })
    if (outcome?.freed) this.freed(outcome.freed)
    return {released: outcome !== undefined, leaseId, ...(outcome?.lingersUntil === undefined ? {} : {lingersUntil: outcome.lingersUntil})}
  }

  /** Takes a seat offline for `duration` seconds, as a signed borrow file. */
  async borrow(input: BorrowInput, scope: SeatScope = {}): Promise<BorrowGrant> {
    const who = checkRequester(input)
    const target = checkTarget(input)
    const duration = parseUint(input.duration, 'duration', SEAT_RANGES.borrowSeconds, {required: true})!
    const {vendor, signer} = await this.signing()
    const now = epochSeconds(this.ctx.clock)
    const {borrow, features, usedAfter} = await this.ctx.store.write(async (tx, q) => {
      const candidates = this.candidates(q, target, now, scope)
      let refusal: LicadmError | undefined
      for (const license of candidates) {
        this.checkAccess(q, Number(license.product_code), who)
        const policy = this.policy(q, license.id)
        const maxSeconds = policy?.borrowMaxSeconds ?? this.settings.borrowMaxSeconds
        if (duration > maxSeconds) {
          throw new LicadmError('BORROW_TOO_LONG', ExitCode.conflict, `a seat of license ${license.id} can be borrowed for at most ${formatDuration(maxSeconds)}, not ${formatDuration(duration)}`, {
            hint: `Borrow for ${formatDuration(maxSeconds)} or less.`,
            details: {maxSeconds, requested: duration},
          })
        }
        const maxSeats = Math.min(policy?.borrowMaxSeats ?? this.settings.borrowMaxSeats ?? license.quantity, license.quantity)
        const {borrowed} = q.get<{borrowed: number}>("select count(*) as borrowed from leases where license_id = ? and kind = 'borrow' and expires_at > ?", license.id, now)!
        if (Number(borrowed) >= maxSeats) {
          refusal ??= new LicadmError('BORROW_LIMIT', ExitCode.conflict, `license ${license.id} has ${maxSeats} of its seats borrowed already, the most allowed`, {
            hint: 'Wait until a borrowed seat is returned or expires.',
            details: {licenseId: license.id, borrowed: Number(borrowed), maxSeats},
          })
          continue
        }
        const need = this.seatsNeeded(q, license, 'checkout', who, now, policy?.maxPerUser ?? null)
        if (need instanceof LicadmError) {
          refusal ??= need
          continue
        }
        const lease = this.newLease('borrow', license, who, 'checkout', need.seats, now, duration)
        insertLease(q, lease)
        await appendAudit(tx, this.ctx, {action: 'seat.borrow', subject: `license:${license.id}`, after: {borrow: lease.id, user: who.user, host: who.host, expiresAt: lease.expiresAt}})
        return {borrow: lease, features: Number(license.features), usedAfter: need.usedAfter}
      }
      throw refusal!
    }).catch((error: unknown) => this.refused(error, who))
    this.counter.granted(borrow.licenseId, borrow.user, now, usedAfter)
    return {borrow, file: armorBorrow(signBorrow(seatClaims(borrow, features, vendor), signer))}
  }

  /** Returns a borrowed seat early. */
  async returnBorrow(id: string, scope: SeatScope = {}): Promise<{returned: boolean; borrowId: string}> {
    const borrowId = checkId(id, 'borrow id')
    return this.ctx.store.write(async (tx, q) => {
      const row = await tx.selectFrom('leases').select(['license_id', 'product_code', 'expires_at']).where('id', '=', borrowId).where('kind', '=', 'borrow').executeTakeFirst()
      if (!row || !inScope(q, row.license_id, scope)) return {returned: false, borrowId}
      await tx.deleteFrom('leases').where('id', '=', borrowId).execute()
      this.freed(row)
      await appendAudit(tx, this.ctx, {action: 'seat.return', subject: `license:${row.license_id}`, before: {borrow: borrowId}})
      return {returned: true, borrowId}
    })
  }

  /** An admin frees any lease or borrow (the remedy for a seat stuck after a crash). */
  async forceRelease(id: string): Promise<Lease> {
    const leaseId = checkId(id, 'lease id')
    return this.ctx.store.write(async (tx) => {
      const row = await tx.selectFrom('leases').selectAll().where('id', '=', leaseId).executeTakeFirst()
      if (!row) throw leaseNotFound(leaseId)
      await tx.deleteFrom('leases').where('id', '=', leaseId).execute()
      this.freed(row)
      const lease = fromRow(row)
      await appendAudit(tx, this.ctx, {action: 'seat.force-release', subject: `license:${lease.licenseId}`, before: {lease: lease.id, kind: lease.kind, user: lease.user, host: lease.host}})
      return lease
    })
  }

  /**
   * Deletes every lease and borrow past its expiry; returns how many seats were reclaimed. Then adds
   * the usage counted since the last sweep to the store (see UsageCounter).
   */
  async sweep(): Promise<number> {
    const now = epochSeconds(this.ctx.clock)
    const gone = await this.ctx.store.db.deleteFrom('leases').where('expires_at', '<=', now).returning(['license_id', 'product_code', 'released_at']).execute()
    for (const row of gone) {
      // A lingering lease was released: its end is no missed heartbeat.
      if (row.released_at === null) this.counter.reclaimed(row.license_id, now)
      this.freed(row)
    }
    await this.flushUsage()
    return gone.length
  }

  /**
   * Seat usage per concurrent license from `since` to `until` (UTC days, YYYY-MM-DD, both included;
   * by default the `days` (30) days to today): the most seats in use at once, checkouts, denials for want of
   * a free seat, reclaimed leases, the days on which every seat was taken, and each user's checkouts
   * and denials. Licenses revoked before the period are left out.
   */
  async usageReport(filter: {license?: string; since?: string; until?: string; days?: unknown} = {}): Promise<UsageReport> {
    const licenseId = filter.license === undefined ? undefined : checkId(filter.license, 'license')
    const until = filter.until === undefined ? isoDay(epochSeconds(this.ctx.clock)) : parseDay(filter.until, 'until')
    if (filter.since !== undefined && filter.days !== undefined) throw new InvalidValueError('days', 'give the first day (since) or a number of days, not both')
    const days = parseUint(filter.days ?? 30, 'days', USAGE_DAYS, {required: true})!
    const since = filter.since === undefined ? dayBefore(until, days - 1) : parseDay(filter.since, 'since')
    if (since > until) throw new InvalidValueError('since', `${since} is after ${until}: the report's first day comes before its last`)
    await this.flushUsage()
    // The days of the report, and of the one license asked for.
    const within = `day >= ? and day <= ?${licenseId === undefined ? '' : ' and license_id = ?'}`
    const bounds = licenseId === undefined ? [since, until] : [since, until, licenseId]
    return this.ctx.store.runSync((q) => {
      const rows = q.all<UsageDay & {license_id: string}>(`select license_id, day, peak, checkouts, denials, reclaimed from seat_usage_days where ${within}`, ...bounds)
      const active = new Set(rows.map((r) => r.license_id))
      let licenses = q.all<{id: string; product_code: number; quantity: number; kind: string; status: string}>(
        `select id, product_code, quantity, kind, status from licenses where kind = 'concurrent'${licenseId === undefined ? '' : ' and id = ?'} order by id`,
        ...(licenseId === undefined ? [] : [licenseId]),
      )
      if (licenseId !== undefined && licenses.length === 0) {
        const single = q.get('select id from licenses where id = ?', licenseId)
        if (!single) throw new NotFoundError('license', licenseId)
        throw notConcurrent(licenseId, ' to report on')
      }
      licenses = licenses.filter((l) => l.status !== 'revoked' || active.has(l.id))
      const users = q.all<UserUsage & {license_id: string}>(`select license_id, "user", sum(checkouts) as checkouts, sum(denials) as denials from seat_usage_users where ${within} group by license_id, "user"`, ...bounds)
      return summarizeUsage(since, until, licenses, rows, users)
    })
  }

  /** Adds the usage counted in memory to the store (the server does it once more when it stops). */
  async flushUsage(): Promise<void> {
    if (!this.counter.dirty) return
    const now = epochSeconds(this.ctx.clock)
    await this.ctx.store.writeSync((q) => this.counter.flush(q, now))
  }

  /**
   * Who has what: each concurrent license with its seats used and its holders; with `user` or
   * `host`, only the holders of that user or host are listed (the seats used stay the license's).
   */
  async list(filter: {license?: string; product?: unknown; holders?: boolean; user?: string; host?: string} = {}, scope: SeatScope = {}): Promise<SeatUsage[]> {
    const now = epochSeconds(this.ctx.clock)
    let q = this.ctx.store.db
      .selectFrom('licenses')
      .select(['id', 'product_code', 'kind', 'quantity', 'features', 'status', 'not_before', 'expires_at'])
      .where('kind', '=', 'concurrent')
      .where('status', '!=', 'revoked')
      .orderBy('id')
      .limit(10_000)
    if (filter.license !== undefined) q = q.where('id', '=', checkId(filter.license, 'license'))
    if (filter.product !== undefined) q = q.where('product_code', '=', parseUint(filter.product, 'product', LIMITS.code)!)
    if (scope.container !== undefined) q = q.where('id', 'in', this.ctx.store.db.selectFrom('container_licenses').select('license_id').where('serial', '=', scope.container))
    const licenses = await q.execute()
    if (filter.license !== undefined && licenses.length === 0) throw new NotFoundError('license', filter.license)
    const leases = await this.ctx.store.db.selectFrom('leases').selectAll().where('expires_at', '>', now).orderBy('created_at').orderBy('id').execute()
    const leasesByLicense = byLicense(leases, fromRow)
    const policies = new Map((await this.ctx.store.db.selectFrom('seat_policies').selectAll().execute()).map((p) => [p.license_id, p.mode]))
    const reserved = new Map(
      (await this.ctx.store.db.selectFrom('seat_reservations').select(['license_id', (eb) => eb.fn.sum<number>('seats').as('seats')]).groupBy('license_id').execute()).map((r) => [r.license_id, Number(r.seats)]),
    )
    return licenses.map((l) => {
      const holders = leasesByLicense.get(l.id) ?? []
      return {
        licenseId: l.id,
        productCode: Number(l.product_code),
        features: Number(l.features),
        mode: policies.get(l.id) ?? 'checkout',
        quantity: l.quantity,
        used: seatsUsed(holders),
        borrowed: holders.filter((h) => h.kind === 'borrow').length,
        expiresAt: l.expires_at === null ? null : Number(l.expires_at),
        reserved: reserved.get(l.id) ?? 0,
        holders: filter.holders === false ? [] : holders.filter((h) => (filter.user === undefined || h.user === filter.user) && (filter.host === undefined || h.host === filter.host)),
      }
    })
  }

  /**
   * Sets a license's counting mode, lease TTL, borrow limits (null: the server's setting) and
   * per-user cap (null: none). It replaces the license's policy; with `merge`, the settings not
   * given (undefined) keep their current values instead, read in the same transaction.
   */
  async setPolicy(input: PolicyInput, options: {merge?: boolean} = {}): Promise<SeatPolicy> {
    const licenseId = checkId(input.license, 'license')
    const given = policySettings(input)
    return this.ctx.store.write(async (tx, q) => {
      const license = await tx.selectFrom('licenses').select(['id', 'kind']).where('id', '=', licenseId).executeTakeFirst()
      if (!license) throw new NotFoundError('license', licenseId)
      const before = this.policy(q, licenseId)
      const base = options.merge && before ? before : {licenseId, mode: 'checkout' as SeatMode, leaseTtl: null, borrowMaxSeconds: null, borrowMaxSeats: null, maxPerUser: null, linger: null}
      const policy: SeatPolicy = {...base, ...given}
      const row = policyRow(policy)
      await tx.insertInto('seat_policies').values({license_id: licenseId, ...row}).onConflict((oc) => oc.column('license_id').doUpdateSet(row)).execute()
      this.policies.delete(licenseId)
      this.queue.wakeAll()
      await appendAudit(tx, this.ctx, {action: 'seat.policy', subject: `license:${licenseId}`, ...(before ? {before: policyRow(before)} : {}), after: row})
      return policy
    })
  }

  /** A license's own seat policy; null when it has none (the server's settings apply). */
  async getPolicy(license: string): Promise<SeatPolicy | null> {
    const licenseId = checkId(license, 'license')
    return this.ctx.store.runSync((q) => {
      if (!q.get('select id from licenses where id = ?', licenseId)) throw new NotFoundError('license', licenseId)
      return this.policy(q, licenseId)
    })
  }

  // ---- access rules ----

  async listRules(product?: unknown): Promise<AccessRules[]> {
    let q = this.ctx.store.db.selectFrom('access_rules').selectAll().orderBy('product_code').orderBy('id')
    const code = product === undefined ? undefined : parseUint(product, 'product', LIMITS.code, {required: true})!
    if (code !== undefined) q = q.where('product_code', '=', code)
    const rows = await q.execute()
    let dq = this.ctx.store.db.selectFrom('access_defaults').selectAll()
    if (code !== undefined) dq = dq.where('product_code', '=', code)
    const defaults = new Map((await dq.execute()).map((d) => [Number(d.product_code), d.action]))
    const products = new Set<number>([...rows.map((r) => Number(r.product_code)), ...defaults.keys()])
    if (code !== undefined) products.add(code)
    return [...products].sort((a, b) => a - b).map((p) => ({
      productCode: p,
      defaultAction: defaults.get(p) ?? 'allow',
      rules: rows.filter((r) => Number(r.product_code) === p).map(toRule),
    }))
  }

  async addRule(input: {product: unknown; action: string; subject: string; pattern: string}): Promise<AccessRule> {
    const productCode = parseUint(input.product, 'product', LIMITS.code, {required: true})!
    const action = checkAction(input.action)
    const subject = checkSubject(input.subject)
    const pattern = checkPattern(subject, input.pattern)
    const now = epochSeconds(this.ctx.clock)
    const rule = await this.ctx.store.write(async (tx) => {
      const res = await tx.insertInto('access_rules').values({product_code: productCode, action, subject, pattern, created_at: now}).executeTakeFirstOrThrow()
      await appendAudit(tx, this.ctx, {action: 'access.rule-add', subject: `product:${productCode}`, after: {action, subject, pattern}})
      return {id: Number(res.insertId), productCode, action, subject, pattern, createdAt: now}
    })
    this.rules.delete(productCode)
    return rule
  }

  async removeRule(id: unknown): Promise<AccessRule> {
    const ruleId = parseUint(id, 'rule id', {min: 1, max: Number.MAX_SAFE_INTEGER}, {required: true})!
    const rule = await this.ctx.store.write(async (tx) => {
      const row = await tx.selectFrom('access_rules').selectAll().where('id', '=', ruleId).executeTakeFirst()
      if (!row) throw new NotFoundError('access rule', ruleId)
      await tx.deleteFrom('access_rules').where('id', '=', ruleId).execute()
      await appendAudit(tx, this.ctx, {action: 'access.rule-remove', subject: `product:${row.product_code}`, before: {action: row.action, subject: row.subject, pattern: row.pattern}})
      return toRule(row)
    })
    this.rules.delete(rule.productCode)
    return rule
  }

  async setDefaultAction(product: unknown, action: string): Promise<{productCode: number; defaultAction: RuleAction}> {
    const productCode = parseUint(product, 'product', LIMITS.code, {required: true})!
    const defaultAction = checkAction(action)
    await this.ctx.store.write(async (tx) => {
      await tx.insertInto('access_defaults').values({product_code: productCode, action: defaultAction}).onConflict((oc) => oc.column('product_code').doUpdateSet({action: defaultAction})).execute()
      await appendAudit(tx, this.ctx, {action: 'access.default', subject: `product:${productCode}`, after: {action: defaultAction}})
    })
    this.rules.delete(productCode)
    return {productCode, defaultAction}
  }

  // ---- reservations ----

  /** The reservations of one license (or of every license), oldest first, with the seats of each in use. */
  async listReservations(license?: string): Promise<ReservationUsage[]> {
    const licenseId = license === undefined ? undefined : checkId(license, 'license')
    const now = epochSeconds(this.ctx.clock)
    return this.ctx.store.runSync((q) => {
      if (licenseId !== undefined && !q.get('select id from licenses where id = ?', licenseId)) throw new NotFoundError('license', licenseId)
      const ids = licenseId !== undefined ? [licenseId] : q.all<{license_id: string}>('select distinct license_id from seat_reservations order by license_id').map((r) => r.license_id)
      return ids.flatMap((id) => {
        const reservations = this.reservationsOf(q, id)
        const inUse = reservedInUse(reservations, this.holdersOf(q, id, now))
        return reservations.map(({block: _b, ...r}, i) => ({...r, inUse: inUse[i]}))
      })
    })
  }

  /**
   * Keeps seats of a concurrent license for a user, host or address. The license's reservations
   * together keep at most its quantity; seats in use by others stay theirs until released.
   */
  async addReservation(input: ReservationInput): Promise<SeatReservation> {
    const licenseId = checkId(input.license, 'license')
    const subject = checkSubject(input.subject)
    const pattern = checkPattern(subject, input.pattern)
    const seats = parseUint(input.seats, 'seats', SEAT_RANGES.reservedSeats, {required: true})!
    const now = epochSeconds(this.ctx.clock)
    return this.ctx.store.write(async (tx, q) => {
      const license = q.get<{id: string; kind: string; quantity: number}>('select id, kind, quantity from licenses where id = ?', licenseId)
      if (!license) throw new NotFoundError('license', licenseId)
      if (license.kind !== 'concurrent') {
        throw notConcurrent(licenseId, ' to reserve')
      }
      const {kept} = q.get<{kept: number}>('select coalesce(sum(seats), 0) as kept from seat_reservations where license_id = ?', licenseId)!
      if (Number(kept) + seats > license.quantity) {
        throw new LicadmError('OVER_RESERVED', ExitCode.conflict, `license ${licenseId} has ${license.quantity} seat(s), ${kept} of them reserved already: ${seats} more cannot be reserved`, {
          hint: `Reserve ${Math.max(0, license.quantity - Number(kept))} seat(s) or fewer, or remove a reservation first ("licadm server reservations list --license ${licenseId}").`,
          details: {licenseId, quantity: license.quantity, reserved: Number(kept), requested: seats},
        })
      }
      const res = await tx.insertInto('seat_reservations').values({license_id: licenseId, subject, pattern, seats, created_at: now}).executeTakeFirstOrThrow()
      await appendAudit(tx, this.ctx, {action: 'seat.reserve', subject: `license:${licenseId}`, after: {subject, pattern, seats}})
      this.reservationSets.delete(licenseId)
      return {id: Number(res.insertId), licenseId, subject, pattern, seats, createdAt: now}
    })
  }

  /** Ends a reservation: its seats are free for anyone again. */
  async removeReservation(id: unknown): Promise<SeatReservation> {
    const reservationId = parseUint(id, 'reservation id', {min: 1, max: Number.MAX_SAFE_INTEGER}, {required: true})!
    return this.ctx.store.write(async (tx, q) => {
      const row = q.get<Selectable<SeatReservationTable>>('select * from seat_reservations where id = ?', reservationId)
      if (!row) throw new NotFoundError('reservation', reservationId, {hint: 'List the reservations with "licadm server reservations list".'})
      q.run('delete from seat_reservations where id = ?', reservationId)
      await appendAudit(tx, this.ctx, {action: 'seat.unreserve', subject: `license:${row.license_id}`, before: {subject: row.subject, pattern: row.pattern, seats: Number(row.seats)}})
      this.reservationSets.delete(row.license_id)
      this.queue.wakeAll()
      return toReservation(row)
    })
  }

  // ---- internals ----

  /** A lease or borrow is gone: the first checkout waiting for a seat of its license tries again. */
  private freed(row: FreedRow): void {
    if (this.queue.length > 0) queueMicrotask(() => this.queue.freed({licenseId: row.license_id, productCode: Number(row.product_code)}))
  }

  /** Counts a refusal for want of a free seat in the usage report, and passes every refusal on. */
  private refused(error: unknown, who: Requester): never {
    if (error instanceof LicadmError && error.code === 'NO_SEAT_FREE' && typeof error.details?.licenseId === 'string') this.counter.denied(error.details.licenseId, who.user, epochSeconds(this.ctx.clock))
    throw error
  }

  /** Whether a requester may use a product's seats, and which rule decided. */
  private verdict(q: SyncSql, product: number, who: Requester): {allowed: boolean; reason: string} {
    const set = this.ruleSet(q, product)
    const match = (rule: AccessRule): boolean => subjectMatches(rule, set.blocks.get(rule.id), who)
    for (const rule of set.rules) {
      if (rule.action === 'deny' && match(rule)) return {allowed: false, reason: `${rule.subject} ${subjectValue(rule.subject, who)} is denied for product ${product} (rule ${rule.id}: deny ${rule.subject} ${rule.pattern})`}
    }
    for (const rule of set.rules) {
      if (rule.action === 'allow' && match(rule)) return {allowed: true, reason: `rule ${rule.id}`}
    }
    if (set.defaultAction === 'deny') return {allowed: false, reason: `product ${product} denies everyone not allowed by a rule, and no rule allows user ${who.user} on host ${who.host}${who.address ? ` from ${who.address}` : ''}`}
    return {allowed: true, reason: 'default'}
  }

  private checkAccess(q: SyncSql, product: number, who: Requester): void {
    const verdict = this.verdict(q, product, who)
    if (!verdict.allowed) {
      throw new LicadmError('ACCESS_DENIED', ExitCode.auth, `access denied: ${verdict.reason}`, {
        hint: 'Ask the license server administrator to allow you.',
        details: {product, user: who.user, host: who.host, address: who.address ?? null},
      })
    }
  }

  /** Rules, reservations and policies changed by another process (a commit on another connection) are read again. */
  private syncCaches(q: SyncSql): void {
    const version = q.dataVersion()
    if (version !== this.cachedVersion) {
      this.rules.clear()
      this.reservationSets.clear()
      this.policies.clear()
      this.cachedVersion = version
    }
  }

  private ruleSet(q: SyncSql, product: number) {
    this.syncCaches(q)
    let set = this.rules.get(product)
    if (!set) {
      const rows = q.all<Selectable<AccessRuleTable>>('select * from access_rules where product_code = ? order by id', product)
      const def = q.get<{action: RuleAction}>('select action from access_defaults where product_code = ?', product)
      const rules = rows.map(toRule)
      const blocks = new Map<number, BlockList>()
      for (const r of rules) if (r.subject === 'address') blocks.set(r.id, addressBlock(r.pattern))
      set = {defaultAction: def?.action ?? 'allow', rules, blocks}
      this.rules.set(product, set)
    }
    return set
  }

  /** A license's reservations, oldest first, compiled. */
  private reservationsOf(q: SyncSql, licenseId: string): CompiledReservation[] {
    this.syncCaches(q)
    let set = this.reservationSets.get(licenseId)
    if (!set) {
      set = q.all<Selectable<SeatReservationTable>>('select * from seat_reservations where license_id = ? order by id', licenseId).map(toReservation).map((r) => ({...r, block: r.subject === 'address' ? addressBlock(r.pattern) : undefined}))
      this.reservationSets.set(licenseId, set)
    }
    return set
  }

  private policy(q: SyncSql, licenseId: string): SeatPolicy | null {
    this.syncCaches(q)
    let policy = this.policies.get(licenseId)
    if (policy === undefined) {
      const row = q.get<SeatPolicyTable>('select * from seat_policies where license_id = ?', licenseId)
      policy = row
        ? {licenseId, mode: row.mode, leaseTtl: row.lease_ttl, borrowMaxSeconds: row.borrow_max_seconds, borrowMaxSeats: row.borrow_max_seats, maxPerUser: row.max_per_user, linger: row.linger || null}
        : null
      this.policies.set(licenseId, policy)
    }
    return policy
  }

  /** The licenses a request may take a seat of, best first; refuses when none is usable at all. */
  private candidates(q: SyncSql, target: {license?: string; product?: number; features: number}, now: number, scope: SeatScope): LicenseRow[] {
    if (target.license !== undefined) {
      // Before anything about the license is said: a container's credential learns only of its own.
      if (!inScope(q, target.license, scope)) throw notInContainer(target.license, scope.container!)
      // One statement for the license and its seats in use (the hot path of every checkout).
      const row = q.get<LicenseRow>(`${LICENSE_WITH_USED} where l.id = ?`, now, now, target.license)
      if (!row) throw new NotFoundError('license', target.license)
      const problem = licenseProblem(row, now)
      if (problem) throw problem
      if ((Number(row.features) & target.features) >>> 0 !== target.features) {
        throw new LicadmError('FEATURES_NOT_LICENSED', ExitCode.conflict, `license ${row.id} has features 0x${Number(row.features).toString(16)}, which do not include 0x${target.features.toString(16)}`, {
          details: {licenseId: row.id, features: Number(row.features), requested: target.features},
        })
      }
      return [row]
    }
    const rows = q.all<LicenseRow>(`${LICENSE_WITH_USED} where l.product_code = ? and l.kind = 'concurrent' order by l.id`, now, now, target.product!)
    const matching = rows.filter((r) => (Number(r.features) & target.features) >>> 0 === target.features && inScope(q, r.id, scope))
    if (matching.length === 0) {
      const where = scope.container === undefined ? 'on this server' : `in container ${scope.container}`
      throw new LicadmError('NO_LICENSE', ExitCode.notFound, `no concurrent license of product ${target.product}${target.features ? ` with features 0x${target.features.toString(16)}` : ''} is ${where}`, {
        details: {product: target.product, features: target.features, ...(scope.container === undefined ? {} : {container: scope.container})},
      })
    }
    const usable = matching.filter((r) => licenseProblem(r, now) === null)
    if (usable.length === 0) throw licenseProblem(matching[0], now)!
    return usable
  }

  /**
   * Seats a new lease takes on this license and the seats in use with it (a station that holds one
   * already takes no new seat: null), or why none is free: the user holds the most the policy allows (`maxPerUser`), or the license is full.
   * `count`: the seats asked for at once (a license counting per checkout only); a count the license
   * or its policy could never grant is refused as such, not waited for.
   */
  private seatsNeeded(q: SyncSql, license: LicenseRow, mode: SeatMode, who: Requester, now: number, maxPerUser: number | null, count = 1): Seats | LicadmError {
    if (count > 1) {
      const never = seatCountRefusal(license, mode, count, maxPerUser)
      if (never) return never
    }
    if (mode === 'station') {
      const same = q.get(
        `select id from leases where license_id = ? and kind = 'lease' and mode = 'station' and "user" = ? and host = ? and expires_at > ? limit 1`,
        license.id,
        who.user,
        who.host,
        now,
      )
      if (same) return {seats: 1, usedAfter: null}
    }
    const need = mode === 'exclusive' ? license.quantity : count
    if (maxPerUser !== null) {
      const held = seatsUsed(q.all<LeaseTable>('select "user", host, kind, mode, seats from leases where license_id = ? and "user" = ? and expires_at > ?', license.id, who.user, now))
      if (held + need > maxPerUser) return userLimit(license.id, who.user, held, need, maxPerUser, mode)
    }
    // `plain` counts the seats of every unexpired lease but station ones; station leases (if any) count
    // once per station, so then the holders are read (once, for the reservations too).
    const counted = license.stations === 0 && license.plain !== undefined ? undefined : this.holdersOf(q, license.id, now)
    const used = counted ? seatsUsed(counted) : Number(license.plain)
    const kept = this.keptForOthers(q, license.id, who, now, license.quantity - used - need, counted)
    if (used + need + kept.seats <= license.quantity && !(mode === 'exclusive' && used > 0)) return {seats: need, usedAfter: used + need}
    const holders = this.settings.hideHolders
      ? undefined
      : q.all<LeaseTable>('select * from leases where license_id = ? and expires_at > ? order by created_at, id limit 50', license.id, now).map(fromRow)
    const who_ = holders && holderNames(holders)
    const free = Math.max(0, license.quantity - used - kept.seats)
    const asked = count === 1 ? `no seat of license ${license.id} is free` : `only ${free} of the ${count} seats asked of license ${license.id} ${free === 1 ? 'is' : 'are'} free`
    return new LicadmError(
      'NO_SEAT_FREE',
      ExitCode.conflict,
      `${asked}${kept.seats ? ` for user ${who.user} on host ${who.host}` : ''}: ${used} of ${license.quantity} in use${mode === 'exclusive' ? ' (exclusive: the license is taken whole)' : ''}${who_ ? ` by ${who_.slice(0, 10).join(', ')}${who_.length > 10 ? ', …' : ''}` : ''}${kept.seats ? `; ${kept.seats} more reserved for ${kept.for.join(', ')}` : ''}`,
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
    )
  }

  /**
   * The seats of a license that reservations keep for others than `who`: each reservation's seats
   * less those its own holders use now (see reservedInUse). Counted only when the reservations could
   * matter, when all they keep is more than the seats `free` after this checkout; otherwise (and
   * for a license without reservations) it costs no statement. `holders`: the license's, when read already.
   */
  private keptForOthers(q: SyncSql, licenseId: string, who: Requester, now: number, free: number, holders?: HolderRow[]): {seats: number; for: string[]} {
    const reservations = this.reservationsOf(q, licenseId)
    if (reservations.length === 0 || reservations.reduce((sum, r) => sum + r.seats, 0) <= free) return NONE_KEPT
    const inUse = reservedInUse(reservations, holders ?? this.holdersOf(q, licenseId, now))
    let seats = 0
    const others: string[] = []
    reservations.forEach((r, i) => {
      if (subjectMatches(r, r.block, who) || inUse[i] >= r.seats) return
      seats += r.seats - inUse[i]
      others.push(`${r.subject} ${r.pattern}`)
    })
    return {seats, for: others}
  }

  /** The unexpired leases and borrows of a license, as far as counting and matching need them. */
  private holdersOf(q: SyncSql, licenseId: string, now: number): HolderRow[] {
    return q.all<HolderRow>('select "user", host, address, kind, mode, seats from leases where license_id = ? and expires_at > ?', licenseId, now)
  }
}

export interface PolicyInput {
  license: string
  mode?: string
  leaseTtl?: unknown
  borrowMaxSeconds?: unknown
  borrowMaxSeats?: unknown
  maxPerUser?: unknown
  linger?: unknown
}

/** The policy settings an input gives, checked; a setting left undefined is absent, null is "the default". */
function policySettings(input: PolicyInput): Partial<Omit<SeatPolicy, 'licenseId'>> {
  const given: Partial<Omit<SeatPolicy, 'licenseId'>> = {}
  if (input.mode !== undefined) {
    if (!SEAT_MODES.includes(input.mode as SeatMode)) throw new InvalidValueError('mode', `"${input.mode}" is not a seat mode: use ${SEAT_MODES.join(', ')}`)
    given.mode = input.mode as SeatMode
  }
  if (input.leaseTtl !== undefined) given.leaseTtl = parseUint(input.leaseTtl, 'leaseTtl', SEAT_RANGES.leaseTtl)
  if (input.borrowMaxSeconds !== undefined) given.borrowMaxSeconds = parseUint(input.borrowMaxSeconds, 'borrowMaxSeconds', SEAT_RANGES.borrowSeconds)
  if (input.borrowMaxSeats !== undefined) given.borrowMaxSeats = parseUint(input.borrowMaxSeats, 'borrowMaxSeats', SEAT_RANGES.borrowSeats)
  if (input.maxPerUser !== undefined) given.maxPerUser = parseUint(input.maxPerUser, 'maxPerUser', SEAT_RANGES.maxPerUser)
  if (input.linger !== undefined) given.linger = parseUint(input.linger, 'linger', SEAT_RANGES.linger) || null
  return given
}

function policyRow(p: SeatPolicy) {
  return {mode: p.mode, lease_ttl: p.leaseTtl, borrow_max_seconds: p.borrowMaxSeconds, borrow_max_seats: p.borrowMaxSeats, max_per_user: p.maxPerUser, linger: p.linger}
}

/**
 * Deletes the lingering lease (released, its seat still taken) of `who` on this license, if any,
 * under the savepoint "lingering": the caller releases it once the new lease is in, or rolls back
 * to it when the checkout is refused, so the lingering seat stays as it was.
 */
function takeBackLingering(q: SyncSql, licenseId: string, who: Requester, now: number): boolean {
  const row = q.get<{id: string}>('select id from leases where license_id = ? and "user" = ? and host = ? and released_at is not null and expires_at > ? limit 1', licenseId, who.user, who.host, now)
  if (!row) return false
  q.run('savepoint lingering')
  q.run('delete from leases where id = ?', row.id)
  return true
}

/** A heartbeat for a lease released while its seat lingers. */
function lingering(row: LeaseTable): LicadmError {
  return new LicadmError('LEASE_NOT_FOUND', ExitCode.notFound, `lease ${row.id} was released at ${isoSeconds(Number(row.released_at))}; its seat lingers until ${isoSeconds(Number(row.expires_at))} for a checkout by user ${row.user} on host ${row.host}`, {
    hint: 'Check out again: the same user on the same host takes the lingering seat back.',
    details: {leaseId: row.id, releasedAt: isoSeconds(Number(row.released_at)), lingersUntil: isoSeconds(Number(row.expires_at))},
  })
}

/** The refusal for a user who would hold more seats of a license than its policy allows. */
/**
 * Who holds a full license's seats, one entry per holder (user@host, marked borrowed or lingering)
 * with the seats they hold together: checkout leases add their seats, a station's leases count
 * once, as the license counts them.
 */
function holderNames(holders: Lease[]): string[] {
  const seats = new Map<string, number>()
  for (const h of holders) {
    const name = `${h.user}@${h.host}${h.kind === 'borrow' ? ' (borrowed)' : h.releasedAt !== null ? ' (lingering)' : ''}`
    const held = seats.get(name) ?? 0
    seats.set(name, h.mode === 'station' && h.kind === 'lease' ? Math.max(held, 1) : held + (h.mode === 'checkout' ? h.seats : 1))
  }
  return [...seats].map(([name, n]) => (n > 1 ? `${name} ×${n}` : name))
}

function userLimit(licenseId: string, user: string, held: number, need: number, maxPerUser: number, mode: SeatMode): LicadmError {
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
function seatCountRefusal(license: LicenseRow, mode: SeatMode, count: number, maxPerUser: number | null): LicadmError | null {
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

/** What a lease token and a borrow file say about their seat. */
function seatClaims(lease: Lease, features: number, vendor: Vendor): SeatClaims {
  return {
    iss: String(vendor.code),
    sub: lease.id,
    jti: lease.id,
    iat: lease.renewedAt,
    exp: lease.expiresAt,
    lic: lease.licenseId,
    product: lease.productCode,
    features,
    user: lease.user,
    host: lease.host,
    mode: lease.mode,
    // Several seats taken at once by one checkout (an exclusive lease's are the license's quantity).
    ...(lease.mode === 'checkout' && lease.seats > 1 ? {seats: lease.seats} : {}),
  }
}

/** signLease's JWS (formats/lease.ts), signed off the main thread: every checkout and heartbeat makes one. */
function leaseToken(lease: Lease, features: number, {vendor, signer}: {vendor: Vendor; signer: Signer}): Promise<string> {
  return signCompactAsync(LEASE_TYP, seatClaims(lease, features, vendor), signer)
}

/** What a deleted lease says of the seat it frees. */
type FreedRow = Pick<LeaseTable, 'license_id' | 'product_code'>

/** Seats a new lease takes, and the seats in use with it (null: it takes no new seat). */
interface Seats {
  seats: number
  usedAfter: number | null
}

/** A reservation with its address pattern compiled. */
type CompiledReservation = SeatReservation & CountedReservation

const NONE_KEPT: {seats: number; for: string[]} = {seats: 0, for: []}

function licenseProblem(license: LicenseRow, now: number): LicadmError | null {
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
function notConcurrent(licenseId: string, purpose = ''): LicadmError {
  return new LicadmError('NOT_CONCURRENT', ExitCode.conflict, `license ${licenseId} is a single license, not a concurrent one: it has no floating seats${purpose}`, {details: {licenseId}})
}

/** A lease never outlives its license. */
function capExpiry(at: number, license: Pick<LicenseRow, 'expires_at'>): number {
  return license.expires_at === null ? at : Math.min(at, Number(license.expires_at))
}

/** Whether a license is within reach of the request: always for a token, else when the container holds it. */
function inScope(q: SyncSql, licenseId: string, scope: SeatScope): boolean {
  return scope.container === undefined || q.get('select 1 as held from container_licenses where license_id = ? and serial = ?', licenseId, scope.container) !== undefined
}

function notInContainer(licenseId: string, serial: string): LicadmError {
  return new LicadmError('NOT_IN_CONTAINER', ExitCode.auth, `license ${licenseId} is not in container ${serial}: its credential reaches that container's licenses only`, {
    hint: `Check out a license that container holds ("licadm container show ${serial}" lists them), or use a client token.`,
    details: {licenseId, container: serial},
  })
}

function leaseNotFound(id: string): LicadmError {
  return new NotFoundError('lease', id, {hint: 'It was released, reclaimed after its TTL, or removed by an administrator. Check out a new seat.'})
}

function checkText(v: unknown, name: string, required: boolean): string | undefined {
  if (v === undefined || v === null) {
    if (required) throw new InvalidValueError(name, `is required (1 to ${SEAT_TEXT_MAX} characters)`)
    return undefined
  }
  if (typeof v !== 'string') throw new InvalidValueError(name, 'expected a string')
  const s = v.trim()
  if (s === '' || s.length > SEAT_TEXT_MAX) throw new InvalidValueError(name, `give 1 to ${SEAT_TEXT_MAX} characters`)
  return s
}

function checkId(v: unknown, name: string): string {
  return checkText(v, name, true)!
}

function checkRequester(input: Requester): Requester {
  return {
    user: checkText(input.user, 'user', true)!,
    host: checkText(input.host, 'host', true)!,
    process: checkText(input.process, 'process', false),
    address: input.address,
  }
}

function checkTarget(input: CheckoutInput): {license?: string; product?: number; features: number} {
  const license = checkText(input.license, 'license', false)
  const product = parseUint(input.product, 'product', LIMITS.code)
  const features = parseUint(input.features ?? 0, 'features', LIMITS.features, {hex: true})!
  if ((license === undefined) === (product === null)) throw new InvalidValueError('license', 'give either a license id or a product code (and optionally features)')
  return {license, product: product ?? undefined, features}
}

function toRule(r: {id: number; product_code: number; action: RuleAction; subject: RuleSubject; pattern: string; created_at: number}): AccessRule {
  return {id: Number(r.id), productCode: Number(r.product_code), action: r.action, subject: r.subject, pattern: r.pattern, createdAt: Number(r.created_at)}
}

function toReservation(r: Selectable<SeatReservationTable>): SeatReservation {
  return {id: Number(r.id), licenseId: r.license_id, subject: r.subject, pattern: r.pattern, seats: Number(r.seats), createdAt: Number(r.created_at)}
}

function insertLease(q: SyncSql, l: Lease): void {
  const values: SqlValue[] = [l.id, l.licenseId, l.productCode, l.kind, l.mode, l.user, l.host, l.process, l.address, l.seats, l.createdAt, l.renewedAt, l.expiresAt]
  q.run('insert into leases (id, license_id, product_code, kind, mode, "user", host, process, address, seats, created_at, renewed_at, expires_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', ...values)
}

export function fromRow(r: LeaseTable): Lease {
  return {
    id: r.id,
    licenseId: r.license_id,
    productCode: Number(r.product_code),
    kind: r.kind,
    mode: r.mode,
    user: r.user,
    host: r.host,
    process: r.process,
    address: r.address,
    seats: r.seats,
    createdAt: Number(r.created_at),
    renewedAt: Number(r.renewed_at),
    expiresAt: Number(r.expires_at),
    releasedAt: r.released_at === null || r.released_at === undefined ? null : Number(r.released_at),
  }
}

