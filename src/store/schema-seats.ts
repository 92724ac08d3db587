import type {Generated} from 'kysely'

/** The license server's tables (migration 0004_seats), merged into the store's Database type. */
declare module './schema.js' {
  interface Database {
    leases: LeaseTable
    seat_counts: SeatCountTable
    seat_policies: SeatPolicyTable
    access_rules: AccessRuleTable
    access_defaults: AccessDefaultTable
    seat_reservations: SeatReservationTable
    seat_usage_days: SeatUsageDayTable
    seat_usage_users: SeatUsageUserTable
  }
}

export type SeatMode = 'checkout' | 'station' | 'exclusive'

export interface LeaseTable {
  id: string
  license_id: string
  product_code: number
  kind: 'lease' | 'borrow'
  mode: SeatMode
  user: string
  host: string
  process: string | null
  address: string | null
  seats: number
  created_at: number
  renewed_at: number
  expires_at: number
  /** When a lingering lease was released (migration 0010_seat_linger); null while it is held. */
  released_at: number | null
  /** A borrow's idempotency key and the fingerprint of what was asked (migration 0012_borrow_request_keys). */
  request_key: string | null
  request_fingerprint: string | null
}

/** Seats taken per license (migration 0006_seat_counts), kept by triggers on leases. */
export interface SeatCountTable {
  license_id: string
  plain: number
  stations: number
}

export interface SeatPolicyTable {
  license_id: string
  mode: SeatMode
  lease_ttl: number | null
  borrow_max_seconds: number | null
  borrow_max_seats: number | null
  /** The most seats one user holds at once (migration 0007_seat_user_limit); null: no cap. */
  max_per_user: number | null
  /** Seconds a released seat stays taken (migration 0010_seat_linger); null or 0: none. */
  linger: number | null
}

export interface AccessRuleTable {
  id: Generated<number>
  product_code: number
  action: 'allow' | 'deny'
  subject: 'user' | 'host' | 'address'
  pattern: string
  created_at: number
}

export interface AccessDefaultTable {
  product_code: number
  action: 'allow' | 'deny'
}

/** Seats of a license kept for a user, host or address (migration 0008_seat_reservations). */
export interface SeatReservationTable {
  id: Generated<number>
  license_id: string
  subject: 'user' | 'host' | 'address'
  pattern: string
  seats: number
  created_at: number
}

/** Seat usage of a license on one day, UTC (migration 0009_seat_usage). */
export interface SeatUsageDayTable {
  license_id: string
  /** YYYY-MM-DD */
  day: string
  /** The most seats in use at once that day (as seen at checkouts). */
  peak: number
  checkouts: number
  /** Checkouts and borrows refused because no seat was free (NO_SEAT_FREE). */
  denials: number
  /** Leases reclaimed after their TTL without a heartbeat (and borrows that ran out). */
  reclaimed: number
}

/** One user's checkouts and denials of a license on one day, UTC (migration 0009_seat_usage). */
export interface SeatUsageUserTable {
  license_id: string
  day: string
  user: string
  checkouts: number
  denials: number
}
