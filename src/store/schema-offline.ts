/** The offline activation tables (migration 0003), merged into the store's Database type. */

export interface OfflineUpdateTable {
  /** The update's id. */
  jti: string
  /** The request it answers: a re-fulfilled request gets this same update back. */
  request_jti: string
  purpose: 'activate' | 'return'
  fingerprint: string
  serial: string
  /** The counter the update carries: the device's counter after applying it. */
  counter: number
  /** JSON arrays of license ids. */
  added: string
  removed: string
  /** Every license id the container holds after the update. */
  holds: string
  /** JSON of what the fulfill was asked for (licenses, tickets, products). */
  input: string
  /** SHA-256 (base64url) of the update's JWS: a receipt must name the same. */
  update_hash: string
  /** The armored update file, handed out again on a re-fulfill. */
  file: string
  state: 'pending' | 'confirmed' | 'mismatch'
  request_iat: number
  created_at: number
  confirmed_at: number | null
  receipt_jti: string | null
  /** Why the last receipt did not match what was issued. */
  mismatch: string | null
}

export interface OfflineReceiptTable {
  jti: string
  update_jti: string
  fingerprint: string
  serial: string
  counter: number
  result: 'confirmed' | 'mismatch'
  reason: string | null
  received_at: number
}

declare module './schema.js' {
  interface Database {
    offline_updates: OfflineUpdateTable
    offline_receipts: OfflineReceiptTable
  }
}
