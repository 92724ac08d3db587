import type {SyncSql} from '../store/store.js'

const DAY_SECONDS = 86_400

/** Days of usage the store keeps: a year and a month, so this month can be set against last year's. */
export const USAGE_RETENTION_DAYS = 400

/** How many days a usage report may span by number (a longer one by its first day). */
export const USAGE_DAYS = {min: 1, max: USAGE_RETENTION_DAYS} as const

/** The day (UTC) of a time in epoch seconds, as YYYY-MM-DD. */
export function isoDay(epochSeconds: number): string {
  return new Date(Math.floor(epochSeconds / DAY_SECONDS) * DAY_SECONDS * 1000).toISOString().slice(0, 10)
}

/** The day `days` before (negative: after) a YYYY-MM-DD day. */
export function dayBefore(day: string, days: number): string {
  return isoDay(Date.parse(`${day}T00:00:00Z`) / 1000 - days * DAY_SECONDS)
}

export interface UsageCounts {
  /** The most seats in use at once (as seen when seats were taken). */
  peak: number
  /** Checkouts and borrows granted. */
  checkouts: number
  /** Checkout and borrow requests refused because no seat was free (one that waits in line: if it ends without a seat). */
  denials: number
  /** Leases reclaimed after their TTL without a heartbeat, and borrows that ran out. */
  reclaimed: number
}

export interface UsageDay extends UsageCounts {
  day: string
}

/** One user's checkouts and denials of a license over a report's days. */
export interface UserUsage {
  user: string
  checkouts: number
  denials: number
}

/** Counts of a license and day not flushed yet, with its users'. */
interface PendingCounts extends UsageCounts {
  users: Map<string, {checkouts: number; denials: number}>
}

/**
 * Seat usage counted in memory where seats are taken and refused (a map lookup and an increment:
 * the checkout is the server's hot path), and added to the store's seat_usage_days by flush(), which
 * the sweeper runs about once a second and the server once more when it stops. A crash loses at most
 * the counts since the last flush; the seats themselves are never at risk.
 */
export class UsageCounter {
  /** Counts not yet flushed, by day number (days since the epoch) and license. */
  private pending = new Map<number, Map<string, PendingCounts>>()
  private prunedBefore = ''

  /** A checkout or borrow was granted; `usedAfter`: the seats in use with it (null: it took no new seat). */
  granted(licenseId: string, user: string, now: number, usedAfter: number | null): void {
    const c = this.counts(licenseId, now)
    c.checkouts++
    if (usedAfter !== null && usedAfter > c.peak) c.peak = usedAfter
    userCounts(c, user).checkouts++
  }

  denied(licenseId: string, user: string, now: number): void {
    const c = this.counts(licenseId, now)
    c.denials++
    userCounts(c, user).denials++
  }

  /** A lease was reclaimed after its TTL without a heartbeat, or a borrow ran out. */
  reclaimed(licenseId: string, now: number): void {
    this.counts(licenseId, now).reclaimed++
  }

  /** Whether there is anything to flush. */
  get dirty(): boolean {
    return this.pending.size > 0
  }

  /**
   * Adds the pending counts to the store (in the caller's write transaction) and forgets them; on a
   * new day, drops the days older than USAGE_RETENTION_DAYS.
   */
  flush(q: SyncSql, now: number): void {
    const pending = this.pending
    this.pending = new Map()
    for (const [dayNumber, licenses] of pending) {
      const day = isoDay(dayNumber * DAY_SECONDS)
      for (const [licenseId, c] of licenses) {
        q.run(
          `insert into seat_usage_days (license_id, day, peak, checkouts, denials, reclaimed) values (?, ?, ?, ?, ?, ?)
           on conflict (license_id, day) do update set peak = max(peak, excluded.peak), checkouts = checkouts + excluded.checkouts,
             denials = denials + excluded.denials, reclaimed = reclaimed + excluded.reclaimed`,
          licenseId,
          day,
          c.peak,
          c.checkouts,
          c.denials,
          c.reclaimed,
        )
        for (const [user, u] of c.users) {
          q.run(
            `insert into seat_usage_users (license_id, day, "user", checkouts, denials) values (?, ?, ?, ?, ?)
             on conflict (license_id, day, "user") do update set checkouts = checkouts + excluded.checkouts, denials = denials + excluded.denials`,
            licenseId,
            day,
            user,
            u.checkouts,
            u.denials,
          )
        }
      }
    }
    const cutoff = dayBefore(isoDay(now), USAGE_RETENTION_DAYS)
    if (cutoff !== this.prunedBefore) {
      q.run('delete from seat_usage_days where day < ?', cutoff)
      q.run('delete from seat_usage_users where day < ?', cutoff)
      this.prunedBefore = cutoff
    }
  }

  private counts(licenseId: string, now: number): PendingCounts {
    const dayNumber = Math.floor(now / DAY_SECONDS)
    let licenses = this.pending.get(dayNumber)
    if (!licenses) this.pending.set(dayNumber, (licenses = new Map()))
    let c = licenses.get(licenseId)
    if (!c) licenses.set(licenseId, (c = {peak: 0, checkouts: 0, denials: 0, reclaimed: 0, users: new Map()}))
    return c
  }
}

function userCounts(c: PendingCounts, user: string): {checkouts: number; denials: number} {
  let u = c.users.get(user)
  if (!u) c.users.set(user, (u = {checkouts: 0, denials: 0}))
  return u
}

/** A license's usage over a report's days, with each day that had any. */
export interface LicenseUsage extends UsageCounts {
  licenseId: string
  productCode: number
  quantity: number
  /** Days on which every seat was in use at some time. */
  daysFull: number
  days: UsageDay[]
  /** Its users, most checkouts first (then most denials). */
  users: UserUsage[]
}

export interface UsageReport {
  /** First and last day of the report (UTC, YYYY-MM-DD), both included. */
  since: string
  until: string
  licenses: LicenseUsage[]
}

/** The report of these licenses from their usage days (rows of seat_usage_days, any order). */
export function summarizeUsage(
  since: string,
  until: string,
  licenses: ReadonlyArray<{id: string; product_code: number; quantity: number}>,
  rows: ReadonlyArray<UsageDay & {license_id: string}>,
  userRows: ReadonlyArray<UserUsage & {license_id: string}>,
): UsageReport {
  const usersByLicense = byLicense(userRows, (u) => ({user: u.user, checkouts: Number(u.checkouts), denials: Number(u.denials)}))
  const daysByLicense = byLicense(rows, (d) => ({day: d.day, peak: Number(d.peak), checkouts: Number(d.checkouts), denials: Number(d.denials), reclaimed: Number(d.reclaimed)}))
  return {
    since,
    until,
    licenses: licenses.map((l) => {
      const days = (daysByLicense.get(l.id) ?? []).sort((a, b) => a.day.localeCompare(b.day))
      const sum = (key: 'checkouts' | 'denials' | 'reclaimed') => days.reduce((n, d) => n + d[key], 0)
      return {
        licenseId: l.id,
        productCode: Number(l.product_code),
        quantity: Number(l.quantity),
        peak: days.reduce((n, d) => Math.max(n, d.peak), 0),
        daysFull: days.filter((d) => d.peak >= Number(l.quantity)).length,
        checkouts: sum('checkouts'),
        denials: sum('denials'),
        reclaimed: sum('reclaimed'),
        days,
        users: (usersByLicense.get(l.id) ?? []).sort((a, b) => b.checkouts - a.checkouts || b.denials - a.denials || a.user.localeCompare(b.user)),
      }
    }),
  }
}

/** Rows grouped by their license_id, each made into a `T`, in the order of the rows. */
export function byLicense<R extends {license_id: string}, T>(rows: readonly R[], make: (row: R) => T): Map<string, T[]> {
  const groups = new Map<string, T[]>()
  for (const row of rows) {
    let group = groups.get(row.license_id)
    if (!group) groups.set(row.license_id, (group = []))
    group.push(make(row))
  }
  return groups
}
