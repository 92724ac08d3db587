import type {Generated} from 'kysely'

/** The tables of a licadm store, as Kysely sees them. Times are epoch seconds. */
export interface Database {
  vendor: VendorTable
  vendor_keys: VendorKeyTable
  products: ProductTable
  licenses: LicenseTable
  requests: RequestTable
}

export interface VendorTable {
  id: number
  code: number
  name: string
  created_at: number
}

export interface VendorKeyTable {
  kid: string
  public_pem: string
  status: 'active' | 'retired'
  created_at: number
  retired_at: number | null
}

export interface ProductTable {
  code: number
  name: string
  created_at: number
}

export interface LicenseTable {
  id: string
  ticket: string
  product_code: number
  kind: string
  quantity: number
  features: number
  units: number | null
  not_before: number
  expires_at: number | null
  status: string
  customer: string | null
  metadata: string
  kid: string
  jws: string
  created_at: number
  revoked_at: number | null
  request_key: string | null
  request_seq: number | null
}

/** Idempotency records: one per key, with a fingerprint of what was asked. */
export interface RequestTable {
  key: string
  fingerprint: string
  count: number
  created_at: number
}

export type AutoId = Generated<number>
