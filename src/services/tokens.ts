import {randomBytes, timingSafeEqual} from 'node:crypto'

import type {CompiledQuery} from 'kysely'

import {epochSeconds} from '../domain/clock.js'
import {AuthError, ConflictError, InvalidValueError, NotFoundError} from '../domain/errors.js'
import {newId} from '../domain/ids.js'
import {storedTokenId, TOKEN_PREFIX, TOKEN_ROLES, tokenHash, wellFormedToken, type Principal, type TokenRole} from '../domain/tokens.js'
import {optionalText, parseDurationFlag} from '../domain/values.js'
import type {TokenTable} from '../store/schema-tokens.js'
import type {Tx} from '../store/store.js'
import {appendAudit} from './audit.js'
import {localActor, type ServiceContext} from './context.js'
import {DirectoryService} from './directory.js'

export type {Principal, TokenRole} from '../domain/tokens.js'

export type TokenStatus = 'active' | 'expired' | 'revoked'

/** A stored token as lists show it: never its secret, never its hash. Times are epoch seconds. */
export interface TokenInfo {
  id: string
  name: string
  role: TokenRole
  groupId: string | null
  groupName: string | null
  status: TokenStatus
  createdAt: number
  createdBy: string
  expiresAt: number | null
  revokedAt: number | null
  lastUsedAt: number | null
}

export interface CreateTokenInput {
  role: string
  /** A group-admin token's group, by name or id. */
  group?: string
  /** How long the token is valid: a duration such as 90d; none means until revoked. */
  expires?: string
  name?: string
}

/** `--expires`: at least a minute, at most five years (a longer-lived token is a forgotten one). */
export const TOKEN_EXPIRY_RANGE = {min: 60, max: 5 * 365 * 86_400}

/** last_used_at is written at most this often per token, so a busy client does not turn every request into a write. */
const LAST_USED_RESOLUTION = 60

const NAME = /^[A-Za-z0-9][\w.@:-]{0,63}$/

/**
 * Compared with when a token's id is unknown, so an unknown id costs the same hash and comparison as
 * a known one with a wrong secret.
 */
const DUMMY_HASH = tokenHash(`${TOKEN_PREFIX}unknown`)

type Row = TokenTable & {group_name: string | null}

/** The server's API tokens in the store: created once (the secret shown once), listed, revoked, checked. */
export class TokenService {
  /**
   * The query authenticate runs for every request, compiled once: building it with Kysely took
   * about 100 µs a time, running the compiled statement about 12 (measured here).
   */
  private byIdQuery?: CompiledQuery<Row>

  constructor(private readonly ctx: ServiceContext) {}

  /** Creates a token. The returned `token` is the only copy of the secret: the store keeps its SHA-256. */
  async create(input: CreateTokenInput): Promise<{token: string; info: TokenInfo}> {
    const role = parseRole(input.role)
    const expiresIn = input.expires === undefined || input.expires.trim() === '' ? null : parseDurationFlag(input.expires, '--expires', TOKEN_EXPIRY_RANGE)
    const givenName = input.name === undefined ? undefined : parseName(input.name)
    const group = input.group?.trim() || undefined
    if (role === 'group-admin' && !group) {
      throw new InvalidValueError('--group', 'a group-admin token needs the group it manages (name or id)', {hint: 'Run "licadm group list" to see the groups.'})
    }
    if (role !== 'group-admin' && group) {
      throw new InvalidValueError('--group', `only a group-admin token belongs to a group; a ${role} token takes no --group`)
    }
    const nowMs = this.ctx.clock.now()
    const now = epochSeconds(this.ctx.clock)
    const id = newId('tok', nowMs)
    const token = `${TOKEN_PREFIX}${id}_${randomBytes(32).toString('base64url')}`
    const name = givenName ?? `${role}-${id.slice(-6)}`
    const createdBy = this.ctx.actor ?? localActor()
    return this.ctx.store.write(async (tx) => {
      const owner = group ? await new DirectoryService(this.ctx).group(group, tx) : null
      const taken = await tx.selectFrom('tokens').select('id').where('name', '=', name).where('revoked_at', 'is', null).executeTakeFirst()
      if (taken) {
        throw new ConflictError('TOKEN_EXISTS', `a token named "${name}" exists already (${taken.id})`, {
          hint: 'Choose another --name, or revoke that token first ("licadm token revoke NAME").',
          details: {tokenId: taken.id},
        })
      }
      const row: TokenTable = {
        id,
        name,
        role,
        group_id: owner?.id ?? null,
        secret_hash: tokenHash(token).toString('hex'),
        created_at: now,
        created_by: createdBy,
        expires_at: expiresIn === null ? null : now + expiresIn,
        revoked_at: null,
        last_used_at: null,
      }
      await tx.insertInto('tokens').values(row).execute()
      const info = toInfo({...row, group_name: owner?.name ?? null}, now)
      await appendAudit(tx, this.ctx, {action: 'token.create', subject: `token:${id}`, after: auditView(info)})
      return {token, info}
    })
  }

  /** Tokens by name: active ones, or with `all` also the expired and revoked ones. */
  async list(options: {all?: boolean} = {}): Promise<TokenInfo[]> {
    const now = epochSeconds(this.ctx.clock)
    let q = this.select(this.ctx.store.db).orderBy('tokens.name').orderBy('tokens.created_at')
    if (!options.all) q = q.where('tokens.revoked_at', 'is', null).where((eb) => eb.or([eb('tokens.expires_at', 'is', null), eb('tokens.expires_at', '>', now)]))
    const rows = await q.execute()
    return rows.map((r) => toInfo(r, now))
  }

  /** One token by id, or by name (the active token of that name, else the latest revoked one). */
  async get(ref: string, tx: Tx = this.ctx.store.db): Promise<TokenInfo> {
    return toInfo(await this.find(ref, tx), epochSeconds(this.ctx.clock))
  }

  /** Revokes a token: it is refused from the next request on. Revoking a revoked token changes nothing. */
  async revoke(ref: string): Promise<{token: TokenInfo; changed: boolean}> {
    return this.ctx.store.write(async (tx) => {
      const now = epochSeconds(this.ctx.clock)
      const row = await this.find(ref, tx)
      if (row.revoked_at !== null) return {token: toInfo(row, now), changed: false}
      await tx.updateTable('tokens').set({revoked_at: now}).where('id', '=', row.id).execute()
      const before = toInfo(row, now)
      const token = toInfo({...row, revoked_at: now}, now)
      await appendAudit(tx, this.ctx, {action: 'token.revoke', subject: `token:${row.id}`, before: auditView(before), after: auditView(token)})
      return {token, changed: true}
    })
  }

  /** Whether any token could authenticate now (not revoked, not expired). */
  async anyActive(): Promise<boolean> {
    const now = epochSeconds(this.ctx.clock)
    const row = await this.ctx.store.db
      .selectFrom('tokens')
      .select('id')
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .executeTakeFirst()
    return row !== undefined
  }

  /**
   * Who a stored token (`lat_…`) is. The token's id finds its row; then its SHA-256 is compared with
   * the stored one in constant time (an unknown id is compared with a dummy, so it takes as long).
   * Refusals are AuthErrors (exit 7) whose `details.reason` says why.
   */
  async authenticate(token: string): Promise<Principal> {
    const id = storedTokenId(token)
    if (id === null) {
      throw new AuthError(wellFormedToken(token) ? 'the token is not valid on this server' : 'the token is malformed: a licadm token looks like lat_tok_…', {
        hint: 'Check --token / LICADM_TOKEN: copy the whole token that "licadm token create" printed.',
        details: {reason: wellFormedToken(token) ? 'invalid-token' : 'malformed-token'},
      })
    }
    this.byIdQuery ??= this.select(this.ctx.store.db).where('tokens.id', '=', id).compile()
    const query: CompiledQuery<Row> = {...this.byIdQuery, parameters: [id]}
    const row: Row | undefined = (await this.ctx.store.db.executeQuery(query)).rows[0]
    const presented = tokenHash(token)
    const stored = row ? Buffer.from(row.secret_hash, 'hex') : DUMMY_HASH
    const matches = timingSafeEqual(presented, stored.length === presented.length ? stored : DUMMY_HASH) && row !== undefined
    if (!matches || !row) {
      throw new AuthError('the token is not valid on this server', {hint: 'Check --token / LICADM_TOKEN.', details: {reason: 'invalid-token'}})
    }
    const now = epochSeconds(this.ctx.clock)
    if (row.revoked_at !== null) {
      throw new AuthError(`token "${row.name}" was revoked`, {hint: 'Ask the vendor for a new token ("licadm token create").', details: {reason: 'revoked-token', tokenId: row.id}})
    }
    if (row.expires_at !== null && Number(row.expires_at) <= now) {
      throw new AuthError(`token "${row.name}" has expired`, {hint: 'Ask the vendor for a new token ("licadm token create").', details: {reason: 'expired-token', tokenId: row.id}})
    }
    if (row.role === 'group-admin' && row.group_id === null) {
      // Its group was deleted: the token manages nothing, and must not be read as one without limits.
      throw new AuthError(`token "${row.name}" belonged to a group that was deleted`, {hint: 'Ask the vendor for a new token.', details: {reason: 'revoked-token', tokenId: row.id}})
    }
    if (row.last_used_at === null || now - Number(row.last_used_at) >= LAST_USED_RESOLUTION) {
      await this.ctx.store.write(async (tx) => {
        await tx.updateTable('tokens').set({last_used_at: now}).where('id', '=', row.id).execute()
      })
    }
    return {id: row.id, name: row.name, role: row.role, groupId: row.group_id, groupName: row.group_name}
  }

  private select(tx: Tx) {
    return tx.selectFrom('tokens').leftJoin('groups', 'groups.id', 'tokens.group_id').selectAll('tokens').select('groups.name as group_name')
  }

  private async find(ref: string, tx: Tx): Promise<Row> {
    const key = ref.trim()
    const byId = key.startsWith('tok_') ? await this.select(tx).where('tokens.id', '=', key).executeTakeFirst() : undefined
    const row =
      byId ??
      // The active token of that name; else the most recently revoked one (revoking it again changes nothing).
      (await this.select(tx)
        .where('tokens.name', '=', key)
        .orderBy((eb) => eb.case().when('tokens.revoked_at', 'is', null).then(0).else(1).end())
        .orderBy('tokens.revoked_at', 'desc')
        .executeTakeFirst())
    if (!row) throw new NotFoundError('token', key, {hint: 'Run "licadm token list --all" to see the tokens.'})
    return row
  }
}

function parseRole(v: unknown): TokenRole {
  const role = optionalText(v, '--role')?.trim() ?? ''
  if (!(TOKEN_ROLES as readonly string[]).includes(role)) throw new InvalidValueError('--role', `unknown role "${v}": expected ${TOKEN_ROLES.join(', ')}`)
  return role as TokenRole
}

function parseName(v: unknown): string {
  const name = optionalText(v, '--name')?.trim() ?? ''
  if (!NAME.test(name)) {
    throw new InvalidValueError('--name', `"${v}" is not a token name: 1 to 64 letters, digits and . _ @ : - (starting with a letter or digit)`)
  }
  if (name.startsWith('tok_')) throw new InvalidValueError('--name', `"${v}" would read as a token id: choose a name that does not start with tok_`)
  return name
}

function toInfo(r: Row, now: number): TokenInfo {
  const expiresAt = r.expires_at === null ? null : Number(r.expires_at)
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    groupId: r.group_id,
    groupName: r.group_name,
    status: r.revoked_at !== null ? 'revoked' : expiresAt !== null && expiresAt <= now ? 'expired' : 'active',
    createdAt: Number(r.created_at),
    createdBy: r.created_by,
    expiresAt,
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
    lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
  }
}

/** What the audit trail keeps of a token: who and what, never its hash. */
function auditView(t: TokenInfo) {
  return {name: t.name, role: t.role, group: t.groupName, groupId: t.groupId, expiresAt: t.expiresAt, revokedAt: t.revokedAt}
}
