import {timingSafeEqual} from 'node:crypto'

import type {Clock} from '../domain/clock.js'
import {AuthError, ExitCode, LicadmError} from '../domain/errors.js'
import {containerCredential, storedTokenId, tokenHash, wellFormedToken, type AuthFailure, type Principal, type TokenRole} from '../domain/tokens.js'

export {TOKEN_ROLES, principalActor} from '../domain/tokens.js'
export type {AuthFailure, Principal, TokenRole} from '../domain/tokens.js'

/** What a token given by flag or seed file grants: a name, a role and, for a group-admin, its group. */
export interface TokenGrant {
  name: string
  role: TokenRole
  group?: {id: string; name: string} | null
}

interface Entry extends TokenGrant {
  hash: Buffer
}

/**
 * The tokens given by flag or seed file, kept only as SHA-256 hashes. A presented token is hashed and
 * compared with every one of them in constant time, so neither a match nor its position leaks by timing.
 */
export class TokenSet {
  private readonly entries: Entry[] = []

  /** `where` names the token in refusals as its giver knows it (a flag, a seed entry). */
  add(token: string, grant: TokenGrant, where = `token "${grant.name}"`): void {
    if (token.length < 8) throw new LicadmError('TOKEN_TOO_SHORT', ExitCode.usage, `${where} is too short: give at least 8 characters`)
    if (!wellFormedToken(token) || storedTokenId(token) !== null || containerCredential(token) !== null) {
      throw new LicadmError('TOKEN_INVALID', ExitCode.usage, `${where}: use 8 to 512 visible ASCII characters (no spaces), not starting with lat_ nor shaped like a container credential (SERIAL:lcs_…)`)
    }
    this.addHash(tokenHash(token).toString('hex'), grant, where)
  }

  /** A token known only by its SHA-256 (hex), as a seed file may give it. */
  addHash(sha256Hex: string, grant: TokenGrant, where = `token "${grant.name}"`): void {
    if (!/^[0-9a-f]{64}$/i.test(sha256Hex)) throw new LicadmError('TOKEN_HASH_INVALID', ExitCode.usage, `${where}: sha256 must be 64 hex digits`)
    this.entries.push({hash: Buffer.from(sha256Hex, 'hex'), ...grant})
  }

  get size(): number {
    return this.entries.length
  }

  /** Who the token is, or null when it is not one of these. */
  match(token: string): Principal | null {
    const presented = tokenHash(token)
    let found: Entry | null = null
    for (const entry of this.entries) {
      if (timingSafeEqual(presented, entry.hash) && found === null) found = entry
    }
    return found && {id: null, name: found.name, role: found.role, groupId: found.group?.id ?? null, groupName: found.group?.name ?? null}
  }
}

/** The store's containers (ContainerService): who a container credential is, or an AuthError saying why not. */
export interface ContainerCredentials {
  seatPrincipal(serial: string, secret: string): Promise<Principal>
}

/** The store's tokens (TokenService): who a `lat_…` token is, or an AuthError saying why not. */
export interface StoredTokens {
  authenticate(token: string): Promise<Principal>
}

export interface RateLimitOptions {
  /** Failed authentications allowed per client address within the window (default 10). */
  failures: number
  /** The window, in milliseconds of the limiter's clock (real time in the server; default one minute). */
  windowMs: number
  /** Addresses tracked at most; the oldest are forgotten first (default 10,000). */
  maxAddresses: number
}

export const DEFAULT_RATE_LIMIT: RateLimitOptions = {failures: 10, windowMs: 60_000, maxAddresses: 10_000}

/**
 * Failed authentications per client address, in memory: at most `failures` within any `windowMs`.
 * Once an address reaches the limit, every authentication from it is refused (good tokens too:
 * otherwise the refusals would still tell a guesser which guess was right) until its oldest failure
 * leaves the window.
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>()

  constructor(
    private readonly clock: Clock,
    readonly options: RateLimitOptions = DEFAULT_RATE_LIMIT,
  ) {}

  /** Milliseconds until this address may try again; 0 when it may now. */
  blockedFor(address: string): number {
    const times = this.recent(address)
    if (times.length < this.options.failures) return 0
    return times[times.length - this.options.failures] + this.options.windowMs - this.clock.now()
  }

  record(address: string): void {
    const times = this.recent(address)
    times.push(this.clock.now())
    // Only the newest `failures` times decide; older ones are dropped so memory stays bounded.
    if (times.length > this.options.failures) times.splice(0, times.length - this.options.failures)
    this.failures.delete(address) // re-inserted last: the map is ordered by latest failure
    if (this.failures.size >= this.options.maxAddresses) this.evict()
    this.failures.set(address, times)
  }

  /** Addresses with failures in the window (for status and tests). */
  get tracked(): number {
    return this.failures.size
  }

  private recent(address: string): number[] {
    const times = this.failures.get(address)
    if (!times) return []
    const since = this.clock.now() - this.options.windowMs
    while (times.length > 0 && times[0] <= since) times.shift()
    if (times.length === 0) this.failures.delete(address)
    return times
  }

  private evict(): void {
    for (const address of this.failures.keys()) {
      this.recent(address)
      if (this.failures.size < this.options.maxAddresses) return
    }
    // Still full of addresses failing right now: forget the ones that failed longest ago.
    for (const address of this.failures.keys()) {
      this.failures.delete(address)
      if (this.failures.size < this.options.maxAddresses) return
    }
  }
}

export interface ServerAuthOptions {
  /** Tokens given by flag or seed file. */
  tokens: TokenSet
  /** Tokens in the store (`licadm token create`). */
  stored?: StoredTokens
  /** Container credentials (`<serial>:<secret>` of an enterprise container) for the seat API. */
  containers?: ContainerCredentials
  clock: Clock
  rateLimit?: Partial<RateLimitOptions>
}

/** The server's authentication (who is asking) and authorization (may this role do that). */
export class ServerAuth {
  readonly tokens: TokenSet
  readonly stored?: StoredTokens
  readonly containers?: ContainerCredentials
  readonly limiter: FailureLimiter
  /** Refused authentications by reason, since the start (for metrics). */
  readonly refusals: Record<AuthFailure | 'rate-limited', number> = {
    'missing-token': 0,
    'malformed-token': 0,
    'invalid-token': 0,
    'revoked-token': 0,
    'expired-token': 0,
    'rate-limited': 0,
  }

  constructor(options: ServerAuthOptions) {
    this.tokens = options.tokens
    this.stored = options.stored
    this.containers = options.containers
    this.limiter = new FailureLimiter(options.clock, {...DEFAULT_RATE_LIMIT, ...options.rateLimit})
  }

  /**
   * Who sent this Authorization header, from this client address. Refusals: 401 AUTH with
   * `details.reason` (missing-token, malformed-token, invalid-token, revoked-token, expired-token),
   * or 429 AUTH_RATE_LIMITED once the address failed too often.
   */
  async authenticate(header: string | undefined, address: string): Promise<Principal> {
    const wait = this.limiter.blockedFor(address)
    if (wait > 0) {
      this.refusals['rate-limited']++
      const seconds = Math.ceil(wait / 1000)
      const {failures, windowMs} = this.limiter.options
      throw new LicadmError('AUTH_RATE_LIMITED', ExitCode.auth, `too many failed authentications from ${address}: try again in ${seconds} s`, {
        hint: `The server allows ${failures} failed authentications per ${Math.round(windowMs / 1000)} s from one address; check --token / LICADM_TOKEN.`,
        details: {reason: 'rate-limited', retryAfter: seconds},
      })
    }
    // No token at all is a client that was not configured, not a guess: refused, but not counted.
    if (header === undefined || header === '') {
      this.refusals['missing-token']++
      throw new AuthError('this endpoint needs a token: send "Authorization: Bearer <token>"', {hint: 'Give --token or set LICADM_TOKEN.', details: {reason: 'missing-token'}})
    }
    try {
      const m = /^Bearer +(\S+) *$/i.exec(header)
      if (!m || !wellFormedToken(m[1])) {
        throw new AuthError('the Authorization header is malformed: send "Authorization: Bearer <token>"', {
          hint: 'Check --token / LICADM_TOKEN: the whole token, without spaces or line breaks.',
          details: {reason: 'malformed-token'},
        })
      }
      const token = m[1]
      const flagged = this.tokens.match(token)
      if (flagged) return flagged
      if (this.stored && storedTokenId(token) !== null) return await this.stored.authenticate(token)
      const credential = this.containers ? containerCredential(token) : null
      if (credential) return await this.containers!.seatPrincipal(credential.serial, credential.secret)
      throw new AuthError('the token is not valid on this server', {hint: 'Check --token / LICADM_TOKEN.', details: {reason: 'invalid-token'}})
    } catch (error) {
      if (error instanceof AuthError) {
        const reason = error.details?.reason as AuthFailure | undefined
        if (reason && reason in this.refusals) this.refusals[reason]++
        this.limiter.record(address)
      }
      throw error
    }
  }

  /**
   * The principal, if its role may do this: a vendor token may do everything, other roles only what
   * `roles` lists. Refused with 403 FORBIDDEN (exit 7), `details: {reason: 'role', role}`.
   */
  authorize(principal: Principal, roles: readonly TokenRole[]): Principal {
    if (principal.role === 'vendor' || roles.includes(principal.role)) return principal
    const others = roles.filter((r) => r !== 'vendor')
    const needed = others.length === 0 ? 'a vendor (admin) token' : `a ${others.join(', ')} or vendor token`
    const who = principal.container ? `the credential of container ${principal.container} reaches the seat API only` : `token "${principal.name}" has role ${principal.role}`
    throw new LicadmError('FORBIDDEN', ExitCode.auth, `${who}; this needs ${needed}`, {
      details: {reason: 'role', role: principal.role, allowed: [...new Set<TokenRole>(['vendor', ...roles])]},
    })
  }
}
