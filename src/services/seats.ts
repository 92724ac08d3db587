import {createHash, randomFillSync} from 'node:crypto'

import {epochSeconds} from '../domain/clock.js'
import {ConflictError, ExitCode, InvalidValueError, LicadmError, NotFoundError} from '../domain/errors.js'
import {newId} from '../domain/ids.js'
import {LIMITS} from '../domain/license.js'
import {reservedInUse, seatsUsed, type HolderRow} from '../domain/seat-counting.js'
import {SEAT_RANGES, WAITABLE} from '../domain/seat-policy.js'
import {subjectMatches} from '../domain/seat-subjects.js'
import {isoSeconds, parseDay, parseText, parseUint} from '../domain/values.js'
import type {Signer} from '../crypto/keys.js'
import type {Vendor} from '../formats/license.js'
import {armorBorrow, LEASE_TYP, signBorrow, type SeatClaims} from '../formats/lease.js'
import {signCompactAsync} from '../crypto/sign-async.js'
import type {LeaseTable, SeatMode} from '../store/schema-seats.js'
import type {SqlValue, SyncSql} from '../store/store.js'
import {appendAudit} from './audit.js'
import {SeatQueue, serverStopping, type FreedSeat} from './seat-queue.js'
import {byLicense, dayBefore, isoDay, summarizeUsage, USAGE_DAYS, UsageCounter, type UsageDay, type UsageReport, type UserUsage} from './seat-usage.js'
import type {ServiceContext} from './context.js'
import {VendorService} from './vendor.js'
import {borrowTooLong, checkId, checkRequester, checkTarget, leaseNotFound, leavesNoSeat, licenseProblem, lingering, noSeatFree, notConcurrent, notInContainer, seatCountRefusal, userLimit} from './seat-refusals.js'
import {SeatRules, type ReservationUsage} from './seat-rules.js'

export type {SeatMode} from '../store/schema-seats.js'

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
  /**
   * Makes the borrow idempotent while it lasts: the same key with the same input gets the borrow
   * made the first time (`replayed`), not a second seat; with other input it is refused
   * (IDEMPOTENCY_KEY_REUSED). A borrow returned or expired frees its key.
   */
  idempotencyKey?: string
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
  /** True when the idempotency key was used before with the same input: the earlier borrow. */
  replayed: boolean
}

/**
 * What a request may reach: every license (a token), or only the licenses of one enterprise
 * container (its credential; see ContainerService.seatPrincipal).
 */
export interface SeatScope {
  container?: string
}

/** Who signs lease tokens and borrow files: the vendor and the signer of its active key. */
interface Issuer {
  vendor: Vendor
  signer: Signer
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
  /** The server hides who holds the seats from this caller (--hide-holders): holders is empty. */
  holdersHidden: boolean
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
 * force-release, the sweeper's reclaim and the usage report; the access rules, reservations and
 * seat policies they obey are administered through `rules` (SeatRules). Every seat is allocated
 * inside one write transaction (BEGIN IMMEDIATE): the count and the insert see the same leases, so
 * concurrent checkouts never hand out more seats than there are. Checkout, heartbeat and release
 * run their statements synchronously (store.writeSync): they are the license server's hot path.
 */
export class SeatService {
  private readonly vendorService: VendorService
  private issuer?: Promise<Issuer>
  /** What `issuer` resolved to: the signer in use now (see currentSigner). */
  private current?: Issuer
  /** Seat usage per license and day, counted here and flushed to the store by the sweeper. */
  private readonly counter = new UsageCounter()
  /** Checkouts waiting for a seat (see checkout's `waitMs`). */
  readonly queue = new SeatQueue()
  /** Access rules, reservations and seat policies: their administration, and what checkouts read of them. */
  readonly rules: SeatRules

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
    this.rules = new SeatRules(ctx, () => this.queue.wakeAll())
  }

  /**
   * The vendor and its active key, looked up once (the server signs every response with them), and
   * again when followActiveKey finds the key rotated.
   */
  signing(): Promise<Issuer> {
    this.issuer ??= Promise.all([this.vendorService.get(), this.vendorService.signer()]).then(([vendor, signer]) => (this.current = {vendor, signer: this.withSigner(signer)}))
    this.issuer.catch(() => (this.issuer = undefined))
    return this.issuer
  }

  /** The signer in use now; signing() has resolved once before (the server waits for it at start). */
  currentSigner(): Signer {
    if (!this.current) throw new Error('the vendor key is not loaded yet')
    return this.current.signer
  }

  /**
   * Moves to the vendor's active key when it is no longer the one in use ("key rotate", by any
   * process on the store): lease tokens, borrow files and responses are then signed with the key
   * clients pin after the rotation, and a retired or removed key signs nothing more. Returns the
   * new key's id, or null when the key in use is still the active one.
   */
  async followActiveKey(): Promise<string | null> {
    const {vendor, signer} = await this.signing()
    const active = await this.vendorService.activeKid()
    if (active === signer.kid) return null
    const next = {vendor, signer: this.withSigner(await this.ctx.keys.signer(active))}
    this.issuer = Promise.resolve(next)
    this.current = next
    return active
  }

  /**
   * Checks out a seat, or refuses saying why (no seat free, expired, revoked, access denied). With
   * `waitMs`, a checkout refused for want of a free seat (NO_SEAT_FREE, or USER_LIMIT until its user
   * releases one) waits in line (SeatQueue) and tries again when a seat of its license may be free,
   * until it gets one or the time is up (the last refusal then, with `details.place`: the place in
   * line kept for a while for the same checkout, given back as `place`), or `signal` aborts. A request
   * counts as one denial in the usage report, however often it tried while it waited. When the server
   * stops meanwhile (queue.close), the wait ends with SERVER_STOPPING (see serverStopping), not a refusal.
   */
  async checkout(input: CheckoutInput, scope: SeatScope = {}, options: {waitMs?: number; signal?: AbortSignal; place?: number} = {}): Promise<Grant> {
    const who = checkRequester(input)
    const target = checkTarget(input)
    const count = parseUint(input.seats ?? 1, 'seats', SEAT_RANGES.checkoutSeats, {required: true})!
    // Real time: a test clock may stand still while a client waits.
    const deadline = Date.now() + (options.waitMs ?? 0)
    // Who asks for what: a place in line is kept for the same checkout only. Made only for a
    // checkout that waits (not on the hot path of one that does not).
    const holder = () => JSON.stringify([who.user, who.host, who.process ?? null, target.license ?? null, target.product ?? null, target.features, count, scope.container ?? null])
    let place = options.place === undefined ? undefined : this.queue.claim(options.place, holder())
    let woken: FreedSeat | null = null
    for (;;) {
      try {
        const grant = await this.checkoutOnce(who, target, count, scope)
        // By product, it took a seat of another license: the freed one is still there for the next in line.
        if (woken && grant.lease.licenseId !== woken.licenseId) this.queue.passOn(woken, place!)
        return grant
      } catch (error) {
        // The seat that woke this checkout may not be one it can take: the next in line may, unless
        // no seat of that license is left for anyone.
        if (woken && !leavesNoSeat(error, woken.licenseId)) this.queue.passOn(woken, place!)
        if (!(error instanceof LicadmError && WAITABLE.has(error.code))) throw error
        const left = deadline - Date.now()
        if (left <= 0) {
          if (place === undefined) this.refused(error, who)
          // Its place is kept for its next request: the refusal says which.
          this.queue.hold(place, holder())
          this.refused(new LicadmError(error.code, error.exit, error.message, {hint: error.hint, details: {...error.details, place}}), who)
        }
        const outcome = await this.queue.wait({licenseId: target.license, productCode: target.product}, Math.min(left, RECHECK_MS), place, options.signal)
        if ('closed' in outcome) {
          // The server stops: not a refusal of a seat (nor a denial), but "ask again in a moment".
          if (this.queue.closed) throw serverStopping(error)
          this.refused(error, who)
        }
        place = outcome.place
        woken = outcome.woken
      }
    }
  }

  private async checkoutOnce(who: Requester, target: ReturnType<typeof checkTarget>, count: number, scope: SeatScope): Promise<Grant> {
    const issuer = await this.signing()
    const now = epochSeconds(this.ctx.clock)
    const {lease, ttl, features, usedAfter, freedSeats} = await this.ctx.store.writeSync((q) => {
      const candidates = this.candidates(q, target, now, scope)
      let refusal: LicadmError | undefined
      for (const license of candidates) {
        this.rules.checkAccess(q, Number(license.product_code), who)
        const policy = this.rules.policy(q, license.id)
        const mode = policy?.mode ?? 'checkout'
        const ttl = policy?.leaseTtl ?? this.settings.leaseTtl
        // A seat lingering after this user's release on this host is theirs to take back.
        const takenBack = policy?.linger ? takeBackLingering(q, license.id, who, now) : null
        // Its seats in use are read again without the lease taken back.
        const counted = takenBack !== null ? q.get<LicenseRow>(`${LICENSE_WITH_USED} where l.id = ?`, now, now, license.id)! : license
        const need = this.seatsNeeded(q, counted, mode, who, now, policy?.maxPerUser ?? null, count)
        if (need instanceof LicadmError) {
          if (takenBack !== null) q.run('rollback to lingering')
          // A license that may free seats later is the better answer than one that never could.
          if (!refusal || (!WAITABLE.has(refusal.code) && WAITABLE.has(need.code))) refusal = need
          continue
        }
        if (takenBack !== null) q.run('release lingering')
        const lease = this.newLease('lease', license, who, mode, need.seats, now, ttl)
        insertLease(q, lease)
        // A lingering lease of more seats than the new one leaves the rest free for those in line.
        return {lease, ttl, features: Number(license.features), usedAfter: need.usedAfter, freedSeats: Math.max(0, (takenBack ?? 0) - need.seats)}
      }
      throw refusal!
    })
    this.counter.granted(lease.licenseId, lease.user, now, usedAfter)
    this.freed({license_id: lease.licenseId, product_code: lease.productCode, seats: freedSeats})
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
      // Once its linger is over, a released lease is gone, whether or not the sweeper deleted it yet.
      if (row.released_at !== null) throw Number(row.expires_at) > now ? lingering(row) : leaseNotFound(leaseId)
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
      const policy = this.rules.policy(q, row.license_id)
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
   * (`lingersUntil`). Releasing a lease that is gone or released already changes nothing. With
   * `linger: false` the seat is freed at once whatever the policy: the server releases a seat its
   * client never received, which nobody would take back.
   */
  async release(id: string, scope: SeatScope = {}, options: {linger?: boolean} = {}): Promise<{released: boolean; leaseId: string; lingersUntil?: number}> {
    const leaseId = checkId(id, 'lease id')
    const now = epochSeconds(this.ctx.clock)
    const outcome = await this.ctx.store.runSync((q): {freed?: FreedRow; lingersUntil?: number} | undefined => {
      const row = q.get<FreedRow & {released_at: number | null; expires_at: number}>("select license_id, product_code, seats, released_at, expires_at from leases where id = ? and kind = 'lease'", leaseId)
      if (!row || row.released_at !== null || !inScope(q, row.license_id, scope)) return undefined
      const linger = options.linger === false ? null : this.rules.policy(q, row.license_id)?.linger
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
    const key = input.idempotencyKey === undefined ? null : parseText(input.idempotencyKey, 'idempotencyKey', {required: true, blank: 'refuse'})!
    const fingerprint = key === null ? null : requestFingerprint({...target, user: who.user, host: who.host, process: who.process ?? null, duration})
    const {vendor, signer} = await this.signing()
    const now = epochSeconds(this.ctx.clock)
    const {borrow, features, usedAfter, replayed} = await this.ctx.store.write(async (tx, q) => {
      if (key !== null) {
        const earlier = this.borrowWithKey(q, key, fingerprint!, now, scope)
        if (earlier) return {...earlier, usedAfter: null, replayed: true}
      }
      const candidates = this.candidates(q, target, now, scope)
      // Why a candidate that lends a seat for `duration` refused; the longest borrow of those that do not.
      let refusal: LicadmError | undefined
      let longest: {licenseId: string; maxSeconds: number} | undefined
      for (const license of candidates) {
        this.rules.checkAccess(q, Number(license.product_code), who)
        const policy = this.rules.policy(q, license.id)
        const maxSeconds = policy?.borrowMaxSeconds ?? this.settings.borrowMaxSeconds
        if (duration > maxSeconds) {
          // By product, another license's policy may lend a seat for that long.
          if (!longest || maxSeconds > longest.maxSeconds) longest = {licenseId: license.id, maxSeconds}
          continue
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
        if (key !== null) q.run('update leases set request_key = ?, request_fingerprint = ? where id = ?', key, fingerprint, lease.id)
        await appendAudit(tx, this.ctx, {action: 'seat.borrow', subject: `license:${license.id}`, after: {borrow: lease.id, user: who.user, host: who.host, expiresAt: lease.expiresAt}})
        return {borrow: lease, features: Number(license.features), usedAfter: need.usedAfter, replayed: false}
      }
      throw refusal ?? borrowTooLong(longest!, duration)
    }).catch((error: unknown) => this.refused(error, who))
    if (!replayed) this.counter.granted(borrow.licenseId, borrow.user, now, usedAfter)
    // Ed25519 is deterministic: a replayed borrow gets the very file it got the first time (unless the key was rotated since).
    return {borrow, file: armorBorrow(signBorrow(seatClaims(borrow, features, vendor), signer)), replayed}
  }

  /**
   * The borrow made earlier with this idempotency key, while it lasts and the input is the same;
   * other input under a key in use is refused. A key whose borrow has ended (not swept yet) is free again.
   */
  private borrowWithKey(q: SyncSql, key: string, fingerprint: string, now: number, scope: SeatScope): {borrow: Lease; features: number} | null {
    const earlier = q.get<LeaseTable>("select * from leases where request_key = ? and kind = 'borrow'", key)
    if (!earlier) return null
    if (Number(earlier.expires_at) <= now) {
      q.run('update leases set request_key = null where id = ?', earlier.id)
      return null
    }
    if (earlier.request_fingerprint !== fingerprint || !inScope(q, earlier.license_id, scope)) {
      throw new ConflictError('IDEMPOTENCY_KEY_REUSED', `idempotency key "${key}" was used for another borrow, which still lasts`, {
        hint: 'Use a new key for a new borrow; a re-run must repeat the same input (license or product, features, user, host, process, duration).',
        details: {key},
      })
    }
    const license = q.get<{features: number}>('select features from licenses where id = ?', earlier.license_id)!
    return {borrow: fromRow(earlier), features: Number(license.features)}
  }

  /** Returns a borrowed seat early. */
  async returnBorrow(id: string, scope: SeatScope = {}): Promise<{returned: boolean; borrowId: string}> {
    const borrowId = checkId(id, 'borrow id')
    return this.ctx.store.write(async (tx, q) => {
      const row = await tx.selectFrom('leases').select(['license_id', 'product_code', 'seats', 'expires_at']).where('id', '=', borrowId).where('kind', '=', 'borrow').executeTakeFirst()
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
   * Deletes every lease and borrow past its expiry; returns how many were reclaimed (a lingering lease,
   * released already, is not: it ended as its holder asked). Then adds
   * the usage counted since the last sweep to the store (see UsageCounter).
   */
  async sweep(): Promise<number> {
    const now = epochSeconds(this.ctx.clock)
    const gone = await this.ctx.store.db.deleteFrom('leases').where('expires_at', '<=', now).returning(['license_id', 'product_code', 'seats', 'released_at']).execute()
    let reclaimed = 0
    for (const row of gone) {
      // A lingering lease was released: its end is no missed heartbeat.
      if (row.released_at === null) {
        this.counter.reclaimed(row.license_id, now)
        reclaimed++
      }
      this.freed(row)
    }
    await this.flushUsage()
    return reclaimed
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
   * `holders: false`: no holders (the caller wants counts only); `hidden`: the caller may not see
   * them (the server hides holders from clients), which the answer says.
   */
  async list(filter: {license?: string; product?: unknown; holders?: boolean; hidden?: boolean; user?: string; host?: string} = {}, scope: SeatScope = {}): Promise<SeatUsage[]> {
    const now = epochSeconds(this.ctx.clock)
    let q = this.ctx.store.db
      .selectFrom('licenses')
      .select(['id', 'product_code', 'kind', 'quantity', 'features', 'status', 'not_before', 'expires_at'])
      .where('kind', '=', 'concurrent')
      .where('status', '!=', 'revoked')
      .orderBy('id')
      .limit(10_000)
    if (filter.license !== undefined) q = q.where('id', '=', checkId(filter.license, 'license'))
    if (filter.product !== undefined) q = q.where('product_code', '=', parseUint(filter.product, 'product', LIMITS.code, {required: true})!)
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
        holders: filter.holders === false || filter.hidden ? [] : holders.filter((h) => (filter.user === undefined || h.user === filter.user) && (filter.host === undefined || h.host === filter.host)),
        holdersHidden: filter.hidden === true,
      }
    })
  }

  /** The reservations of one license (or of every license), oldest first, with the seats of each in use. */
  async listReservations(license?: string): Promise<ReservationUsage[]> {
    const licenseId = license === undefined ? undefined : checkId(license, 'license')
    const now = epochSeconds(this.ctx.clock)
    return this.ctx.store.runSync((q) => {
      if (licenseId !== undefined && !q.get('select id from licenses where id = ?', licenseId)) throw new NotFoundError('license', licenseId)
      const ids = licenseId !== undefined ? [licenseId] : q.all<{license_id: string}>('select distinct license_id from seat_reservations order by license_id').map((r) => r.license_id)
      return ids.flatMap((id) => {
        const reservations = this.rules.reservationsOf(q, id)
        const inUse = reservedInUse(reservations, this.holdersOf(q, id, now))
        return reservations.map(({block: _b, ...r}, i) => ({...r, inUse: inUse[i]}))
      })
    })
  }

  // ---- internals ----

  /**
   * Seats of a license are free again (a lease or borrow is gone, or a lingering one was taken back
   * smaller): as many checkouts waiting for them as seats were freed try again, first in line first.
   */
  private freed(row: FreedRow): void {
    const seats = Number(row.seats)
    if (seats > 0 && this.queue.length > 0) queueMicrotask(() => this.queue.freed({licenseId: row.license_id, productCode: Number(row.product_code)}, seats))
  }

  /** Counts a refusal for want of a free seat in the usage report, and passes every refusal on. */
  private refused(error: unknown, who: Requester): never {
    if (error instanceof LicadmError && error.code === 'NO_SEAT_FREE' && typeof error.details?.licenseId === 'string') this.counter.denied(error.details.licenseId, who.user, epochSeconds(this.ctx.clock))
    throw error
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
    const never = seatCountRefusal(license, mode, count, maxPerUser)
    if (never) return never
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
      ? null
      : q.all<LeaseTable>('select * from leases where license_id = ? and expires_at > ? order by created_at, id limit 50', license.id, now).map(fromRow)
    return noSeatFree({license, mode, who, count, used, kept, holders})
  }

  /**
   * The seats of a license that reservations keep for others than `who`: each reservation's seats
   * less those its own holders use now (see reservedInUse). Counted only when the reservations could
   * matter, when all they keep is more than the seats `free` after this checkout; otherwise (and
   * for a license without reservations) it costs no statement. `holders`: the license's, when read already.
   */
  private keptForOthers(q: SyncSql, licenseId: string, who: Requester, now: number, free: number, holders?: HolderRow[]): {seats: number; for: string[]} {
    const reservations = this.rules.reservationsOf(q, licenseId)
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

/**
 * Deletes the lingering lease (released, its seat still taken) of `who` on this license, if any,
 * under the savepoint "lingering": the caller releases it once the new lease is in, or rolls back
 * to it when the checkout is refused, so the lingering seat stays as it was. Returns the seats the
 * lingering lease took (null: there was none).
 */
function takeBackLingering(q: SyncSql, licenseId: string, who: Requester, now: number): number | null {
  const row = q.get<{id: string; seats: number}>('select id, seats from leases where license_id = ? and "user" = ? and host = ? and released_at is not null and expires_at > ? limit 1', licenseId, who.user, who.host, now)
  if (!row) return null
  q.run('savepoint lingering')
  q.run('delete from leases where id = ?', row.id)
  return Number(row.seats)
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

/** What a deleted lease says of the seats it frees (`seats`: how many). */
type FreedRow = Pick<LeaseTable, 'license_id' | 'product_code' | 'seats'>

/** Seats a new lease takes, and the seats in use with it (null: it takes no new seat). */
interface Seats {
  seats: number
  usedAfter: number | null
}

const NONE_KEPT: {seats: number; for: string[]} = {seats: 0, for: []}

/** A lease never outlives its license. */
function capExpiry(at: number, license: Pick<LicenseRow, 'expires_at'>): number {
  return license.expires_at === null ? at : Math.min(at, Number(license.expires_at))
}

/** Whether a license is within reach of the request: always for a token, else when the container holds it. */
function inScope(q: SyncSql, licenseId: string, scope: SeatScope): boolean {
  return scope.container === undefined || q.get('select 1 as held from container_licenses where license_id = ? and serial = ?', licenseId, scope.container) !== undefined
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

/** What a borrow asked for, as a hash: the same idempotency key must come with the same request. */
function requestFingerprint(request: object): string {
  return createHash('sha256').update(JSON.stringify(request)).digest('base64url')
}
