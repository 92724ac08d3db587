/**
 * The server's authentication and authorization: tokens given by flag, seed file and the store;
 * every seat and admin route refuses a missing, malformed, unknown, revoked or expired token (401)
 * and a token of the wrong role (403; a container credential is a client) with a clear body, and changes nothing; failed authentication
 * is rate-limited per client address (429 with Retry-After).
 */
import {createHash} from 'node:crypto'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import type {InjectOptions} from 'fastify'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ManualClock} from '../../src/domain/clock.js'
import {ExitCode} from '../../src/domain/errors.js'
import {containerToken} from '../../src/domain/tokens.js'
import {FailureLimiter} from '../../src/server/auth.js'
import {startServer} from '../../src/server/runtime.js'
import {ContainerService} from '../../src/services/containers.js'
import {TokenService} from '../../src/services/tokens.js'
import {openStore} from '../../src/store/store.js'
import {tempDir} from '../unit/helpers.js'
import {ADMIN_TOKEN, CLIENT_TOKEN, closeAll, defaultSeed, T0, testServer, type TestServer} from './helpers.js'

const tmp = tempDir()
afterAll(async () => {
  await closeAll()
  tmp.cleanup()
})

const SEED_GROUP_ADMIN = 'seed-group-admin-token'
const seed = {
  ...defaultSeed,
  users: [{email: 'ann@example.com'}],
  groups: [{name: 'eng', members: [{user: 'ann@example.com', role: 'admin'}]}, {name: 'ops'}],
  tokens: [{name: 'seed-eng', role: 'group-admin', group: 'eng', token: SEED_GROUP_ADMIN}],
}

function tokenService(s: TestServer): TokenService {
  return new TokenService({store: s.store, clock: s.clock, keys: undefined as never, actor: 'test'})
}

interface Answer {
  status: number
  json: any
  headers: Record<string, unknown>
}

async function call(s: TestServer, method: InjectOptions['method'], url: string, options: {auth?: string | null; body?: unknown; address?: string} = {}): Promise<Answer> {
  const headers: Record<string, string> = {}
  if (options.auth !== null && options.auth !== undefined) headers.authorization = options.auth
  const res = await s.app.inject({method, url, headers, payload: options.body as never, remoteAddress: options.address ?? '127.0.0.1'})
  return {status: res.statusCode, json: res.json(), headers: res.headers}
}

const bearer = (token: string) => `Bearer ${token}`

/** Everything a refused request could have changed. */
async function snapshot(s: TestServer) {
  const db = s.store.db
  return {
    now: s.clock.now(),
    usage: (await s.seats.list()).map(({holders, ...u}) => ({...u, holders: holders.map((h) => h.id)})),
    leases: await db.selectFrom('leases').selectAll().orderBy('id').execute(),
    rules: await db.selectFrom('access_rules').selectAll().orderBy('id').execute(),
    defaults: await db.selectFrom('access_defaults').selectAll().execute(),
    policies: await db.selectFrom('seat_policies').selectAll().execute(),
    reservations: await db.selectFrom('seat_reservations').selectAll().orderBy('id').execute(),
    audit: (await db.selectFrom('audit_events').select(({fn}) => fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n,
  }
}

describe('every seat and admin route refuses bad tokens and wrong roles, and changes nothing', () => {
  let s: TestServer
  const t: Record<string, string> = {}
  let leaseId: string
  let borrowId: string
  let ruleId: number
  let reservationId: number

  beforeAll(async () => {
    // A limit that this matrix of refusals does not reach; the limit has its own tests below.
    s = await testServer({seed, authRateLimit: {failures: 100_000}})
    const tokens = tokenService(s)
    t.expired = (await tokens.create({role: 'vendor', name: 'short-lived', expires: '1m'})).token
    s.clock.advance(61_000) // before any lease exists, so no lease expires with it
    t.revoked = (await tokens.create({role: 'vendor', name: 'gone'})).token
    await tokens.revoke('gone')
    t.client = (await tokens.create({role: 'client', name: 'ci'})).token
    t.vendor = (await tokens.create({role: 'vendor', name: 'release'})).token
    t.groupAdmin = (await tokens.create({role: 'group-admin', group: 'eng', name: 'eng-admins'})).token
    t.otherGroupAdmin = (await tokens.create({role: 'group-admin', group: 'ops', name: 'ops-admins'})).token
    const {credentials} = await new ContainerService({store: s.store, clock: s.clock, keys: undefined as never, actor: 'test'}).create({kind: 'enterprise', group: 'eng'})
    t.container = containerToken(credentials!)

    const ten = s.license('ten')
    // Stored tokens work: a client token checks out and borrows, a vendor token administers.
    const lease = await call(s, 'POST', '/v1/leases', {auth: bearer(t.client), body: {license: ten, user: 'ann', host: 'pc1'}})
    expect(lease.status, JSON.stringify(lease.json)).toBe(201)
    leaseId = lease.json.result.lease.id
    const borrow = await call(s, 'POST', '/v1/borrows', {auth: bearer(t.client), body: {license: ten, user: 'bob', host: 'laptop', duration: 86_400}})
    expect(borrow.status, JSON.stringify(borrow.json)).toBe(201)
    borrowId = borrow.json.result.borrow.id
    const rule = await call(s, 'POST', '/v1/admin/rules', {auth: bearer(t.vendor), body: {product: 7, action: 'deny', subject: 'user', pattern: 'mallory'}})
    expect(rule.status, JSON.stringify(rule.json)).toBe(201)
    ruleId = rule.json.result.rule.id
    const reservation = await call(s, 'POST', '/v1/admin/reservations', {auth: bearer(t.vendor), body: {license: ten, subject: 'user', pattern: 'ann', seats: 1}})
    expect(reservation.status, JSON.stringify(reservation.json)).toBe(201)
    reservationId = reservation.json.result.reservation.id
  })

  /** Each route with a body it would accept: a refusal is the token's doing, not the input's. */
  const seatRoutes = (): Array<[InjectOptions['method'], string, unknown?]> => [
    ['POST', '/v1/leases', {license: s.license('two'), user: 'eve', host: 'pc9'}],
    ['POST', `/v1/leases/${leaseId}/heartbeat`],
    ['DELETE', `/v1/leases/${leaseId}`],
    ['GET', '/v1/leases'],
    ['POST', '/v1/borrows', {license: s.license('two'), user: 'eve', host: 'pc9', duration: 3600}],
    ['DELETE', `/v1/borrows/${borrowId}`],
    ['GET', '/v1/status'],
  ]
  const adminRoutes = (): Array<[InjectOptions['method'], string, unknown?]> => [
    ['DELETE', `/v1/admin/leases/${leaseId}`],
    ['GET', '/v1/admin/rules'],
    ['POST', '/v1/admin/rules', {product: 7, action: 'deny', subject: 'host', pattern: 'evil-*'}],
    ['DELETE', `/v1/admin/rules/${ruleId}`],
    ['PUT', '/v1/admin/rules/7/default', {action: 'deny'}],
    ['GET', `/v1/admin/policies/${s.license('ten')}`],
    ['PUT', `/v1/admin/policies/${s.license('ten')}`, {mode: 'exclusive'}],
    ['PATCH', `/v1/admin/policies/${s.license('ten')}`, {maxPerUser: 3}],
    ['GET', '/v1/admin/reservations'],
    ['POST', '/v1/admin/reservations', {license: s.license('ten'), subject: 'host', pattern: 'build-*', seats: 2}],
    ['DELETE', `/v1/admin/reservations/${reservationId}`],
    ['GET', '/v1/admin/usage'],
    ['POST', '/v1/test/clock/advance', {seconds: 0}],
  ]

  const unauthenticated = (): Array<[string, string | null, string]> => [
    ['no token', null, 'missing-token'],
    ['another scheme', 'Basic Zm9vOmJhcg==', 'malformed-token'],
    ['Bearer without a token', 'Bearer', 'malformed-token'],
    ['two words', 'Bearer two words', 'malformed-token'],
    ['a cut stored token', bearer(t.client.slice(0, -5)), 'malformed-token'],
    ['non-ASCII', bearer('tökenvalue123'), 'malformed-token'],
    ['an unknown token', bearer('not-a-token-of-ours'), 'invalid-token'],
    ['an unknown stored-token id', bearer(`lat_tok_${'0'.repeat(22)}_${'A'.repeat(43)}`), 'invalid-token'],
    ['the wrong secret for a known id', bearer(`${t.client.slice(0, -43)}${'B'.repeat(43)}`), 'invalid-token'],
    ['a revoked token', bearer(t.revoked), 'revoked-token'],
    ['an expired token', bearer(t.expired), 'expired-token'],
  ]

  /**
   * Each route as written, and with the first letter of its path after /v1/ percent-encoded
   * (/v1/%61dmin/rules): the router decodes it and reaches the same handler, so it must be as guarded.
   */
  const spellings = (routes: Array<[InjectOptions['method'], string, unknown?]>) =>
    routes.flatMap(([method, url, body]) => [
      [method, url, body],
      [method, `/v1/%${url.charCodeAt(4).toString(16)}${url.slice(5)}`, body],
    ]) as Array<[InjectOptions['method'], string, unknown?]>

  it('the percent-encoded spelling of a route reaches the same handler (so the guard of each route is tested under both)', async () => {
    const spelled = spellings(adminRoutes())[3][1]
    expect(spelled).toBe('/v1/%61dmin/rules')
    const a = await call(s, 'GET', spelled, {auth: bearer(t.vendor)})
    expect(a.status).toBe(200)
    expect(a.json.result.products).toEqual((await call(s, 'GET', '/v1/admin/rules', {auth: bearer(t.vendor)})).json.result.products)
    expect((await call(s, 'GET', '/v1/%6Ceases', {auth: bearer(t.client)})).status).toBe(200)
  })

  it('401 for a missing, malformed, unknown, revoked or expired token on every route', async () => {
    const before = await snapshot(s)
    for (const [method, url, body] of spellings([...seatRoutes(), ...adminRoutes()])) {
      for (const [what, auth, reason] of unauthenticated()) {
        const a = await call(s, method, url, {auth, body})
        const label = `${method} ${url} with ${what}`
        expect(a.status, label).toBe(401)
        expect(a.json, label).toMatchObject({ok: false, error: {code: 'AUTH', exitCode: ExitCode.auth, details: {reason}}})
        expect(a.json.error.message.length, label).toBeGreaterThan(15)
        expect(a.json.error.hint, label).toMatch(/token|LICADM_TOKEN/)
        expect(a.headers['www-authenticate'], label).toMatch(/^Bearer /)
        expect(a.headers['licadm-signature'], label).toBeTruthy()
      }
    }
    expect(await snapshot(s)).toEqual(before)
  })

  it('messages say what is wrong with the token', async () => {
    const [, url] = seatRoutes()[3]
    expect((await call(s, 'GET', url)).json.error.message).toMatch(/needs a token/)
    expect((await call(s, 'GET', url, {auth: 'Basic Zm9v'})).json.error.message).toMatch(/Authorization header is malformed/)
    expect((await call(s, 'GET', url, {auth: bearer('not-a-token-of-ours')})).json.error.message).toMatch(/not valid on this server/)
    expect((await call(s, 'GET', url, {auth: bearer(t.revoked)})).json.error.message).toMatch(/token "gone" was revoked/)
    expect((await call(s, 'GET', url, {auth: bearer(t.expired)})).json.error.message).toMatch(/token "short-lived" has expired/)
  })

  it('403 for a token of the wrong role: group-admin on the seat API; client and group-admin on the admin API', async () => {
    const before = await snapshot(s)
    const check = (a: Answer, label: string, role: string) => {
      expect(a.status, label).toBe(403)
      expect(a.json, label).toMatchObject({ok: false, error: {code: 'FORBIDDEN', exitCode: ExitCode.auth, details: {reason: 'role', role}}})
      expect(a.json.error.message, label).toMatch(new RegExp(`has role ${role}; this needs a`))
    }
    const groupAdmins = [bearer(t.groupAdmin), bearer(t.otherGroupAdmin), bearer(SEED_GROUP_ADMIN)]
    for (const [method, url, body] of spellings(seatRoutes())) {
      for (const auth of groupAdmins) check(await call(s, method, url, {auth, body}), `${method} ${url}`, 'group-admin')
    }
    for (const [method, url, body] of spellings(adminRoutes())) {
      for (const auth of groupAdmins) check(await call(s, method, url, {auth, body}), `${method} ${url}`, 'group-admin')
      // An enterprise container's credential is a client of its own container's seats only.
      const container = await call(s, method, url, {auth: bearer(t.container), body})
      expect(container.status, `${method} ${url}`).toBe(403)
      expect(container.json.error, `${method} ${url}`).toMatchObject({code: 'FORBIDDEN', details: {reason: 'role', role: 'client'}, message: expect.stringMatching(/credential of container E-.* reaches the seat API only; this needs a vendor/)})
      for (const auth of [bearer(t.client), bearer(CLIENT_TOKEN)]) {
        const a = await call(s, method, url, {auth, body})
        check(a, `${method} ${url}`, 'client')
        expect(a.json.error.message).toMatch(/vendor \(admin\) token/)
      }
    }
    expect(await snapshot(s)).toEqual(before)
  })

  it('the right tokens still work afterwards: flag, seed and stored; vendor tokens reach the seat API too', async () => {
    for (const auth of [bearer(CLIENT_TOKEN), bearer(t.client), bearer(ADMIN_TOKEN), bearer(t.vendor)]) {
      expect((await call(s, 'GET', '/v1/leases', {auth})).status).toBe(200)
    }
    for (const auth of [bearer(ADMIN_TOKEN), bearer(t.vendor)]) expect((await call(s, 'GET', '/v1/admin/rules', {auth})).status).toBe(200)
    // The header's scheme is case-insensitive.
    expect((await call(s, 'GET', '/v1/leases', {auth: `bearer ${t.client}`})).status).toBe(200)
  })

  it('who a token is: seeded and stored group-admin tokens carry their group', async () => {
    const eng = await s.store.db.selectFrom('groups').select(['id', 'name']).where('name', '=', 'eng').executeTakeFirstOrThrow()
    expect(await s.auth.authenticate(bearer(SEED_GROUP_ADMIN), '10.9.9.9')).toEqual({id: null, name: 'seed-eng', role: 'group-admin', groupId: eng.id, groupName: 'eng'})
    const stored = await s.auth.authenticate(bearer(t.groupAdmin), '10.9.9.9')
    expect(stored).toMatchObject({name: 'eng-admins', role: 'group-admin', groupId: eng.id, groupName: 'eng'})
    expect(stored.id).toMatch(/^tok_/)
    expect(await s.auth.authenticate(bearer(CLIENT_TOKEN), '10.9.9.9')).toEqual({id: null, name: 'tests', role: 'client', groupId: null, groupName: null})
  })

  it('a token revoked or expiring while the server runs is refused from the next request on', async () => {
    const tokens = tokenService(s)
    const {token} = await tokens.create({role: 'client', name: 'soon-gone'})
    expect((await call(s, 'GET', '/v1/leases', {auth: bearer(token)})).status).toBe(200)
    await tokens.revoke('soon-gone')
    expect((await call(s, 'GET', '/v1/leases', {auth: bearer(token)})).json.error.details.reason).toBe('revoked-token')

    const short = await tokens.create({role: 'client', name: 'an-hour', expires: '1h'})
    expect((await call(s, 'GET', '/v1/leases', {auth: bearer(short.token)})).status).toBe(200)
    expect((await tokens.get('an-hour')).lastUsedAt).toBe(Math.floor(s.clock.now() / 1000))
    s.clock.advance(3600_000)
    expect((await call(s, 'GET', '/v1/leases', {auth: bearer(short.token)})).json.error.details.reason).toBe('expired-token')
  })
})

describe('rate limit of failed authentication per client address', () => {
  it('the 11th failure within a minute gets 429 with Retry-After, even with a good token; other addresses are not affected', async () => {
    const s = await testServer({rateLimitOnTestClock: true})
    const stored = (await tokenService(s).create({role: 'client', name: 'ci'})).token
    const attacker = '203.0.113.7'
    for (let i = 0; i < 10; i++) {
      const a = await call(s, 'GET', '/v1/leases', {auth: bearer(`guess-number-${i}`), address: attacker})
      expect(a.status, `failure ${i + 1}`).toBe(401)
      s.clock.advance(1000)
    }
    const limited = await call(s, 'GET', '/v1/leases', {auth: bearer('guess-number-10'), address: attacker})
    expect(limited.status).toBe(429)
    expect(limited.json).toMatchObject({ok: false, error: {code: 'AUTH_RATE_LIMITED', exitCode: ExitCode.auth, details: {reason: 'rate-limited', retryAfter: 50}}})
    expect(limited.json.error.message).toMatch(/too many failed authentications from 203\.0\.113\.7: try again in 50 s/)
    expect(limited.json.error.hint).toMatch(/10 failed authentications per 60 s/)
    expect(limited.headers['retry-after']).toBe('50')
    expect(limited.headers['licadm-signature']).toBeTruthy()
    // A good token from the blocked address is refused too: the answer must not tell a guess that worked.
    for (const auth of [bearer(CLIENT_TOKEN), bearer(stored)]) expect((await call(s, 'GET', '/v1/leases', {auth, address: attacker})).status).toBe(429)
    // Admin routes are behind the same limit.
    expect((await call(s, 'GET', '/v1/admin/rules', {auth: bearer(ADMIN_TOKEN), address: attacker})).status).toBe(429)
    // Other addresses work, and a refusal from one does not count against another.
    expect((await call(s, 'GET', '/v1/leases', {auth: bearer(stored), address: '198.51.100.1'})).status).toBe(200)
    expect((await call(s, 'GET', '/v1/leases', {auth: bearer('wrong-here-too'), address: '198.51.100.2'})).status).toBe(401)
    expect((await call(s, 'POST', '/v1/leases', {auth: bearer(CLIENT_TOKEN), address: '198.51.100.3', body: {license: s.license('ten'), user: 'u', host: 'h'}})).status).toBe(201)

    // Retry-After counts down with the server's clock; when the oldest failure leaves the window, one more try is allowed.
    s.clock.advance(30_000)
    expect((await call(s, 'GET', '/v1/leases', {auth: bearer('x-guess-1'), address: attacker})).headers['retry-after']).toBe('20')
    s.clock.advance(20_000)
    expect((await call(s, 'GET', '/v1/leases', {auth: bearer(stored), address: attacker})).status).toBe(200)
    expect((await call(s, 'GET', '/v1/leases', {auth: bearer('x-guess-2'), address: attacker})).status).toBe(401)
    expect((await call(s, 'GET', '/v1/leases', {auth: bearer(stored), address: attacker})).status).toBe(429)
    expect(s.auth.refusals['rate-limited']).toBeGreaterThanOrEqual(5)
    expect(s.auth.refusals['invalid-token']).toBe(12)
    await s.close()
  })

  it('the window runs on real time, not on a test clock held still: a blocked address is let in again, and the test clock can still be advanced', async () => {
    const s = await testServer({authRateLimit: {failures: 2, windowMs: 300}})
    for (let i = 0; i < 2; i++) expect((await call(s, 'GET', '/v1/leases', {auth: bearer(`guess-${i}`), address: '203.0.113.9'})).status).toBe(401)
    expect((await call(s, 'POST', '/v1/test/clock/advance', {auth: bearer(ADMIN_TOKEN), address: '203.0.113.9', body: {seconds: 60}})).status).toBe(429)
    await new Promise((resolve) => setTimeout(resolve, 400))
    const advanced = await call(s, 'POST', '/v1/test/clock/advance', {auth: bearer(ADMIN_TOKEN), address: '203.0.113.9', body: {seconds: 60}})
    expect(advanced.status).toBe(200)
    expect((await call(s, 'GET', '/v1/leases', {auth: bearer(CLIENT_TOKEN), address: '203.0.113.9'})).status).toBe(200)
    await s.close()
  })

  it('a request without any token is refused but not counted; a wrong role is not a failed authentication', async () => {
    const s = await testServer()
    for (let i = 0; i < 20; i++) expect((await call(s, 'GET', '/v1/leases', {address: '192.0.2.5'})).status).toBe(401)
    for (let i = 0; i < 20; i++) expect((await call(s, 'GET', '/v1/admin/rules', {auth: bearer(CLIENT_TOKEN), address: '192.0.2.5'})).status).toBe(403)
    expect((await call(s, 'GET', '/v1/leases', {auth: bearer(CLIENT_TOKEN), address: '192.0.2.5'})).status).toBe(200)
    await s.close()
  })

  it('the limit is an option of the server; a ServerClient sees 429 as AUTH_RATE_LIMITED, exit 7', async () => {
    const s = await testServer({authRateLimit: {failures: 2, windowMs: 10_000}})
    const {ServerClient} = await import('../../src/client/http.js')
    const wrong = new ServerClient({server: s.url, token: 'wrong-token-123'})
    for (let i = 0; i < 2; i++) await expect(wrong.list()).rejects.toMatchObject({code: 'AUTH', exit: ExitCode.auth})
    await expect(wrong.list()).rejects.toMatchObject({code: 'AUTH_RATE_LIMITED', exit: ExitCode.auth, details: {httpStatus: 429, retryAfter: 10}})
    await s.close()
  })

  it('memory stays bounded: at most maxAddresses addresses are tracked', () => {
    const clock = new ManualClock(T0)
    const limiter = new FailureLimiter(clock, {failures: 3, windowMs: 60_000, maxAddresses: 100})
    for (let i = 0; i < 1000; i++) limiter.record(`10.0.${i >> 8}.${i & 255}`)
    expect(limiter.tracked).toBeLessThanOrEqual(100)
    for (let i = 0; i < 5; i++) limiter.record('10.9.9.9')
    expect(limiter.blockedFor('10.9.9.9')).toBe(60_000)
    clock.advance(60_000)
    expect(limiter.blockedFor('10.9.9.9')).toBe(0)
  })
})

describe('tokens from the seed file and the store at start', () => {
  const base = {port: 0, clock: new ManualClock(T0)}

  it('a seeded group-admin token needs an existing group; other roles take none', async () => {
    const withTokens = (tokens: object[]) => JSON.stringify({...defaultSeed, groups: [{name: 'eng'}], tokens})
    await expect(startServer({...base, data: {kind: 'memory'}, seed: withTokens([{name: 'x', role: 'group-admin', token: 'group-admin-1'}])})).rejects.toThrow(/token 1 is a group-admin token: give the "group"/)
    await expect(startServer({...base, data: {kind: 'memory'}, seed: withTokens([{name: 'x', role: 'group-admin', group: 'nope', token: 'group-admin-1'}])})).rejects.toThrow(/group "nope", which does not exist/)
    await expect(startServer({...base, data: {kind: 'memory'}, seed: withTokens([{name: 'x', role: 'client', group: 'eng', token: 'client-token-1'}])})).rejects.toThrow(/only a group-admin token belongs to a group/)
    await expect(startServer({...base, data: {kind: 'memory'}, seed: withTokens([{name: 'x', role: 'root', token: 'client-token-1'}])})).rejects.toThrow(/role "root"; expected vendor, group-admin, client/)
    const hashed = createHash('sha256').update('group-admin-by-hash').digest('hex')
    const s = await startServer({...base, data: {kind: 'memory'}, seed: withTokens([{name: 'eng-admin', role: 'group-admin', group: 'eng', sha256: hashed}])})
    try {
      expect(await s.auth.authenticate('Bearer group-admin-by-hash', '::1')).toMatchObject({name: 'eng-admin', role: 'group-admin', groupName: 'eng'})
    } finally {
      await s.close()
    }
  })

  it('a new data directory refused for want of a client token is left unmade: the corrected start names its own vendor; its new key is encrypted with a passphrase given', async () => {
    const dir = join(tmp.dir, 'refused-first')
    await expect(startServer({...base, data: {kind: 'dir', dir}})).rejects.toMatchObject({code: 'USAGE', message: expect.stringMatching(/needs a client token/)})
    // A short passphrase for the new key is refused as a prompt would refuse it, and nothing is left made either.
    await expect(startServer({...base, data: {kind: 'dir', dir, newKeyPassphrase: 'short'}, tokens: [{token: 'bootstrap-token', role: 'client', name: 'ci'}]})).rejects.toMatchObject({
      code: 'USAGE',
      message: 'LICADM_KEY_PASSPHRASE: use at least 8 characters for a new passphrase',
    })
    expect(existsSync(join(dir, 'keys'))).toBe(false)
    const s = await startServer({...base, data: {kind: 'dir', dir, newKeyPassphrase: 'a passphrase of ours', passphrase: async () => 'a passphrase of ours'}, vendor: {code: '1001', name: 'Acme'}, tokens: [{token: 'bootstrap-token', role: 'client', name: 'ci'}]})
    try {
      expect(s.vendor).toMatchObject({code: 1001, name: 'Acme'})
      const keyFiles = readdirSync(join(dir, 'keys')).filter((f) => f.endsWith('.pem'))
      expect(keyFiles).toHaveLength(1)
      expect(readFileSync(join(dir, 'keys', keyFiles[0]), 'utf8')).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/)
    } finally {
      await s.close()
    }
  })

  it('a server starts with only stored tokens; with none at all it refuses and says how to make one', async () => {
    const dir = join(tmp.dir, 'stored-only')
    const first = await startServer({...base, data: {kind: 'dir', dir}, seed: JSON.stringify(defaultSeed), tokens: [{token: 'bootstrap-token', role: 'vendor', name: 'bootstrap'}]})
    await first.close()
    await expect(startServer({...base, data: {kind: 'dir', dir}})).rejects.toThrow(/create one with "licadm token create", or an enterprise container/)
    // An enterprise container's credential is a way in too: a server with one starts without tokens.
    const withContainer = join(tmp.dir, 'container-only')
    const seeded = await startServer({...base, data: {kind: 'dir', dir: withContainer}, seed: JSON.stringify({...defaultSeed, groups: [{name: 'eng'}], containers: [{kind: 'enterprise', group: 'eng'}]}), tokens: [{token: 'bootstrap-token', role: 'vendor', name: 'bootstrap'}]})
    await seeded.close()
    await (await startServer({...base, data: {kind: 'dir', dir: withContainer}})).close()
    const store = await openStore({path: join(dir, 'licadm.db')})
    const {token} = await new TokenService({store, clock: base.clock, keys: undefined as never, actor: 'test'}).create({role: 'client', name: 'ci'})
    await store.close()
    const s = await startServer({...base, data: {kind: 'dir', dir}})
    try {
      const res = await s.app.inject({method: 'GET', url: '/v1/leases', headers: {authorization: `Bearer ${token}`}})
      expect(res.statusCode).toBe(200)
    } finally {
      await s.close()
    }
  })
})
