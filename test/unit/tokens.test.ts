/**
 * TokenService: API tokens kept as hashes, shown once, found by id and compared in constant time,
 * expired by the injected clock, revoked, scoped to a group, audited.
 */
import * as crypto from 'node:crypto'
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import {ManualClock} from '../../src/domain/clock.js'
import {AuthError, ConflictError, ExitCode, InvalidValueError, NotFoundError} from '../../src/domain/errors.js'
import {AuditService} from '../../src/services/audit.js'
import type {ServiceContext} from '../../src/services/context.js'
import {DirectoryService} from '../../src/services/directory.js'
import {TokenService} from '../../src/services/tokens.js'
import {openStore, type Store} from '../../src/store/store.js'
import {rejection, tempDir} from './helpers.js'

// timingSafeEqual is watched (and still does its work) to prove every path compares a hash.
vi.mock('node:crypto', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:crypto')>()
  return {...original, default: original, timingSafeEqual: vi.fn(original.timingSafeEqual)}
})

const T0 = Date.UTC(2026, 5, 1, 12)
const SHAPE = /^lat_tok_[0-9a-z]{22}_[A-Za-z0-9_-]{43}$/

const tmp = tempDir()
afterAll(tmp.cleanup)
let n = 0

let store: Store
let clock: ManualClock
let ctx: ServiceContext
let tokens: TokenService
let path: string

beforeEach(async () => {
  path = join(tmp.dir, `tokens-${++n}.db`)
  store = await openStore({path})
  clock = new ManualClock(T0)
  ctx = {store, clock, keys: undefined as never, actor: 'local:tester@default'}
  tokens = new TokenService(ctx)
  await new DirectoryService(ctx).createGroup({name: 'eng'})
  vi.mocked(crypto.timingSafeEqual).mockClear()
})
afterEach(async () => {
  await store.close()
})

/** Every byte SQLite has written for the store: the database, its WAL and any journal. */
function dbBytes(): Buffer {
  return Buffer.concat([path, `${path}-wal`, `${path}-shm`, `${path}-journal`].filter((p) => existsSync(p)).map((p) => readFileSync(p)))
}

async function reason(promise: Promise<unknown>): Promise<string> {
  const e = await rejection(promise)
  expect(e).toBeInstanceOf(AuthError)
  expect(e.exit).toBe(ExitCode.auth)
  return e.details?.reason as string
}

describe('create', () => {
  it('returns the token once, keeps only its SHA-256, and the token authenticates as its principal', async () => {
    const {token, info} = await tokens.create({role: 'client', name: 'ci'})
    expect(token).toMatch(SHAPE)
    expect(token).toContain(info.id)
    expect(info).toMatchObject({name: 'ci', role: 'client', groupId: null, groupName: null, status: 'active', createdBy: 'local:tester@default', expiresAt: null, revokedAt: null, lastUsedAt: null})
    expect(Object.keys(info)).not.toContain('secret')
    expect(JSON.stringify(info)).not.toContain(token.slice(-43))

    const bytes = dbBytes()
    const secret = token.slice(-43)
    expect(bytes.includes(Buffer.from(token))).toBe(false)
    expect(bytes.includes(Buffer.from(secret))).toBe(false)
    expect(bytes.includes(Buffer.from(Buffer.from(secret, 'base64url').toString('hex')))).toBe(false)
    const hash = crypto.createHash('sha256').update(token).digest('hex')
    expect(bytes.includes(Buffer.from(hash))).toBe(true)
    const row = await store.db.selectFrom('tokens').selectAll().where('id', '=', info.id).executeTakeFirstOrThrow()
    expect(row.secret_hash).toBe(hash)

    expect(await tokens.authenticate(token)).toEqual({id: info.id, name: 'ci', role: 'client', groupId: null, groupName: null})
  })

  it('two tokens never share a secret; a default name is the role and a short id', async () => {
    const a = await tokens.create({role: 'vendor'})
    const b = await tokens.create({role: 'vendor'})
    expect(a.token).not.toBe(b.token)
    expect(a.info.name).toMatch(/^vendor-[0-9a-z]{6}$/)
    expect(a.info.name).not.toBe(b.info.name)
  })

  it('refuses an unknown role, a bad name, and a name in use by a token that is not revoked', async () => {
    const role = await rejection(tokens.create({role: 'root'}))
    expect(role).toBeInstanceOf(InvalidValueError)
    expect(role.details?.flag).toBe('--role')
    for (const name of ['', 'has space', 'x'.repeat(65), '-dash', 'tok_01abc']) {
      expect((await rejection(tokens.create({role: 'client', name}))).details?.flag).toBe('--name')
    }
    const first = await tokens.create({role: 'client', name: 'ci'})
    const dup = await rejection(tokens.create({role: 'vendor', name: 'ci'}))
    expect(dup).toBeInstanceOf(ConflictError)
    expect(dup.code).toBe('TOKEN_EXISTS')
    expect(dup.details?.tokenId).toBe(first.info.id)
    // Once revoked, the name is free again; the old record stays.
    await tokens.revoke('ci')
    const second = await tokens.create({role: 'client', name: 'ci'})
    expect(second.info.id).not.toBe(first.info.id)
    expect((await tokens.list({all: true})).filter((t) => t.name === 'ci').map((t) => t.status).sort()).toEqual(['active', 'revoked'])
  })

  it('a group-admin token needs an existing group (name or id); other roles take none', async () => {
    const group = await new DirectoryService(ctx).group('eng')
    const byName = await tokens.create({role: 'group-admin', group: 'eng', name: 'eng-admins'})
    expect(byName.info).toMatchObject({groupId: group.id, groupName: 'eng'})
    const byId = await tokens.create({role: 'group-admin', group: group.id})
    expect(byId.info.groupName).toBe('eng')
    expect(await tokens.authenticate(byName.token)).toEqual({id: byName.info.id, name: 'eng-admins', role: 'group-admin', groupId: group.id, groupName: 'eng'})

    const missing = await rejection(tokens.create({role: 'group-admin'}))
    expect(missing).toBeInstanceOf(InvalidValueError)
    expect(missing.details?.flag).toBe('--group')
    const unknown = await rejection(tokens.create({role: 'group-admin', group: 'nope'}))
    expect(unknown).toBeInstanceOf(NotFoundError)
    expect(unknown.exit).toBe(ExitCode.notFound)
    for (const role of ['vendor', 'client']) {
      const e = await rejection(tokens.create({role, group: 'eng'}))
      expect(e.details?.flag).toBe('--group')
      expect(e.message).toMatch(/only a group-admin token belongs to a group/)
    }
    expect(await tokens.list({all: true})).toHaveLength(2)
  })

  it('a group-admin token whose group was deleted is refused, never read as a token without limits', async () => {
    const {token} = await tokens.create({role: 'group-admin', group: 'eng'})
    await new DirectoryService(ctx).deleteGroup('eng')
    expect(await reason(tokens.authenticate(token))).toBe('revoked-token')
    expect((await tokens.list())[0]).toMatchObject({role: 'group-admin', groupId: null})
  })
})

describe('expiry', () => {
  it('--expires is a duration from now, checked against the injected clock', async () => {
    const {token, info} = await tokens.create({role: 'client', expires: '1h'})
    expect(info.expiresAt).toBe(T0 / 1000 + 3600)
    clock.advance(3599_000)
    expect((await tokens.authenticate(token)).id).toBe(info.id)
    clock.advance(1000)
    const e = await rejection(tokens.authenticate(token))
    expect(e.details).toMatchObject({reason: 'expired-token', tokenId: info.id})
    expect(e.message).toMatch(/has expired/)
    expect(await tokens.list()).toEqual([])
    expect((await tokens.list({all: true}))[0].status).toBe('expired')
    expect(await tokens.anyActive()).toBe(false)
  })

  it('refuses absurd or unreadable durations, naming --expires', async () => {
    for (const expires of ['0s', '30s', '6y', '100000d', 'soon', '-5d', '90']) {
      const e = await rejection(tokens.create({role: 'client', expires}))
      expect(e.details?.flag, expires).toBe('--expires')
      expect(e.exit).toBe(ExitCode.usage)
    }
    expect((await tokens.create({role: 'client', expires: '5y'})).info.expiresAt).toBe(T0 / 1000 + 5 * 365 * 86_400)
    expect(await tokens.list({all: true})).toHaveLength(1)
  })
})

describe('authenticate', () => {
  it('names why a token is refused: malformed, invalid (unknown id or wrong secret), revoked', async () => {
    const {token, info} = await tokens.create({role: 'vendor', name: 'release'})
    for (const bad of ['lat_', 'lat_tok_short_x', `${token}x`, `${token.slice(0, -1)}!`, 'with space', 'short']) {
      expect(await reason(tokens.authenticate(bad)), bad).toBe('malformed-token')
    }
    // The right shape, but a flag token's: not one of the store's.
    expect(await reason(tokens.authenticate('some-flag-token'))).toBe('invalid-token')
    const otherSecret = `${token.slice(0, -43)}${crypto.randomBytes(32).toString('base64url')}`
    expect(await reason(tokens.authenticate(otherSecret))).toBe('invalid-token')
    const unknownId = `lat_tok_${'0'.repeat(22)}_${token.slice(-43)}`
    expect(await reason(tokens.authenticate(unknownId))).toBe('invalid-token')

    expect(await tokens.revoke(info.id)).toMatchObject({changed: true, token: {status: 'revoked'}})
    const revoked = await rejection(tokens.authenticate(token))
    expect(revoked.details).toMatchObject({reason: 'revoked-token', tokenId: info.id})
    expect(revoked.message).toContain('release')
  })

  it('compares the hash in constant time on every path: a known id, an unknown id, a wrong secret', async () => {
    const {token} = await tokens.create({role: 'client'})
    const safeEqual = vi.mocked(crypto.timingSafeEqual)
    const cases = [token, `lat_tok_${'0'.repeat(22)}_${token.slice(-43)}`, `${token.slice(0, -43)}${'A'.repeat(43)}`]
    for (const t of cases) {
      safeEqual.mockClear()
      await tokens.authenticate(t).catch(() => undefined)
      expect(safeEqual, t).toHaveBeenCalledTimes(1)
      const [a, b] = safeEqual.mock.calls[0] as [Buffer, Buffer]
      expect(a.length).toBe(32)
      expect(b.length).toBe(32)
    }
  })

  it('records when a token was last used, at most once a minute', async () => {
    const {token, info} = await tokens.create({role: 'client'})
    await tokens.authenticate(token)
    expect((await tokens.get(info.id)).lastUsedAt).toBe(T0 / 1000)
    clock.advance(30_000)
    await tokens.authenticate(token)
    expect((await tokens.get(info.id)).lastUsedAt).toBe(T0 / 1000)
    clock.advance(30_000)
    await tokens.authenticate(token)
    expect((await tokens.get(info.id)).lastUsedAt).toBe(T0 / 1000 + 60)
  })
})

describe('list, get and revoke', () => {
  it('list never returns a secret or a hash; --all adds revoked and expired tokens', async () => {
    const made = [await tokens.create({role: 'vendor', name: 'b-vendor'}), await tokens.create({role: 'client', name: 'a-client'}), await tokens.create({role: 'group-admin', group: 'eng', name: 'c-eng'})]
    const rows = await store.db.selectFrom('tokens').select('secret_hash').execute()
    const listed = await tokens.list()
    expect(listed.map((t) => t.name)).toEqual(['a-client', 'b-vendor', 'c-eng'])
    const text = JSON.stringify(listed)
    for (const {token} of made) expect(text).not.toContain(token.slice(-43))
    for (const {secret_hash} of rows) expect(text).not.toContain(secret_hash)
    expect(text).not.toMatch(/secret|hash/i)

    await tokens.revoke('b-vendor')
    expect((await tokens.list()).map((t) => t.name)).toEqual(['a-client', 'c-eng'])
    expect((await tokens.list({all: true})).map((t) => [t.name, t.status])).toEqual([
      ['a-client', 'active'],
      ['b-vendor', 'revoked'],
      ['c-eng', 'active'],
    ])
  })

  it('revoke by id or name; again changes nothing; unknown is not found', async () => {
    const {info} = await tokens.create({role: 'client', name: 'ci'})
    clock.advance(5000)
    const first = await tokens.revoke('ci')
    expect(first).toMatchObject({changed: true, token: {id: info.id, status: 'revoked', revokedAt: T0 / 1000 + 5}})
    expect(await tokens.revoke(info.id)).toMatchObject({changed: false, token: {revokedAt: T0 / 1000 + 5}})
    expect(await tokens.revoke('ci')).toMatchObject({changed: false})
    const e = await rejection(tokens.revoke('nobody'))
    expect(e).toBeInstanceOf(NotFoundError)
    expect(e.code).toBe('TOKEN_NOT_FOUND')
    // By name, the token that is not revoked comes first.
    const again = await tokens.create({role: 'client', name: 'ci'})
    expect((await tokens.get('ci')).id).toBe(again.info.id)
  })

  it('create and revoke append audit events naming the token, never its secret or hash', async () => {
    const {token, info} = await tokens.create({role: 'group-admin', group: 'eng', name: 'eng-admins', expires: '90d'})
    await tokens.revoke('eng-admins')
    await tokens.revoke('eng-admins') // no change, no event
    const {events} = await new AuditService(ctx).list({subject: `token:${info.id}`})
    expect(events.map((e) => e.action)).toEqual(['token.create', 'token.revoke'])
    expect(events[0]).toMatchObject({actor: 'local:tester@default', after: {name: 'eng-admins', role: 'group-admin', group: 'eng', expiresAt: T0 / 1000 + 90 * 86_400, revokedAt: null}})
    expect(events[1]).toMatchObject({before: {revokedAt: null}, after: {revokedAt: T0 / 1000}})
    const hash = crypto.createHash('sha256').update(token).digest('hex')
    const text = JSON.stringify(events)
    expect(text).not.toContain(token.slice(-43))
    expect(text).not.toContain(hash)
    expect((await new AuditService(ctx).verify()).ok).toBe(true)
  })
})
