/**
 * The administration API (POST /v1/ops/<service>.<method>), route by route: every operation refuses
 * a missing, malformed, unknown, revoked or expired token (401) and a token of the wrong role (403);
 * a group-admin token reaches only its own group's enterprise containers and members (403 for
 * another group's); nothing changes on a refusal; audit events name the token that acted.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {OPERATIONS} from '../../src/services/operations.js'
import {TokenService} from '../../src/services/tokens.js'
import {ADMIN_TOKEN, CLIENT_TOKEN, closeAll, defaultSeed, testServer, type TestServer} from './helpers.js'
import {deviceIdentity, opsCalls} from './ops-helpers.js'

let s: TestServer
let eng: {admin: string; serial: string; license: string}
let ops: {admin: string; serial: string; license: string}
const bad: Record<string, string> = {}

const seed = {
  ...defaultSeed,
  users: [{email: 'ann@example.com'}, {email: 'bob@example.com'}, {email: 'cy@example.com'}, {email: 'dee@example.com'}],
  groups: [
    {name: 'eng', members: [{user: 'ann@example.com', role: 'admin'}, {user: 'bob@example.com'}]},
    {name: 'ops', members: [{user: 'cy@example.com', role: 'admin'}]},
  ],
}

const {op, ok, snapshot} = opsCalls(() => s, 1)

beforeAll(async () => {
  s = await testServer({seed})
  const tokens = new TokenService({store: s.store, clock: s.clock, keys: undefined as never, actor: 'test'})
  const make = async (role: string, name: string, group?: string, expires?: string) => (await tokens.create({role, name, group, expires})).token
  const container = async (group: string) => (await ok('containers.create', [{kind: 'enterprise', group}])).container.serial
  const license = async (customer: string) => (await ok('licenses.create', [{product: 7, kind: 'concurrent', quantity: 2, customer}])).licenses[0].id
  eng = {admin: await make('group-admin', 'eng-admin', 'eng'), serial: await container('eng'), license: await license('eng')}
  ops = {admin: await make('group-admin', 'ops-admin', 'ops'), serial: await container('ops'), license: await license('ops')}
  bad.revoked = await make('vendor', 'revoked')
  await tokens.revoke('revoked')
  bad.expired = await make('vendor', 'expires-soon', undefined, '1h')
  s.clock.advance(2 * 3600 * 1000)
})
afterAll(closeAll)

/** For each operation a group admin may call: arguments that name the other group's things. */
function argsAgainstEng(name: string): unknown[] {
  const byOp: Record<string, unknown[]> = {
    'directory.group': ['eng'],
    'directory.groupDetails': ['eng'],
    'directory.addMember': ['eng', 'dee@example.com'],
    'directory.removeMember': ['eng', 'bob@example.com'],
    'directory.setRole': ['eng', 'bob@example.com', 'admin'],
    'containers.addLicense': [eng.serial, eng.license],
    'containers.removeLicense': [eng.serial, eng.license],
    'devices.activate': [eng.serial, deviceIdentity('SIM-OTHER'), {user: 'bob@example.com'}],
    'devices.deactivate': [eng.serial, 'SIM-OTHER'],
    'devices.list': [{container: eng.serial}],
    'saws.create': [eng.serial, 'SIM-OTHER', 'a-secret'],
  }
  return byOp[name] ?? [eng.serial]
}

describe('every operation refuses a bad token and changes nothing', () => {
  it('no token, a malformed one, an unknown one, a revoked one, an expired one: 401 with the reason', async () => {
    const before = await snapshot()
    const cases: Array<[string, string | undefined, string]> = [
      ['no token', undefined, 'missing-token'],
      ['not a bearer token', `Basic ${Buffer.from('a:b').toString('base64')}`, 'malformed-token'],
      ['malformed', 'Bearer lat_!!', 'malformed-token'],
      ['unknown', 'Bearer an-unknown-token-of-good-shape', 'invalid-token'],
      ['revoked', `Bearer ${bad.revoked}`, 'revoked-token'],
      ['expired', `Bearer ${bad.expired}`, 'expired-token'],
    ]
    for (const name of Object.keys(OPERATIONS)) {
      for (const [what, auth, reason] of cases) {
        const r = await op(name, argsAgainstEng(name), null, auth)
        expect(r.status, `${name} with ${what}`).toBe(401)
        expect(r.json.ok).toBe(false)
        expect(r.json.error.exitCode).toBe(7)
        expect(r.json.error.details?.reason, `${name} with ${what}: ${JSON.stringify(r.json)}`).toBe(reason)
        expect(r.json.error.message.length).toBeGreaterThan(10)
      }
    }
    expect(await snapshot()).toEqual(before)
  })

  it('a client token reaches no operation (403, role); a group-admin token no vendor-only one (403, role)', async () => {
    const before = await snapshot()
    for (const [name, spec] of Object.entries(OPERATIONS)) {
      const client = await op(name, argsAgainstEng(name), CLIENT_TOKEN)
      expect(client.status, name).toBe(403)
      expect(client.json.error).toMatchObject({code: 'FORBIDDEN', exitCode: 7, details: {reason: 'role', role: 'client'}})
      if (spec.groupAdmin) continue
      const groupAdmin = await op(name, argsAgainstEng(name), ops.admin)
      expect(groupAdmin.status, name).toBe(403)
      expect(groupAdmin.json.error).toMatchObject({code: 'FORBIDDEN', details: {reason: 'role', role: 'group-admin'}})
    }
    expect(await snapshot()).toEqual(before)
  })

  it("a group-admin token of another group: 403 on every group operation naming the other group's things", async () => {
    const before = await snapshot()
    const scoped = Object.entries(OPERATIONS).filter(([name, spec]) => spec.groupAdmin && name !== 'containers.list')
    expect(scoped.length).toBeGreaterThan(10)
    for (const [name] of scoped) {
      const r = await op(name, argsAgainstEng(name), ops.admin)
      expect(r.status, `${name}: ${JSON.stringify(r.json)}`).toBe(403)
      expect(r.json.error).toMatchObject({code: 'FORBIDDEN', exitCode: 7, details: {reason: 'group', group: 'ops'}})
      expect(r.json.error.message).toContain('ops-admin')
    }
    // containers.list is narrowed, not refused: the ops admin sees the ops container only, whatever it asks.
    const listed = await ok('containers.list', [{group: 'eng'}], ops.admin)
    expect(listed.map((c: {serial: string}) => c.serial)).toEqual([ops.serial])
    expect(await snapshot()).toEqual(before)
  })

  it("arguments that do not fit the operation's parameters: 400 naming the argument, before the method runs", async () => {
    const before = await snapshot()
    // One more argument than the operation takes: the server's own parameters (a transaction) are out of reach.
    const extra = await op('directory.user', ['bob@example.com', {}], ADMIN_TOKEN)
    expect(extra.status).toBe(400)
    expect(extra.json.error).toMatchObject({code: 'INVALID_ARGUMENTS', exitCode: 2, message: 'operation directory.user(string) takes at most 1 argument(s), not 2'})
    const wrongType = await op('licenses.revoke', [[eng.license]], ADMIN_TOKEN)
    expect(wrongType.json.error).toMatchObject({code: 'INVALID_ARGUMENTS', message: 'operation licenses.revoke(string): argument 1 is an array, not a string', details: {argument: 1}})
    const missing = await op('containers.addLicense', [eng.serial], ADMIN_TOKEN)
    expect(missing.json.error.message).toBe('operation containers.addLicense(string, string): argument 2 is missing: a string is required')
    // A product code may be a number or a string; an optional argument may be null.
    expect((await op('products.get', [{code: 7}], ADMIN_TOKEN)).json.error.message).toMatch(/argument 1 is an object, not a string or number/)
    expect((await op('licenses.list', [null], ADMIN_TOKEN)).status).toBe(200)
    // Inside an argument, the method checks each value: a device identity with unreadable keys registers nothing.
    const identity = {fingerprint: 'SIM-GARBAGE', name: 'x', platform: 'y', signKey: 'not-a-key', encKey: 'nope'}
    expect((await op('devices.activate', [eng.serial, identity], ADMIN_TOKEN)).json.error).toMatchObject({code: 'INVALID_VALUE', message: expect.stringMatching(/unreadable public keys/)})
    expect((await op('devices.activate', [eng.serial, {fingerprint: 'SIM-GARBAGE'}], ADMIN_TOKEN)).json.error.message).toMatch(/needs name, platform, signKey, encKey/)
    expect((await op('audit.list', [{subject: 42}], ADMIN_TOKEN)).json.error).toMatchObject({code: 'INVALID_VALUE', message: expect.stringMatching(/--subject/)})
    expect(await snapshot()).toEqual(before)
  })

  it('an unknown operation: 401 without a token, 404 with one; a body without args: 400', async () => {
    expect((await op('licenses.drop', [], null)).status).toBe(401)
    const unknown = await op('licenses.drop', [], ADMIN_TOKEN)
    expect(unknown.status).toBe(404)
    expect(unknown.json.error.code).toBe('UNKNOWN_OPERATION')
    // Helpers of the services (transaction-level methods) are not operations.
    expect((await op('containers.placeLicense', [], ADMIN_TOKEN)).status).toBe(404)
    const res = await s.app.inject({method: 'POST', url: '/v1/ops/products.list', headers: {authorization: `Bearer ${ADMIN_TOKEN}`}, payload: {arguments: []}})
    expect(res.statusCode).toBe(400)
  })

  it('the token is checked before the body is read: a broken or large body without a token gets 401', async () => {
    const broken = await s.app.inject({method: 'POST', url: '/v1/ops/bulk.run', headers: {'content-type': 'application/json'}, payload: '{"args": [', remoteAddress: '10.9.9.8'})
    expect(broken.statusCode).toBe(401)
    const big = {args: ['x'.repeat(2 * 1024 * 1024)]}
    const refused = await s.app.inject({method: 'POST', url: '/v1/ops/bulk.run', payload: big, remoteAddress: '10.9.9.9'})
    expect(refused.statusCode).toBe(401)
    const client = await s.app.inject({method: 'POST', url: '/v1/ops/bulk.run', headers: {authorization: `Bearer ${CLIENT_TOKEN}`}, payload: big})
    expect(client.statusCode).toBe(403)
  })
})

describe('a group-admin token manages its own group', () => {
  it('adds and removes its licenses in its enterprise container, not another group’s license', async () => {
    expect(await ok('containers.addLicense', [eng.serial, eng.license], eng.admin)).toEqual({serial: eng.serial, licenseId: eng.license})
    const foreign = await op('containers.addLicense', [eng.serial, ops.license], eng.admin)
    expect(foreign.status).toBe(403)
    expect(foreign.json.error.message).toContain(ops.license)
    expect((await ok('containers.details', [eng.serial], eng.admin)).licenses.map((l: {id: string}) => l.id)).toEqual([eng.license])
    await ok('containers.removeLicense', [eng.serial, eng.license], eng.admin)
    await ok('containers.addLicense', [eng.serial, eng.license], eng.admin)
  })

  it('activates and deactivates devices, resets the credentials and gets the SAW files', async () => {
    const laptop = deviceIdentity('SIM-BOB-LAPTOP')
    await ok('devices.activate', [eng.serial, laptop, {user: 'bob@example.com'}], eng.admin)
    const phone = deviceIdentity('SIM-ANN-PHONE')
    await ok('devices.activate', [eng.serial, phone, {user: 'ann@example.com'}], eng.admin)
    await ok('devices.deactivate', [eng.serial, phone.fingerprint], eng.admin)
    expect((await ok('devices.list', [{container: eng.serial}], eng.admin)).map((d: {fingerprint: string}) => d.fingerprint).sort()).toEqual([laptop.fingerprint, phone.fingerprint].sort())
    // The laptop is on the other group's container too: the vendor sees both links, eng's admin only eng's.
    await ok('devices.activate', [ops.serial, laptop, {user: 'cy@example.com'}])
    const links = (devices: Array<{fingerprint: string; activations: Array<{serial: string}>}>) => devices.find((d) => d.fingerprint === laptop.fingerprint)!.activations.map((a) => a.serial)
    expect(links(await ok('devices.list', [{container: eng.serial}])).sort()).toEqual([eng.serial, ops.serial].sort())
    expect(links(await ok('devices.list', [{container: eng.serial}], eng.admin))).toEqual([eng.serial])
    expect(JSON.stringify(await ok('devices.list', [{container: eng.serial, group: 'ops'}], eng.admin))).not.toContain(ops.serial)
    await ok('devices.deactivate', [ops.serial, laptop.fingerprint])
    const reset = await ok('containers.resetCredentials', [eng.serial, {writeSaws: true}], eng.admin)
    expect(reset.credentials).toMatchObject({container: eng.serial, generation: 2})
    expect(reset.credentials.secret).toMatch(/\S{20,}/)
    expect(reset.saws.map((x: {fingerprint: string}) => x.fingerprint)).toEqual([laptop.fingerprint])
    expect(reset.saws[0].file).toContain('BEGIN LICADM SAW')
  })

  it('adds and removes members of its group only', async () => {
    await ok('directory.addMember', ['eng', 'dee@example.com'], eng.admin)
    expect((await ok('directory.groupDetails', ['eng'], eng.admin)).members.map((m: {email: string}) => m.email)).toContain('dee@example.com')
    await ok('directory.removeMember', ['eng', 'dee@example.com'], eng.admin)
    expect((await op('directory.addMember', ['ops', 'dee@example.com'], eng.admin)).status).toBe(403)
  })

  it('audit events name the token that acted, by name and id', async () => {
    const {events} = await ok('audit.list', [{action: 'container.*'}])
    const byEng = events.filter((e: {actor: string}) => e.actor.startsWith('token:eng-admin'))
    expect(byEng.map((e: {action: string}) => e.action)).toEqual(expect.arrayContaining(['container.add-license', 'container.remove-license', 'container.reset-credentials']))
    expect(byEng[0].actor).toMatch(/^token:eng-admin \(tok_[0-9a-z]{22}\)$/)
    const created = events.find((e: {action: string}) => e.action === 'container.create')
    expect(created.actor).toBe('token:admin')
  })
})
