/** The tables of a licadm store, as Kysely sees them. Times are epoch seconds. */
export interface Database {
  vendor: VendorTable
  vendor_keys: VendorKeyTable
  products: ProductTable
  licenses: LicenseTable
  requests: RequestTable
  users: UserTable
  groups: GroupTable
  group_members: GroupMemberTable
  containers: ContainerTable
  container_licenses: ContainerLicenseTable
  devices: DeviceTable
  activations: ActivationTable
  saws: SawTable
  audit_events: AuditEventTable
  audit_head: AuditHeadTable
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


export interface UserTable {
  id: string
  email: string
  name: string | null
  created_at: number
}

export interface GroupTable {
  id: string
  name: string
  created_at: number
}

export interface GroupMemberTable {
  group_id: string
  user_id: string
  role: 'member' | 'admin'
  added_at: number
}

export interface ContainerTable {
  serial: string
  kind: 'local' | 'personal' | 'enterprise'
  owner_user_id: string | null
  owner_group_id: string | null
  /** For a local container: the one device it is bound to. */
  owner_fingerprint: string | null
  max_devices: number | null
  /** SHA-256 of the access secret (cloud containers only); the secret itself is never stored. */
  secret_hash: string | null
  generation: number
  update_counter: number
  created_at: number
}

/** Which container holds a license: a license is in at most one container. */
export interface ContainerLicenseTable {
  license_id: string
  serial: string
  added_at: number
}

export interface DeviceTable {
  fingerprint: string
  name: string
  platform: string
  /** Ed25519 public key (base64url, raw 32 bytes): verifies what the device signs. */
  sign_key: string
  /** X25519 public key (base64url, raw 32 bytes): SAW credentials are encrypted to it. */
  enc_key: string
  user_id: string | null
  created_at: number
}

export interface ActivationTable {
  serial: string
  fingerprint: string
  user_id: string | null
  state: 'active' | 'inactive' | 'stale'
  /** Set when the device's user left the container's group: the next reset drops the device. */
  pending_removal: number
  activated_at: number
  deactivated_at: number | null
  last_seen: number | null
  /** The credential generation the device holds (as far as the vendor knows). */
  generation: number
}

export interface SawTable {
  jti: string
  serial: string
  fingerprint: string
  generation: number
  created_at: number
  expires_at: number
  used_at: number | null
}

export interface AuditEventTable {
  seq: number
  at: number
  actor: string
  action: string
  subject: string
  before: string | null
  after: string | null
  prev_hash: string
  hash: string
}

/** The last sequence number and hash, so deleting the newest events is detected too. */
export interface AuditHeadTable {
  id: number
  seq: number
  hash: string
}
