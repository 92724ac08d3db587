/**
 * What a group-admin token learns and changes outside its group: nothing. It cannot rewrite the
 * record of a device that another group's containers hold (nor tell whether such a device exists),
 * and its refusals read the same whether the thing it named exists in another group or not at all,
 * in words that only repeat what it sent. Vendor callers keep the precise answers.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {TokenService} from '../../src/services/tokens.js'
import {ADMIN_TOKEN, closeAll, defaultSeed, testServer, type TestServer} from './helpers.js'
import {deviceIdentity, opsCalls} from './ops-helpers.js'

let s: TestServer
let eng: {admin: string; serial: string; license: string; groupId: string}
let ops: {serial: string; license: string; groupId: string}

const seed = {
  ...defaultSeed,
  users: [{email: 'a@eng.x'}, {email: 'b@ops.x'}, {email: 'loner@x.x'}],
  groups: [
    {name: 'eng', members: [{user: 'a@eng.x'}]},
    {name: 'ops', members: [{user: 'b@ops.x'}]},
  ],
}

const {op, ok, snapshot} = opsCalls(() => s, 7)

/** The refusal without what may differ between two calls: the same answer, word for word. */
function refusalOf(r: {status: number; json: any}) {
  return {status: r.status, code: r.json.error?.code, exitCode: r.json.error?.exitCode, message: r.json.error?.message, hint: r.json.error?.hint ?? null, details: r.json.error?.details ?? null}
}

beforeAll(async () => {
  s = await testServer({seed})
  const tokens = new TokenService({store: s.store, clock: s.clock, keys: undefined as never, actor: 'test'})
  const container = async (group: string) => (await ok('containers.create', [{kind: 'enterprise', group}])).container.serial
  const license = async (customer: string) => (await ok('licenses.create', [{product: 7, kind: 'concurrent', quantity: 2, customer}])).licenses[0]
  const groupId = async (name: string) => (await ok('directory.group', [name])).id
  const engLicense = await license('eng')
  eng = {admin: (await tokens.create({role: 'group-admin', name: 'eng-admin', group: 'eng'})).token, serial: await container('eng'), license: engLicense.id, groupId: await groupId('eng')}
  const opsLicense = await license('ops')
  ops = {serial: await container('ops'), license: opsLicense.ticket ?? opsLicense.id, groupId: await groupId('ops')}
})
afterAll(closeAll)

describe("a group admin and another group's device", () => {
  it("activating a device that only another group's container holds leaves its record alone; each group sees its own activation's user", async () => {
    const fp = deviceIdentity('SIM-OPS-ONLY')
    await ok('devices.activate', [ops.serial, fp, {user: 'b@ops.x'}])
    await ok('devices.activate', [eng.serial, fp, {user: 'a@eng.x'}], eng.admin)
    // The device's own record still names its user: the eng admin did not rewrite it.
    expect((await ok('devices.show', [fp.fingerprint])).user).toBe('b@ops.x')
    // ops's view shows ops's user; eng's view shows eng's user and only eng's link.
    const opsView = (await ok('devices.list', [{container: ops.serial, group: 'ops'}])).find((d: {fingerprint: string}) => d.fingerprint === fp.fingerprint)
    expect(opsView.user).toBe('b@ops.x')
    expect(JSON.stringify(opsView)).not.toContain('a@eng.x')
    const engView = (await ok('devices.list', [{container: eng.serial}], eng.admin)).find((d: {fingerprint: string}) => d.fingerprint === fp.fingerprint)
    expect(engView).toMatchObject({user: 'a@eng.x', activations: [{serial: eng.serial}]})
    expect(JSON.stringify(engView)).not.toContain('b@ops.x')
    // Filtering by user means the user of the group's activations.
    expect((await ok('devices.list', [{container: eng.serial, user: 'a@eng.x'}], eng.admin)).map((d: {fingerprint: string}) => d.fingerprint)).toContain(fp.fingerprint)
  })

  it('a device that another group holds with other keys is refused in the same words as one of its own group', async () => {
    const theirs = deviceIdentity('SIM-OPS-PROBE')
    await ok('devices.activate', [ops.serial, theirs, {user: 'b@ops.x'}])
    const ours = deviceIdentity('SIM-ENG-OWN')
    await ok('devices.activate', [eng.serial, ours, {user: 'a@eng.x'}], eng.admin)
    const before = await snapshot()
    const probe = (fingerprint: string) => op('devices.activate', [eng.serial, {...deviceIdentity(fingerprint), name: 'probe'}, {user: 'a@eng.x'}], eng.admin)
    const outside = refusalOf(await probe(theirs.fingerprint))
    const inside = refusalOf(await probe(ours.fingerprint))
    expect(outside).toMatchObject({status: 409, code: 'DEVICE_KEYS_DIFFER'})
    expect(outside.message).toBe(`device ${theirs.fingerprint} cannot be activated here: its identity does not match`)
    expect({...outside, message: outside.message.replace(theirs.fingerprint, 'FP')}).toEqual({...inside, message: inside.message.replace(ours.fingerprint, 'FP')})
    expect(outside.message).not.toMatch(/registered/)
    expect(await snapshot()).toEqual(before)
    // The vendor is told plainly.
    const vendor = await op('devices.activate', [eng.serial, deviceIdentity(theirs.fingerprint), {user: 'a@eng.x'}], ADMIN_TOKEN)
    expect(vendor.json.error).toMatchObject({code: 'DEVICE_KEYS_DIFFER', message: `device ${theirs.fingerprint} is registered with other public keys`})
  })

  it("the vendor's change of a device's user is in the activation's audit event", async () => {
    const fp = deviceIdentity('SIM-VENDOR-MOVES')
    await ok('devices.activate', [ops.serial, fp, {user: 'b@ops.x'}])
    await ok('devices.activate', [eng.serial, fp, {user: 'a@eng.x'}])
    expect((await ok('devices.show', [fp.fingerprint])).user).toBe('a@eng.x')
    const {events} = await ok('audit.list', [{action: 'device.activate', subject: `container:${eng.serial}`}])
    const event = events.find((e: {after: {device?: string}}) => e.after?.device === fp.fingerprint)
    expect(event.before).toMatchObject({owner: 'b@ops.x'})
    expect(event.after).toMatchObject({owner: 'a@eng.x', user: 'a@eng.x'})
    // Re-activating an active device for another user changes only its record: that is audited too.
    await ok('directory.addMember', ['eng', 'b@ops.x'])
    await ok('devices.activate', [eng.serial, fp, {user: 'b@ops.x'}])
    const again = (await ok('audit.list', [{action: 'device.activate', subject: `container:${eng.serial}`}])).events.filter((e: {after: {device?: string}}) => e.after?.device === fp.fingerprint)
    expect(again.at(-1)).toMatchObject({before: {owner: 'a@eng.x', state: 'active'}, after: {owner: 'b@ops.x', state: 'active'}})
    await ok('directory.removeMember', ['eng', 'b@ops.x'])
  })
})

describe("a group admin's refusals do not tell what exists outside its group", () => {
  it('a container of another group and an unknown one: the same 403, naming only what was sent', async () => {
    const unknown = 'E-ZZZZ-ZZZZ-ZZZZ'
    for (const name of ['containers.get', 'containers.details', 'containers.resetCredentials']) {
      const other = refusalOf(await op(name, [ops.serial], eng.admin))
      const none = refusalOf(await op(name, [unknown], eng.admin))
      expect(other, name).toMatchObject({status: 403, code: 'FORBIDDEN'})
      expect({...other, message: other.message.replace(ops.serial, 'X')}, name).toEqual({...none, message: none.message.replace(unknown, 'X')})
    }
    // The vendor still gets 404 for an unknown container.
    expect((await op('containers.get', [unknown], ADMIN_TOKEN)).status).toBe(404)
  })

  it("another group and an unknown group: the same 403, without the other group's name", async () => {
    const byId = refusalOf(await op('directory.group', [ops.groupId], eng.admin))
    const none = refusalOf(await op('directory.group', ['grp_unknown'], eng.admin))
    expect(byId).toMatchObject({status: 403, code: 'FORBIDDEN'})
    expect(byId.message).not.toContain('ops')
    expect({...byId, message: byId.message.replace(ops.groupId, 'X')}).toEqual({...none, message: none.message.replace('grp_unknown', 'X')})
    expect((await op('directory.groupDetails', ['nope'], eng.admin)).status).toBe(403)
    expect((await op('directory.group', ['nope'], ADMIN_TOKEN)).status).toBe(404)
  })

  it("another group's license by ticket and an unknown license: the same 403, without the license's id", async () => {
    const unknown = 'lic_unknown'
    const other = refusalOf(await op('containers.addLicense', [eng.serial, ops.license], eng.admin))
    const none = refusalOf(await op('containers.addLicense', [eng.serial, unknown], eng.admin))
    expect(other).toMatchObject({status: 403, code: 'FORBIDDEN'})
    const opsId = (await ok('licenses.get', [ops.license])).id
    if (opsId !== ops.license) expect(other.message).not.toContain(opsId)
    expect({...other, message: other.message.replace(ops.license, 'X')}).toEqual({...none, message: none.message.replace(unknown, 'X')})
  })

  it('list filters by user look among the group’s members only: an unknown user and a non-member give the same empty list', async () => {
    for (const user of ['nobody@x.x', 'b@ops.x', 'loner@x.x']) {
      expect(await op('containers.list', [{user}], eng.admin), user).toMatchObject({status: 200, json: {result: []}})
      expect(await op('devices.list', [{container: eng.serial, user}], eng.admin), user).toMatchObject({status: 200, json: {result: []}})
    }
    expect((await ok('devices.list', [{container: eng.serial, user: 'a@eng.x'}], eng.admin)).length).toBeGreaterThan(0)
    // The vendor still gets 404 for an unknown user.
    expect((await op('containers.list', [{user: 'nobody@x.x'}], ADMIN_TOKEN)).json.error.code).toBe('USER_NOT_FOUND')
    expect((await op('devices.list', [{user: 'nobody@x.x'}], ADMIN_TOKEN)).json.error.code).toBe('USER_NOT_FOUND')
  })
})
