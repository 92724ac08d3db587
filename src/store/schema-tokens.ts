import type {TokenRole} from '../domain/tokens.js'

/** The server's API tokens (migration 0005_tokens), merged into the store's Database type. */
declare module './schema.js' {
  interface Database {
    tokens: TokenTable
  }
}

export interface TokenTable {
  id: string
  /** Unique among tokens that are not revoked. */
  name: string
  role: TokenRole
  /** A group-admin token's group; null for other roles (and once the group is deleted). */
  group_id: string | null
  /** SHA-256 (hex) of the whole token string; the token itself is never stored. */
  secret_hash: string
  created_at: number
  /** The actor that created it, as audit events name it. */
  created_by: string
  expires_at: number | null
  revoked_at: number | null
  last_used_at: number | null
}
