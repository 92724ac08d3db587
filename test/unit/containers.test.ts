import {createHash} from 'node:crypto'

import SQLite from 'better-sqlite3'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {newSerial, checkLicenseFits, normalizeSerial, parseContainerKind} from '../../src/domain/container.js'
import {AuthError, ConflictError, ExitCode, InvalidValueError, LicadmError, NotFoundError} from '../../src/domain/errors.js'
import {applySaw} from '../../src/device/saw-apply.js'
import type {DeviceStore} from '../../src/device/state.js'
import {adminFixture, type AdminFixture} from '../helpers/admin-fixture.js'

let f: AdminFixture
beforeEach(async () => {
  f = await adminFixture()
})
afterEach(async () => {
  await f.close()
})

async function refusal(fn: () => unknown): Promise<LicadmError> {
  try {
    await fn()
  } catch (error) {
    if (error instanceof LicadmError) return error
    throw error
  }
  throw new Error('expected a refusal, but it was accepted')
}

const auditCount = async () => (await f.backend.audit.list({limit: 10_000})).events.length

/** Runs a refused change and checks that nothing was appended to the audit trail. */
async function refusedWithoutTrace(fn: () => unknown): Promise<LicadmError> {
  const before = await auditCount()
  const e = await refusal(fn)
  expect(await auditCount(), `audit events after the refusal ${e.code}`).toBe(before)
  return e
}

describe('domain rules', () => {
  it('serials carry the kind as prefix and use a readable alphabet', () => {
    expect(newSerial('local')).toMatch(/^L-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/)
    expect(newSerial('personal')).toMatch(/^P-/)
    expect(newSerial('enterprise')).toMatch(/^E-/)
    expect(newSerial('personal', Buffer.alloc(12, 0))).toBe('P-0000-0000-0000')
    for (let i = 0; i < 200; i++) expect(newSerial('personal')).not.toMatch(/[ILOU]/)
    expect(normalizeSerial(' p-abcd-efgh-jkmn ')).toBe('P-ABCD-EFGH-JKMN')
  })

  it('kinds and license fit', () => {
    expect(() => parseContainerKind('cloud')).toThrow(/--kind: unknown container kind "cloud"/)
    expect(() => checkLicenseFits('enterprise', {id: 'lic_1', kind: 'single'})).toThrow(ConflictError)
    expect(() => checkLicenseFits('personal', {id: 'lic_1', kind: 'concurrent'})).toThrow(ConflictError)
    expect(() => checkLicenseFits('local', {id: 'lic_1', kind: 'single'})).not.toThrow()
    expect(() => checkLicenseFits('local', {id: 'lic_1', kind: 'concurrent'})).not.toThrow()
  })
})

describe('users and groups', () => {
  it('email is unique (case-insensitive, conflict 4) and must be an address (usage 2, naming --email)', async () => {
    const ada = await f.backend.directory.createUser({email: 'Ada@Example.com', name: 'Ada'})
    expect(ada.email).toBe('ada@example.com')
    const dup = await refusedWithoutTrace(() => f.backend.directory.createUser({email: 'ADA@example.com'}))
    expect(dup).toBeInstanceOf(ConflictError)
    expect(dup.exit).toBe(ExitCode.conflict)
    expect(dup.message).toContain(ada.id)
    const bad = await refusal(() => f.backend.directory.createUser({email: 'not-an-email'}))
    expect(bad).toBeInstanceOf(InvalidValueError)
    expect(bad.message).toMatch(/^--email: /)
    expect(await f.backend.directory.listUsers()).toHaveLength(1)
    expect((await f.backend.directory.user(ada.id)).email).toBe('ada@example.com')
    expect((await f.backend.directory.user('ADA@example.com')).id).toBe(ada.id)
    expect(await refusal(() => f.backend.directory.user('nobody@example.com'))).toBeInstanceOf(NotFoundError)
  })

  it('groups: unique name, add-member with role, idempotent re-add, role conflict, set-role, remove-member', async () => {
    await f.backend.directory.createUser({email: 'ada@example.com'})
    await f.backend.directory.createUser({email: 'bob@example.com'})
    const g = await f.backend.directory.createGroup({name: 'eng'})
    expect((await refusal(() => f.backend.directory.createGroup({name: 'eng'}))).exit).toBe(ExitCode.conflict)
    expect((await refusal(() => f.backend.directory.createGroup({name: '  '}))).message).toMatch(/^--name: /)
    expect(await f.backend.directory.addMember('eng', 'ada@example.com', 'admin')).toEqual({changed: true, role: 'admin'})
    expect(await f.backend.directory.addMember(g.id, 'bob@example.com')).toEqual({changed: true, role: 'member'})
    expect(await f.backend.directory.addMember('eng', 'bob@example.com')).toEqual({changed: false, role: 'member'})
    const conflict = await refusedWithoutTrace(() => f.backend.directory.addMember('eng', 'bob@example.com', 'admin'))
    expect(conflict.code).toBe('ALREADY_MEMBER')
    expect(conflict.hint).toContain('set-role')
    expect(await f.backend.directory.setRole('eng', 'bob@example.com', 'admin')).toEqual({changed: true})
    expect(await f.backend.directory.setRole('eng', 'bob@example.com', 'admin')).toEqual({changed: false})
    expect((await refusal(() => f.backend.directory.setRole('eng', 'bob@example.com', 'owner' as 'admin'))).exit).toBe(ExitCode.usage)
    const details = await f.backend.directory.groupDetails('eng')
    expect(details.members.map((m) => [m.email, m.role])).toEqual([['ada@example.com', 'admin'], ['bob@example.com', 'admin']])
    expect((await f.backend.directory.listGroups())[0]).toMatchObject({name: 'eng', members: 2})
    await f.backend.directory.removeMember('eng', 'bob@example.com')
    expect((await refusal(() => f.backend.directory.removeMember('eng', 'bob@example.com'))).exit).toBe(ExitCode.notFound)
    expect((await refusal(() => f.backend.directory.setRole('eng', 'bob@example.com', 'member'))).exit).toBe(ExitCode.notFound)
    expect((await f.backend.directory.groupDetails('eng')).members.map((m) => m.email)).toEqual(['ada@example.com'])
  })

  it("removing a member marks their devices on the group's enterprise containers, and only those", async () => {
    for (const e of ['ada', 'bob']) await f.backend.directory.createUser({email: `${e}@example.com`})
    await f.backend.directory.createGroup({name: 'eng'})
    await f.backend.directory.createGroup({name: 'ops'})
    for (const g of ['eng', 'ops']) for (const u of ['ada', 'bob']) await f.backend.directory.addMember(g, `${u}@example.com`)
    const {container: eng} = await f.backend.containers.create({kind: 'enterprise', group: 'eng'})
    const {container: ops} = await f.backend.containers.create({kind: 'enterprise', group: 'ops'})
    const bobLaptop = await f.device('bob-laptop')
    const bobOld = await f.device('bob-old')
    const adaLaptop = await f.device('ada-laptop')
    await f.backend.devices.activate(eng.serial, bobLaptop.identity(), {user: 'bob@example.com'})
    await f.backend.devices.activate(eng.serial, bobOld.identity(), {user: 'bob@example.com'})
    await f.backend.devices.deactivate(eng.serial, bobOld.device().fingerprint)
    await f.backend.devices.activate(ops.serial, bobLaptop.identity(), {user: 'bob@example.com'})
    await f.backend.devices.activate(eng.serial, adaLaptop.identity(), {user: 'ada@example.com'})
    const {markedDevices} = await f.backend.directory.removeMember('eng', 'bob@example.com')
    // The inactive link is not marked; the ops container is another group's.
    expect(markedDevices).toEqual([{serial: eng.serial, fingerprint: bobLaptop.device().fingerprint}])
    expect((await f.backend.directory.groupDetails('eng')).pendingRemoval).toEqual([
      {serial: eng.serial, fingerprint: bobLaptop.device().fingerprint, userId: (await f.backend.directory.user('bob@example.com')).id, email: 'bob@example.com'},
    ])
    expect((await f.backend.directory.groupDetails('ops')).pendingRemoval).toEqual([])
    const shown = await f.backend.containers.details(eng.serial)
    expect(shown.devices.find((d) => d.fingerprint === bobLaptop.device().fingerprint)).toMatchObject({state: 'active', pendingRemoval: true})
    expect(shown.devices.find((d) => d.fingerprint === adaLaptop.device().fingerprint)).toMatchObject({state: 'active', pendingRemoval: false})
    // The device keeps working until the reset; coming back clears the mark.
    await f.backend.directory.addMember('eng', 'bob@example.com')
    expect((await f.backend.directory.groupDetails('eng')).pendingRemoval).toEqual([])
  })

  it('a user who owns a container cannot be deleted; one who does not leaves their groups', async () => {
    await f.backend.directory.createUser({email: 'ada@example.com'})
    await f.backend.directory.createUser({email: 'bob@example.com'})
    await f.backend.directory.createGroup({name: 'eng'})
    await f.backend.directory.addMember('eng', 'bob@example.com')
    const {container} = await f.backend.containers.create({kind: 'personal', user: 'ada@example.com'})
    const e = await refusedWithoutTrace(() => f.backend.directory.deleteUser('ada@example.com'))
    expect(e).toMatchObject({code: 'USER_OWNS_CONTAINERS', exit: ExitCode.conflict})
    expect(e.message).toContain(container.serial)
    await f.backend.containers.unassign(container.serial)
    await f.backend.directory.deleteUser('ada@example.com')
    await f.backend.directory.deleteUser('bob@example.com')
    expect(await f.backend.directory.listUsers()).toEqual([])
    expect((await f.backend.directory.groupDetails('eng')).members).toEqual([])
  })

  it('a group that owns a container cannot be deleted', async () => {
    await f.backend.directory.createGroup({name: 'eng'})
    const {container} = await f.backend.containers.create({kind: 'enterprise', group: 'eng'})
    const e = await refusedWithoutTrace(() => f.backend.directory.deleteGroup('eng'))
    expect(e).toMatchObject({code: 'GROUP_OWNS_CONTAINERS', exit: ExitCode.conflict})
    await f.backend.containers.unassign(container.serial)
    await f.backend.directory.deleteGroup('eng')
    expect(await f.backend.directory.listGroups()).toEqual([])
  })
})

describe('containers', () => {
  beforeEach(async () => {
    await f.backend.directory.createUser({email: 'ada@example.com'})
    await f.backend.directory.createGroup({name: 'eng'})
  })

  it('owner rules: each kind refuses the wrong owner flag, naming it', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{kind: 'personal', group: 'eng'}, '--group'],
      [{kind: 'personal', device: 'SIM-1'}, '--device'],
      [{kind: 'enterprise', user: 'ada@example.com'}, '--user'],
      [{kind: 'enterprise', device: 'SIM-1'}, '--device'],
      [{kind: 'local', user: 'ada@example.com', device: 'SIM-1'}, '--user'],
      [{kind: 'local', group: 'eng', device: 'SIM-1'}, '--group'],
      [{kind: 'local'}, '--device'],
      [{kind: 'enterprise', group: 'eng', maxDevices: '5'}, '--max-devices'],
      [{kind: 'personal', maxDevices: '0'}, '--max-devices'],
      [{kind: 'personal', maxDevices: '1001'}, '--max-devices'],
      [{kind: 'personal', maxDevices: 'three'}, '--max-devices'],
      [{kind: 'cloud'}, '--kind'],
    ]
    for (const [input, flag] of cases) {
      const e = await refusedWithoutTrace(() => f.backend.containers.create(input as {kind: string}))
      expect(e.exit, JSON.stringify(input)).toBe(ExitCode.usage)
      expect(e.details?.flag, JSON.stringify(input)).toBe(flag)
    }
    expect(await f.backend.containers.list()).toEqual([])
    expect((await refusal(() => f.backend.containers.create({kind: 'personal', user: 'nobody@example.com'}))).exit).toBe(ExitCode.notFound)
  })

  it('create: prefixes, owners, max devices (default 3, 1 to 1000), credentials only for cloud containers, stored as a hash', async () => {
    const p = await f.backend.containers.create({kind: 'personal', user: 'ada@example.com'})
    const e = await f.backend.containers.create({kind: 'enterprise', group: 'eng'})
    const l = await f.backend.containers.create({kind: 'local', device: 'SIM-LOCAL-1'})
    const p1 = await f.backend.containers.create({kind: 'personal', maxDevices: '1'})
    const pMax = await f.backend.containers.create({kind: 'personal', maxDevices: 1000})
    expect(p.container).toMatchObject({kind: 'personal', maxDevices: 3, generation: 1, owner: {user: {email: 'ada@example.com'}, group: null, fingerprint: null}})
    expect(p.container.serial).toMatch(/^P-/)
    expect(e.container).toMatchObject({kind: 'enterprise', maxDevices: null, owner: {user: null, group: {name: 'eng'}}})
    expect(e.container.serial).toMatch(/^E-/)
    expect(l.container).toMatchObject({kind: 'local', maxDevices: null, owner: {fingerprint: 'SIM-LOCAL-1'}})
    expect(l.container.serial).toMatch(/^L-/)
    expect(l.credentials).toBeNull()
    expect(p1.container.maxDevices).toBe(1)
    expect(pMax.container.maxDevices).toBe(1000)
    expect(p.credentials).toMatchObject({container: p.container.serial, kind: 'personal', generation: 1})
    expect(p.credentials!.secret).toMatch(/^lcs_[A-Za-z0-9_-]{43}$/)
    expect(e.credentials!.secret).not.toBe(p.credentials!.secret)
    const db = new SQLite(f.storePath, {readonly: true})
    try {
      const row = db.prepare('select secret_hash from containers where serial = ?').get(p.container.serial) as {secret_hash: string}
      expect(row.secret_hash).toBe(createHash('sha256').update(p.credentials!.secret).digest('hex'))
      expect((db.prepare('select secret_hash from containers where serial = ?').get(l.container.serial) as {secret_hash: null}).secret_hash).toBeNull()
    } finally {
      db.close()
    }
    const listed = await f.backend.containers.list()
    // Same second: ordered by serial.
    expect(listed.map((c) => c.serial)).toEqual([p, e, l, p1, pMax].map((x) => x.container.serial).sort())
    expect(await f.backend.containers.list({kind: 'enterprise'})).toHaveLength(1)
    expect((await f.backend.containers.list({user: 'ada@example.com'})).map((c) => c.serial)).toEqual([p.container.serial])
    expect((await f.backend.containers.list({group: 'eng'})).map((c) => c.serial)).toEqual([e.container.serial])
    expect((await refusal(() => f.backend.containers.get('P-0000-0000-0000'))).exit).toBe(ExitCode.notFound)
    // Serials are found whatever their case.
    expect((await f.backend.containers.get(p.container.serial.toLowerCase())).serial).toBe(p.container.serial)
  })

  it('assign and unassign: by kind, never twice, local never', async () => {
    const {container: p} = await f.backend.containers.create({kind: 'personal'})
    const {container: e} = await f.backend.containers.create({kind: 'enterprise'})
    const {container: l} = await f.backend.containers.create({kind: 'local', device: 'SIM-LOCAL-1'})
    expect((await refusedWithoutTrace(() => f.backend.containers.assign(p.serial, {group: 'eng'}))).details?.flag).toBe('--user')
    expect((await refusedWithoutTrace(() => f.backend.containers.assign(e.serial, {user: 'ada@example.com'}))).details?.flag).toBe('--group')
    expect((await refusedWithoutTrace(() => f.backend.containers.assign(l.serial, {user: 'ada@example.com'}))).code).toBe('CONTAINER_KIND_MISMATCH')
    expect((await f.backend.containers.assign(p.serial, {user: 'ada@example.com'})).owner.user?.email).toBe('ada@example.com')
    expect((await f.backend.containers.assign(e.serial, {group: 'eng'})).owner.group?.name).toBe('eng')
    expect((await refusedWithoutTrace(() => f.backend.containers.assign(p.serial, {user: 'ada@example.com'}))).code).toBe('CONTAINER_ASSIGNED')
    const un = await f.backend.containers.unassign(p.serial)
    expect(un.container.owner.user).toBeNull()
    const before = await auditCount()
    expect((await f.backend.containers.unassign(p.serial)).markedDevices).toBe(0)
    expect(await auditCount()).toBe(before)
  })

  it('unassigned and handed back: the devices of the user (or of the group\'s members) it goes to are no longer marked for removal', async () => {
    await f.backend.directory.createUser({email: 'bob@example.com'})
    await f.backend.directory.addMember('eng', 'ada@example.com')
    const {container: p} = await f.backend.containers.create({kind: 'personal', user: 'ada@example.com'})
    const {container: e} = await f.backend.containers.create({kind: 'enterprise', group: 'eng'})
    const laptop = await f.device('ada-laptop')
    await f.backend.devices.activate(p.serial, laptop.identity(), {user: 'ada@example.com'})
    await f.backend.devices.activate(e.serial, laptop.identity(), {user: 'ada@example.com'})
    const marked = async (serial: string) => (await f.backend.containers.details(serial)).devices.map((d) => d.pendingRemoval)
    for (const c of [p, e]) {
      expect((await f.backend.containers.unassign(c.serial)).markedDevices).toBe(1)
      expect(await marked(c.serial)).toEqual([true])
    }
    await f.backend.containers.assign(p.serial, {user: 'ada@example.com'})
    await f.backend.containers.assign(e.serial, {group: 'eng'})
    expect([await marked(p.serial), await marked(e.serial)]).toEqual([[false], [false]])
    // To someone else, the marks stay: the next reset drops the device.
    await f.backend.containers.unassign(p.serial)
    await f.backend.containers.assign(p.serial, {user: 'bob@example.com'})
    expect(await marked(p.serial)).toEqual([true])
  })

  it('add-license and remove-license: one container at a time, kind fit, revoked and expired refused; license status follows', async () => {
    const {container: p} = await f.backend.containers.create({kind: 'personal', user: 'ada@example.com'})
    const {container: p2} = await f.backend.containers.create({kind: 'personal', user: 'ada@example.com'})
    const {container: e} = await f.backend.containers.create({kind: 'enterprise', group: 'eng'})
    const {container: l} = await f.backend.containers.create({kind: 'local', device: 'SIM-LOCAL-1'})
    const {licenses: [single]} = await f.backend.licenses.create({product: 7})
    const {licenses: [conc]} = await f.backend.licenses.create({product: 7, kind: 'concurrent', quantity: 5})
    const {licenses: [revoked]} = await f.backend.licenses.create({product: 7})
    await f.backend.licenses.revoke(revoked.id)

    expect(await f.backend.containers.addLicense(p.serial, single.id)).toEqual({serial: p.serial, licenseId: single.id})
    expect((await f.backend.licenses.get(single.id)).status).toBe('assigned')
    // Again into the same container: nothing changes.
    const n = await auditCount()
    await f.backend.containers.addLicense(p.serial, single.id)
    expect(await auditCount()).toBe(n)
    const other = await refusedWithoutTrace(() => f.backend.containers.addLicense(p2.serial, single.id))
    expect(other).toMatchObject({code: 'LICENSE_IN_OTHER_CONTAINER', exit: ExitCode.conflict})
    expect(other.message).toContain(p.serial)
    expect(other.hint).toContain(`remove-license ${p.serial}`)
    const single2 = (await f.backend.licenses.create({product: 7})).licenses[0]
    const mismatchE = await refusedWithoutTrace(() => f.backend.containers.addLicense(e.serial, single2.id))
    expect(mismatchE).toMatchObject({code: 'LICENSE_KIND_MISMATCH', exit: ExitCode.conflict})
    expect(mismatchE.message).toMatch(/single license; an enterprise container holds concurrent licenses/)
    const mismatchP = await refusedWithoutTrace(() => f.backend.containers.addLicense(p2.serial, conc.id))
    expect(mismatchP).toMatchObject({code: 'LICENSE_KIND_MISMATCH', exit: ExitCode.conflict})
    expect(mismatchP.message).toMatch(/concurrent license; a personal container/)
    const rev = await refusedWithoutTrace(() => f.backend.containers.addLicense(p2.serial, revoked.id))
    expect(rev).toMatchObject({code: 'LICENSE_REVOKED', exit: ExitCode.conflict})
    expect((await f.backend.licenses.get(single2.id)).status).toBe('available')
    expect((await f.backend.licenses.get(revoked.id)).status).toBe('revoked')

    await f.backend.containers.addLicense(e.serial, conc.id)
    await f.backend.containers.addLicense(l.serial, single2.id)
    const shown = await f.backend.containers.details(e.serial)
    expect(shown.licenses).toEqual([expect.objectContaining({id: conc.id, kind: 'concurrent', quantity: 5, status: 'assigned', validity: 'valid'})])
    expect(shown.updateCounter).toBe(1)
    expect((await f.backend.containers.list()).find((c) => c.serial === e.serial)?.licenses).toBe(1)

    expect((await refusedWithoutTrace(() => f.backend.containers.removeLicense(p2.serial, single.id))).exit).toBe(ExitCode.notFound)
    await f.backend.containers.removeLicense(p.serial, single.id)
    expect((await f.backend.licenses.get(single.id)).status).toBe('available')
    await f.backend.containers.addLicense(p2.serial, single.id)
    expect((await f.backend.licenses.get(single.id)).status).toBe('assigned')
    expect((await f.backend.containers.get(p.serial)).updateCounter).toBe(2)
  })

  it('an expired license is refused; a license can be found by its ticket', async () => {
    const {container: p} = await f.backend.containers.create({kind: 'personal', user: 'ada@example.com'})
    const {licenses: [soon]} = await f.backend.licenses.create({product: 7, expires: '1d'})
    f.clock.advance(2 * 86_400_000)
    const e = await refusedWithoutTrace(() => f.backend.containers.addLicense(p.serial, soon.id))
    expect(e).toMatchObject({code: 'LICENSE_EXPIRED', exit: ExitCode.conflict})
    const {licenses: [byTicket]} = await f.backend.licenses.create({product: 7})
    expect((await f.backend.containers.addLicense(p.serial, byTicket.ticket)).licenseId).toBe(byTicket.id)
  })

  it('delete: refused while it holds licenses or has active devices; stale and inactive links do not count as inactive', async () => {
    const {container: p} = await f.backend.containers.create({kind: 'personal', user: 'ada@example.com'})
    const {licenses: [lic]} = await f.backend.licenses.create({product: 7})
    await f.backend.containers.addLicense(p.serial, lic.id)
    const d = await f.device('laptop')
    await f.backend.devices.activate(p.serial, d.identity(), {user: 'ada@example.com'})
    const e1 = await refusedWithoutTrace(() => f.backend.containers.delete(p.serial))
    expect(e1).toMatchObject({code: 'CONTAINER_NOT_EMPTY', exit: ExitCode.conflict})
    await f.backend.containers.removeLicense(p.serial, lic.id)
    const e2 = await refusedWithoutTrace(() => f.backend.containers.delete(p.serial))
    expect(e2).toMatchObject({code: 'CONTAINER_HAS_DEVICES', exit: ExitCode.conflict})
    expect(e2.message).toMatch(/1 device/)
    await f.backend.containers.resetCredentials(p.serial)
    // A stale device still holds its link.
    expect((await refusal(() => f.backend.containers.delete(p.serial))).code).toBe('CONTAINER_HAS_DEVICES')
    await f.backend.devices.deactivate(p.serial, d.device().fingerprint)
    await f.backend.containers.delete(p.serial)
    expect(await f.backend.containers.list()).toEqual([])
    expect((await f.backend.devices.show(d.device().fingerprint)).activations).toEqual([])
  })
})

describe('devices and activation limits', () => {
  let serial: string
  beforeEach(async () => {
    await f.backend.directory.createUser({email: 'ada@example.com'})
    serial = (await f.backend.containers.create({kind: 'personal', user: 'ada@example.com'})).container.serial
  })

  it('a personal container of 3 accepts 3; the 4th is refused with the active devices and the command that frees one; deactivate frees it at once', async () => {
    const devices: DeviceStore[] = []
    for (let i = 1; i <= 4; i++) devices.push(await f.device(`dev${i}`))
    for (const d of devices.slice(0, 3)) expect((await f.backend.devices.activate(serial, d.identity(), {user: 'ada@example.com'})).changed).toBe(true)
    const e = await refusedWithoutTrace(() => f.backend.devices.activate(serial, devices[3].identity(), {user: 'ada@example.com'}))
    expect(e).toMatchObject({code: 'DEVICE_LIMIT_REACHED', exit: ExitCode.conflict})
    for (const d of devices.slice(0, 3)) expect(e.message).toContain(d.device().fingerprint)
    expect(e.message).toMatch(/3 of 3/)
    expect(e.hint).toBe(`Free a slot with "licadm device deactivate --container ${serial} FINGERPRINT".`)
    expect((e.details!.devices as unknown[]).length).toBe(3)
    // The refused device was not even registered.
    expect((await refusal(() => f.backend.devices.show(devices[3].device().fingerprint))).exit).toBe(ExitCode.notFound)
    expect((await f.backend.devices.deactivate(serial, devices[0].device().fingerprint)).changed).toBe(true)
    expect((await f.backend.devices.deactivate(serial, devices[0].device().fingerprint)).changed).toBe(false)
    expect((await f.backend.devices.activate(serial, devices[3].identity(), {user: 'ada@example.com'})).changed).toBe(true)
    // And the deactivated one cannot come back while the container is full.
    expect((await refusal(() => f.backend.devices.activate(serial, devices[0].identity()))).code).toBe('DEVICE_LIMIT_REACHED')
    const shown = await f.backend.containers.details(serial)
    expect(shown.devices.filter((d) => d.state === 'active')).toHaveLength(3)
    expect(shown.devices.find((d) => d.fingerprint === devices[0].device().fingerprint)?.state).toBe('inactive')
  })

  it('container list counts the devices that hold a slot: stale links after a reset still do', async () => {
    for (const name of ['a', 'b', 'c']) await f.backend.devices.activate(serial, (await f.device(name)).identity())
    await f.backend.containers.resetCredentials(serial, {writeSaws: false})
    // The container is full: a fourth device is refused ...
    expect((await refusal(async () => f.backend.devices.activate(serial, (await f.device('d')).identity()))).code).toBe('DEVICE_LIMIT_REACHED')
    // ... and the list says so.
    const [listed] = await f.backend.containers.list()
    expect(listed).toMatchObject({serial, devices: 3, activeDevices: 0, maxDevices: 3})
  })

  it('re-activating an active device is idempotent: changed=false, no second slot, no audit event', async () => {
    const d = await f.device('laptop')
    const first = await f.backend.devices.activate(serial, d.identity(), {user: 'ada@example.com'})
    const n = await auditCount()
    for (let i = 0; i < 5; i++) {
      const again = await f.backend.devices.activate(serial, d.identity(), {user: 'ada@example.com'})
      expect(again).toMatchObject({changed: false, state: 'active', serial, fingerprint: first.fingerprint})
    }
    expect(await auditCount()).toBe(n)
    expect((await f.backend.containers.details(serial)).devices).toHaveLength(1)
    expect((await f.backend.containers.list())[0].activeDevices).toBe(1)
    // Two more distinct devices still fit: the re-activations took no slot.
    await f.backend.devices.activate(serial, (await f.device('b')).identity())
    await f.backend.devices.activate(serial, (await f.device('c')).identity())
  })

  it('concurrent activations in one process never exceed the limit', async () => {
    const devices = await Promise.all(Array.from({length: 8}, (_, i) => f.device(`race${i}`)))
    const results = await Promise.allSettled(devices.map((d) => f.backend.devices.activate(serial, d.identity(), {user: 'ada@example.com'})))
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3)
    for (const r of results) if (r.status === 'rejected') expect((r.reason as LicadmError).code).toBe('DEVICE_LIMIT_REACHED')
    expect((await f.backend.containers.details(serial)).devices.filter((d) => d.state === 'active')).toHaveLength(3)
  })

  it('a fingerprint claimed with other keys is refused; a bad fingerprint names the flag', async () => {
    const d = await f.device('laptop', 'SIM-SAME-FP')
    const impostor = await f.device('impostor', 'SIM-SAME-FP')
    await f.backend.devices.activate(serial, d.identity())
    const e = await refusedWithoutTrace(() => f.backend.devices.activate(serial, impostor.identity()))
    expect(e).toMatchObject({code: 'DEVICE_KEYS_DIFFER', exit: ExitCode.conflict})
    const bad = await refusal(() => f.backend.devices.activate(serial, {...d.identity(), fingerprint: 'a b'}))
    expect(bad.details?.flag).toBe('--fingerprint')
  })

  it('a personal container refuses a device of another user; a local container only its own device, once', async () => {
    await f.backend.directory.createUser({email: 'bob@example.com'})
    const d = await f.device('bobs')
    expect((await refusedWithoutTrace(() => f.backend.devices.activate(serial, d.identity(), {user: 'bob@example.com'}))).code).toBe('NOT_THE_OWNER')
    const {container: l} = await f.backend.containers.create({kind: 'local', device: d.device().fingerprint})
    const other = await f.device('other')
    expect((await refusedWithoutTrace(() => f.backend.devices.activate(l.serial, other.identity()))).code).toBe('WRONG_DEVICE')
    expect((await f.backend.devices.activate(l.serial, d.identity())).changed).toBe(true)
    expect((await f.backend.devices.activate(l.serial, d.identity())).changed).toBe(false)
    expect((await refusal(() => f.backend.devices.access(l.serial, d.device().fingerprint, 'x'))).code).toBe('NOT_A_CLOUD_CONTAINER')
  })

  it('an enterprise container accepts members only (4), needs --user (2), and an assigned group (4)', async () => {
    await f.backend.directory.createUser({email: 'bob@example.com'})
    await f.backend.directory.createGroup({name: 'eng'})
    await f.backend.directory.addMember('eng', 'ada@example.com')
    const {container: unassigned} = await f.backend.containers.create({kind: 'enterprise'})
    const {container: e} = await f.backend.containers.create({kind: 'enterprise', group: 'eng'})
    const d = await f.device('laptop')
    expect((await refusedWithoutTrace(() => f.backend.devices.activate(unassigned.serial, d.identity(), {user: 'ada@example.com'}))).code).toBe('CONTAINER_UNASSIGNED')
    const noUser = await refusedWithoutTrace(() => f.backend.devices.activate(e.serial, d.identity()))
    expect(noUser).toMatchObject({exit: ExitCode.usage, details: {flag: '--user'}})
    const outsider = await refusedWithoutTrace(() => f.backend.devices.activate(e.serial, d.identity(), {user: 'bob@example.com'}))
    expect(outsider).toMatchObject({code: 'NOT_A_MEMBER', exit: ExitCode.conflict})
    expect(outsider.message).toContain('bob@example.com')
    expect((await f.backend.devices.activate(e.serial, d.identity(), {user: 'ada@example.com'})).changed).toBe(true)
    // No device limit on an enterprise container.
    for (let i = 0; i < 5; i++) await f.backend.devices.activate(e.serial, (await f.device(`more${i}`)).identity(), {user: 'ada@example.com'})
  })

  it('activation with a secret checks it and hands out a SAW; a wrong secret is refused (7) and leaves nothing', async () => {
    const {container, credentials} = await f.backend.containers.create({kind: 'personal', user: 'ada@example.com'})
    const d = await f.device('laptop')
    const e = await refusedWithoutTrace(() => f.backend.devices.activate(container.serial, d.identity(), {user: 'ada@example.com', secret: 'lcs_wrong'}))
    expect(e).toBeInstanceOf(AuthError)
    expect((await f.backend.containers.details(container.serial)).devices).toEqual([])
    const act = await f.backend.devices.activate(container.serial, d.identity(), {user: 'ada@example.com', secret: credentials!.secret})
    expect(act.saw).toMatchObject({serial: container.serial, fingerprint: d.device().fingerprint, generation: 1})
    applySaw(d, act.saw!.file, d.trustedKeys(), f.nowSeconds())
    const grant = await f.backend.devices.access(container.serial, d.device().fingerprint, credentials!.secret)
    expect(grant).toMatchObject({serial: container.serial, generation: 1, restored: false})
    expect((await f.backend.containers.details(container.serial)).devices[0].lastSeen).toBe(f.nowSeconds())
  })

  it('list and show', async () => {
    const d = await f.device('laptop')
    await f.backend.devices.activate(serial, d.identity(), {user: 'ada@example.com'})
    const fp = d.device().fingerprint
    expect(await f.backend.devices.list()).toEqual([expect.objectContaining({fingerprint: fp, name: 'laptop', user: 'ada@example.com'})])
    expect(await f.backend.devices.list({container: serial})).toHaveLength(1)
    expect(await f.backend.devices.list({container: 'P-0000-0000-0000'})).toHaveLength(0)
    expect(await f.backend.devices.list({user: 'ada@example.com'})).toHaveLength(1)
    expect((await f.backend.devices.show(fp)).activations).toEqual([{serial, kind: 'personal', state: 'active', pendingRemoval: false, lastSeen: null}])
  })
})

describe('credential reset', () => {
  it('enterprise: the old secret is refused at once; members keep access through their SAW; a former member is dropped with the reason', async () => {
    for (const u of ['ada', 'bob', 'cy']) await f.backend.directory.createUser({email: `${u}@example.com`})
    await f.backend.directory.createGroup({name: 'eng'})
    for (const u of ['ada', 'bob', 'cy']) await f.backend.directory.addMember('eng', `${u}@example.com`)
    const {container, credentials} = await f.backend.containers.create({kind: 'enterprise', group: 'eng'})
    const serial = container.serial
    const devices = {ada: await f.device('ada'), bob: await f.device('bob'), cy: await f.device('cy')}
    for (const [u, d] of Object.entries(devices)) {
      const act = await f.backend.devices.activate(serial, d.identity(), {user: `${u}@example.com`, secret: credentials!.secret})
      applySaw(d, act.saw!.file, d.trustedKeys(), f.nowSeconds())
      await f.backend.devices.access(serial, d.device().fingerprint, credentials!.secret)
    }
    await f.backend.directory.removeMember('eng', 'cy@example.com')
    const reset = await f.backend.containers.resetCredentials(serial)
    expect(reset.credentials).toMatchObject({container: serial, generation: 2})
    expect(reset.credentials.secret).not.toBe(credentials!.secret)
    expect(reset.staled).toBe(2)
    expect(reset.saws.map((s) => s.fingerprint).sort()).toEqual([devices.ada, devices.bob].map((d) => d.device().fingerprint).sort())
    expect(reset.leftOut).toEqual([{fingerprint: devices.cy.device().fingerprint, name: 'cy', user: 'cy@example.com', reason: "its user left the container's group"}])
    const details = await f.backend.containers.details(serial)
    expect(Object.fromEntries(details.devices.map((d) => [d.name, [d.state, d.pendingRemoval]]))).toEqual({ada: ['stale', false], bob: ['stale', false], cy: ['inactive', false]})
    expect(details.generation).toBe(2)
    expect((await f.backend.directory.groupDetails('eng')).pendingRemoval).toEqual([])
    for (const d of Object.values(devices)) {
      expect((await refusal(() => f.backend.devices.access(serial, d.device().fingerprint, credentials!.secret))).exit).toBe(ExitCode.auth)
    }
    // The two remaining devices apply their SAW and work again.
    for (const saw of reset.saws) {
      const d = saw.fingerprint === devices.ada.device().fingerprint ? devices.ada : devices.bob
      applySaw(d, saw.file, d.trustedKeys(), f.nowSeconds())
      expect((await f.backend.devices.access(serial, saw.fingerprint, d.state().credentials[serial].secret)).restored).toBe(true)
      expect((await f.backend.devices.access(serial, saw.fingerprint, d.state().credentials[serial].secret)).restored).toBe(false)
    }
    // The former member's device, even holding the new secret, stays locked out: its link is inactive.
    const e = await refusal(() => f.backend.devices.access(serial, devices.cy.device().fingerprint, reset.credentials.secret))
    expect(e).toBeInstanceOf(AuthError)
    expect(e.message).toMatch(/not activated/)
    expect((await refusal(() => f.backend.saws.create(serial, devices.cy.device().fingerprint, reset.credentials.secret))).code).toBe('DEVICE_NOT_ACTIVE')
  })

  it('personal: every active device gets a SAW; an inactive one does not; a local container has no credentials', async () => {
    await f.backend.directory.createUser({email: 'ada@example.com'})
    const {container} = await f.backend.containers.create({kind: 'personal', user: 'ada@example.com'})
    const a = await f.device('a')
    const b = await f.device('b')
    const c = await f.device('c')
    for (const d of [a, b, c]) await f.backend.devices.activate(container.serial, d.identity())
    await f.backend.devices.deactivate(container.serial, c.device().fingerprint)
    const reset = await f.backend.containers.resetCredentials(container.serial)
    expect(reset.saws.map((s) => s.fingerprint).sort()).toEqual([a, b].map((d) => d.device().fingerprint).sort())
    expect(reset.leftOut).toEqual([])
    expect(reset.staled).toBe(2)
    // Without SAWs: links go stale and nothing is issued.
    const again = await f.backend.containers.resetCredentials(container.serial, {writeSaws: false})
    expect(again).toMatchObject({saws: [], staled: 2, credentials: {generation: 3}})
    const {container: l} = await f.backend.containers.create({kind: 'local', device: 'SIM-L'})
    expect((await refusedWithoutTrace(() => f.backend.containers.resetCredentials(l.serial))).code).toBe('NOT_A_CLOUD_CONTAINER')
  })

  it('an unassigned personal container drops its devices at the reset', async () => {
    await f.backend.directory.createUser({email: 'ada@example.com'})
    const {container} = await f.backend.containers.create({kind: 'personal', user: 'ada@example.com'})
    const a = await f.device('a')
    await f.backend.devices.activate(container.serial, a.identity())
    expect((await f.backend.containers.unassign(container.serial)).markedDevices).toBe(1)
    const reset = await f.backend.containers.resetCredentials(container.serial)
    expect(reset.saws).toEqual([])
    expect(reset.leftOut).toEqual([expect.objectContaining({fingerprint: a.device().fingerprint, reason: 'the container was taken from its user'})])
  })
})
