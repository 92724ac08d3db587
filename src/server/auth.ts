import {createHash, timingSafeEqual} from 'node:crypto'

import {AuthError, LicadmError, ExitCode} from '../domain/errors.js'

/** `vendor` may do everything; `client` only the seat API. */
export type TokenRole = 'vendor' | 'client'
export const TOKEN_ROLES: readonly TokenRole[] = ['vendor', 'client']

export interface TokenInfo {
  name: string
  role: TokenRole
}

interface Entry extends TokenInfo {
  hash: Buffer
}

/**
 * The server's API tokens, kept only as SHA-256 hashes. A presented token is hashed and compared
 * with every stored hash in constant time, so neither a match nor its position leaks by timing.
 */
export class TokenSet {
  private readonly entries: Entry[] = []

  add(token: string, info: TokenInfo): void {
    if (token.length < 8) throw new LicadmError('TOKEN_TOO_SHORT', ExitCode.usage, `token "${info.name}" is too short: give at least 8 characters`)
    this.addHash(createHash('sha256').update(token, 'utf8').digest('hex'), info)
  }

  /** A token known only by its SHA-256 (hex), as a seed file may give it. */
  addHash(sha256Hex: string, info: TokenInfo): void {
    if (!/^[0-9a-f]{64}$/i.test(sha256Hex)) throw new LicadmError('TOKEN_HASH_INVALID', ExitCode.usage, `token "${info.name}": sha256 must be 64 hex digits`)
    this.entries.push({hash: Buffer.from(sha256Hex, 'hex'), ...info})
  }

  get size(): number {
    return this.entries.length
  }

  /** The token's name and role, or null when it is not one of ours. */
  match(token: string): TokenInfo | null {
    const presented = createHash('sha256').update(token, 'utf8').digest()
    let found: Entry | null = null
    for (const entry of this.entries) {
      if (timingSafeEqual(presented, entry.hash) && found === null) found = entry
    }
    return found && {name: found.name, role: found.role}
  }

  /** Checks an Authorization header for a token with (at least) this role. */
  authorize(header: string | undefined, role: TokenRole): TokenInfo {
    if (!header) {
      throw new AuthError('this endpoint needs a token: send "Authorization: Bearer <token>"', {hint: 'Give --token or set LICADM_TOKEN.', details: {reason: 'missing-token'}})
    }
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
    const info = m ? this.match(m[1]) : null
    if (!info) throw new AuthError('the token is not valid on this server', {hint: 'Check --token / LICADM_TOKEN.', details: {reason: 'invalid-token'}})
    if (role === 'vendor' && info.role !== 'vendor') {
      throw new LicadmError('FORBIDDEN', ExitCode.auth, `token "${info.name}" has role ${info.role}; this needs a vendor (admin) token`, {details: {reason: 'role', role: info.role}})
    }
    return info
  }
}
