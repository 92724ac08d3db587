import type {BlockList} from 'node:net'

import type {Selectable} from 'kysely'

import {epochSeconds} from '../domain/clock.js'
import {ExitCode, InvalidValueError, LicadmError, NotFoundError} from '../domain/errors.js'
import {LIMITS} from '../domain/license.js'
import type {CountedReservation} from '../domain/seat-counting.js'
import {exclusiveOverCap, SEAT_RANGES} from '../domain/seat-policy.js'
import {addressBlock, checkAction, checkPattern, checkSubject, subjectMatches, subjectValue, type RuleAction, type RuleSubject} from '../domain/seat-subjects.js'
import {parseUint} from '../domain/values.js'
import type {AccessRuleTable, SeatMode, SeatPolicyTable, SeatReservationTable} from '../store/schema-seats.js'
import type {SyncSql} from '../store/store.js'
import {appendAudit} from './audit.js'
import type {ServiceContext} from './context.js'
import {checkId, exclusiveCapRefused, notConcurrent} from './seat-refusals.js'
import type {Requester} from './seats.js'

export const SEAT_MODES: readonly SeatMode[] = ['checkout', 'station', 'exclusive']

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

/** A reservation with its address pattern compiled. */
export type CompiledReservation = SeatReservation & CountedReservation

/**
 * What the administrator sets for seats: access rules per product, reservations and seat policies
 * per license. Checkouts read them on every request, so they are kept compiled in memory and read
 * again when the store's data_version shows another connection wrote (another process may
 * administer the same store).
 */
export class SeatRules {
  /** Access rules per product, compiled; valid while the store's data_version is `cachedVersion`. */
  private readonly ruleSets = new Map<number, {defaultAction: RuleAction; rules: AccessRule[]; blocks: Map<number, BlockList>}>()
  /** Reservations per license, compiled (most licenses have none: an empty list); valid as the rules. */
  private readonly reservationSets = new Map<string, CompiledReservation[]>()
  /** Seat policies per license (null: none), read once per checkout otherwise; valid as the rules. */
  private readonly policies = new Map<string, SeatPolicy | null>()
  private cachedVersion = -1

  /** @param wake tells the checkouts waiting in line that a change may have freed seats for them. */
  constructor(
    private readonly ctx: ServiceContext,
    private readonly wake: () => void,
  ) {}

  // ---- seat policies ----

  /**
   * Sets a license's counting mode, lease TTL, borrow limits (null: the server's setting) and
   * per-user cap (null: none). It replaces the license's policy; with `merge`, the settings not
   * given (undefined) keep their current values instead, read in the same transaction. Refuses an
   * exclusive mode with a per-user cap below the license's quantity: no checkout could be granted.
   */
  async setPolicy(input: PolicyInput, options: {merge?: boolean} = {}): Promise<SeatPolicy> {
    const licenseId = checkId(input.license, 'license')
    const given = policySettings(input)
    return this.ctx.store.write(async (tx, q) => {
      const license = await tx.selectFrom('licenses').select(['id', 'kind', 'quantity']).where('id', '=', licenseId).executeTakeFirst()
      if (!license) throw new NotFoundError('license', licenseId)
      const before = this.policy(q, licenseId)
      const base = options.merge && before ? before : {licenseId, mode: 'checkout' as SeatMode, leaseTtl: null, borrowMaxSeconds: null, borrowMaxSeats: null, maxPerUser: null, linger: null}
      const policy: SeatPolicy = {...base, ...given}
      if (exclusiveOverCap(policy, license.quantity)) throw exclusiveCapRefused(licenseId, license.quantity, policy.maxPerUser!)
      const row = policyRow(policy)
      await tx.insertInto('seat_policies').values({license_id: licenseId, ...row}).onConflict((oc) => oc.column('license_id').doUpdateSet(row)).execute()
      this.policies.delete(licenseId)
      this.wake()
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
    this.ruleSets.delete(productCode)
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
    this.ruleSets.delete(rule.productCode)
    return rule
  }

  async setDefaultAction(product: unknown, action: string): Promise<{productCode: number; defaultAction: RuleAction}> {
    const productCode = parseUint(product, 'product', LIMITS.code, {required: true})!
    const defaultAction = checkAction(action)
    await this.ctx.store.write(async (tx) => {
      await tx.insertInto('access_defaults').values({product_code: productCode, action: defaultAction}).onConflict((oc) => oc.column('product_code').doUpdateSet({action: defaultAction})).execute()
      await appendAudit(tx, this.ctx, {action: 'access.default', subject: `product:${productCode}`, after: {action: defaultAction}})
    })
    this.ruleSets.delete(productCode)
    return {productCode, defaultAction}
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
      this.wake()
      return toReservation(row)
    })
  }

  // ---- what checkouts read ----

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

  /** Refuses a requester the product's access rules deny (ACCESS_DENIED). */
  checkAccess(q: SyncSql, product: number, who: Requester): void {
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
      this.ruleSets.clear()
      this.reservationSets.clear()
      this.policies.clear()
      this.cachedVersion = version
    }
  }

  private ruleSet(q: SyncSql, product: number) {
    this.syncCaches(q)
    let set = this.ruleSets.get(product)
    if (!set) {
      const rows = q.all<Selectable<AccessRuleTable>>('select * from access_rules where product_code = ? order by id', product)
      const def = q.get<{action: RuleAction}>('select action from access_defaults where product_code = ?', product)
      const rules = rows.map(toRule)
      const blocks = new Map<number, BlockList>()
      for (const r of rules) if (r.subject === 'address') blocks.set(r.id, addressBlock(r.pattern))
      set = {defaultAction: def?.action ?? 'allow', rules, blocks}
      this.ruleSets.set(product, set)
    }
    return set
  }

  /** A license's reservations, oldest first, compiled. */
  reservationsOf(q: SyncSql, licenseId: string): CompiledReservation[] {
    this.syncCaches(q)
    let set = this.reservationSets.get(licenseId)
    if (!set) {
      set = q.all<Selectable<SeatReservationTable>>('select * from seat_reservations where license_id = ? order by id', licenseId).map(toReservation).map((r) => ({...r, block: r.subject === 'address' ? addressBlock(r.pattern) : undefined}))
      this.reservationSets.set(licenseId, set)
    }
    return set
  }

  /** A license's own seat policy (null: none), cached. */
  policy(q: SyncSql, licenseId: string): SeatPolicy | null {
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

function toRule(r: {id: number; product_code: number; action: RuleAction; subject: RuleSubject; pattern: string; created_at: number}): AccessRule {
  return {id: Number(r.id), productCode: Number(r.product_code), action: r.action, subject: r.subject, pattern: r.pattern, createdAt: Number(r.created_at)}
}

function toReservation(r: Selectable<SeatReservationTable>): SeatReservation {
  return {id: Number(r.id), licenseId: r.license_id, subject: r.subject, pattern: r.pattern, seats: Number(r.seats), createdAt: Number(r.created_at)}
}
