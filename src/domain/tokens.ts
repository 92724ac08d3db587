/**
 * API tokens of the license server: roles, who a request acts as, and the shape of a token string.
 * No I/O: the store-backed tokens live in services/tokens.ts, the server's checks in server/auth.ts.
 */
import * as crypto from 'node:crypto'

import {secretPattern} from '../crypto/secrets.js'
import {SERIAL_PATTERN} from './container.js'

/** `vendor` may do everything; `group-admin` only its group's containers and members; `client` only the seat API. */
export type TokenRole = 'vendor' | 'group-admin' | 'client'
export const TOKEN_ROLES: readonly TokenRole[] = ['vendor', 'group-admin', 'client']

/** Who a request acts as: the token that authenticated it. */
export interface Principal {
  /** The stored token's id; null for tokens given by flag or seed file. */
  id: string | null
  name: string
  role: TokenRole
  groupId: string | null
  groupName: string | null
  /**
   * Set when a container credential authenticated the request (role client): the serial of the
   * enterprise container, whose licenses are then the only ones it reaches on the seat API.
   */
  container?: string
}

/** Why a presented token was refused (`details.reason` of the AuthError). */
export type AuthFailure = 'missing-token' | 'malformed-token' | 'invalid-token' | 'revoked-token' | 'expired-token'

export const TOKEN_PREFIX = 'lat_'

/**
 * A stored token: `lat_<id>_<43 base64url characters: 32 random bytes>`. The id lets the server find
 * the one row to compare with, so checking a token costs one lookup whatever the number of tokens.
 */
const STORED_TOKEN = /^lat_(tok_[0-9a-z]{22})_([A-Za-z0-9_-]{43})$/

/**
 * A container credential as the seat API takes it: `<serial>:<secret>`, the container's serial and
 * its current secret (as "container create" and "reset-credentials" hand them out).
 */
const CONTAINER_CREDENTIAL = new RegExp(`^(${SERIAL_PATTERN}):(${secretPattern('lcs')})$`)

/** The bearer token of a container credential. */
export function containerToken(credentials: {container: string; secret: string}): string {
  return `${credentials.container.trim().toUpperCase()}:${credentials.secret}`
}

/** The serial and secret inside a container credential token, or null when the string is not one. */
export function containerCredential(token: string): {serial: string; secret: string} | null {
  const m = CONTAINER_CREDENTIAL.exec(token)
  return m ? {serial: m[1], secret: m[2]} : null
}

/** What a token given by flag or seed may look like: 8 to 512 visible ASCII characters. */
const ANY_TOKEN = /^[\x21-\x7e]{8,512}$/

/** The id inside a stored token, or null when the string is not one. */
export function storedTokenId(token: string): string | null {
  return STORED_TOKEN.exec(token)?.[1] ?? null
}

/**
 * Could this be a token at all? A string that starts like a stored token must be one; anything else
 * may still be a token given by flag, which has no fixed shape beyond visible ASCII.
 */
export function wellFormedToken(token: string): boolean {
  if (token.startsWith(TOKEN_PREFIX)) return STORED_TOKEN.test(token)
  return ANY_TOKEN.test(token)
}

const oneShot = (crypto as {hash?: (algorithm: string, data: string, encoding: 'buffer') => Buffer}).hash

/** SHA-256 of the whole token string: the only form in which a token is kept. */
export function tokenHash(token: string): Buffer {
  // Every authenticated request hashes its token: the one-shot hash (Node 20.12 and later) skips
  // building a Hash object, which cost several times the digest itself.
  return oneShot ? oneShot('sha256', token, 'buffer') : crypto.createHash('sha256').update(token, 'utf8').digest()
}

/** How audit events name who acted: "token:ci-deploy (tok_…)", by name alone for flag tokens, "container:E-…" for a container credential. */
export function principalActor(p: Principal): string {
  if (p.container) return `container:${p.container}`
  return p.id ? `token:${p.name} (${p.id})` : `token:${p.name}`
}
