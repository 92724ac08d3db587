/**
 * Offline activation end to end through bin/run.js, the round trip: a vendor profile and two
 * simulated devices in their own device directories. Request → fulfill → apply → receipt → confirm,
 * return → fulfill → apply, the license moved to the second device, a further update for an existing
 * container; the files read by `jose` as standard JWS; `activation inspect` on each kind; help.
 * (Refusals: offline-refusals.test.ts; device clock: offline-device-clock.test.ts.)
 */
import {readFileSync, rmSync, writeFileSync} from 'node:fs'

import {compactVerify, importJWK, importSPKI} from 'jose'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {fails, ok, openStoreReadOnly} from '../helpers/cli.js'
import {offlineLab, unarmor} from '../helpers/offline.js'

/** Each test spawns licadm many times; give a loaded machine room. */
const SLOW = 240_000
const lab = offlineLab('licadm-offline-trip-')
const {sb, dev1, dev2, vendor, file, read, license} = lab
afterAll(() => sb.cleanup())

let kid: string
let L1: string // never expires
let L2: string // expires in 30 days
let container1: string
let container2: string

beforeAll(async () => {
  ;({kid, L1, L2} = await lab.setup({fast: true}))
}, SLOW)

describe('offline activation round trip', {timeout: SLOW}, () => {
  it('request --vendor → fulfill (new local container) → apply → receipt → confirm', async () => {
    const req = ok(await dev1(['activation', 'request', '--vendor', '1001', '--out', file('r1.request'), '--json']))
    expect(req).toMatchObject({purpose: 'activate', device: 'SIM-DEV-0001', container: null, vendor: 1001, counter: 0, path: file('r1.request')})
    expect(read('r1.request')).toMatch(/^-----BEGIN LICADM REQUEST-----\n/)

    const upd = ok(await vendor(['activation', 'fulfill', file('r1.request'), '--license', L1, '--license', L2, '--out', file('u1.update'), '--json']))
    expect(upd).toMatchObject({purpose: 'activate', device: 'SIM-DEV-0001', counter: 1, replayed: false, containerCreated: true, state: 'pending'})
    expect(upd.added.sort()).toEqual([L1, L2].sort())
    container1 = upd.container
    expect(container1).toMatch(/^L-/)

    // The license is assigned to the new local container, bound to the device, which is registered.
    const shown = ok(await vendor(['container', 'show', container1, '--json']))
    expect(JSON.stringify(shown)).toContain('SIM-DEV-0001')
    expect(ok(await vendor(['license', 'show', L1, '--json'])).license.status).toBe('assigned')
    expect(ok(await vendor(['device', 'show', 'SIM-DEV-0001', '--json'])).device.activations).toEqual([expect.objectContaining({serial: container1, state: 'active'})])

    // A receipt file that is there already (no --force) is refused before the update is applied:
    // an update applied without its receipt could not be confirmed.
    writeFileSync(file('rc1.receipt'), 'keep me')
    expect(fails(await dev1(['activation', 'apply', file('u1.update'), '--receipt', file('rc1.receipt'), '--json']), 4)).toMatchObject({code: 'FILE_EXISTS', details: {flag: '--receipt'}})
    expect(ok(await dev1(['device', 'licenses', '--json'])).licenses).toEqual([])
    expect(readFileSync(file('rc1.receipt'), 'utf8')).toBe('keep me')
    rmSync(file('rc1.receipt'))

    const applied = ok(await dev1(['activation', 'apply', file('u1.update'), '--receipt', file('rc1.receipt'), '--json']))
    expect(applied).toMatchObject({container: container1, counter: 1, removed: [], returned: null, receiptPath: file('rc1.receipt')})
    expect(applied.added.sort()).toEqual([L1, L2].sort())

    const listed = ok(await dev1(['device', 'licenses', '--json']))
    expect(listed.licenses.map((l: any) => [l.id, l.status]).sort()).toEqual([[L1, 'valid'], [L2, 'valid']].sort())
    expect(listed.containers).toEqual([expect.objectContaining({serial: container1, counter: 1, licenses: 2})])

    expect(ok(await vendor(['activation', 'list', '--state', 'pending', '--json'])).updates).toHaveLength(1)
    const confirmed = ok(await vendor(['activation', 'confirm', file('rc1.receipt'), '--json']))
    expect(confirmed).toMatchObject({update: upd.jti, device: 'SIM-DEV-0001', container: container1, counter: 1, state: 'confirmed', changed: true})
    // Confirming again changes nothing.
    expect(ok(await vendor(['activation', 'confirm', file('rc1.receipt'), '--json'])).changed).toBe(false)
    const list = ok(await vendor(['activation', 'list', '--json'])).updates
    expect(list).toEqual([expect.objectContaining({jti: upd.jti, state: 'confirmed', counter: 1})])
    expect(ok(await vendor(['activation', 'list', '--state', 'pending', '--json'])).updates).toEqual([])
  })

  it('re-fulfilling the same request returns the same update, not another license; other licenses for it are refused (4)', async () => {
    ok(await vendor(['activation', 'fulfill', file('r1.request'), '--out', file('u1-again.update'), '--json']))
    expect(read('u1-again.update')).toBe(read('u1.update'))
    const same = ok(await vendor(['activation', 'fulfill', file('r1.request'), '--license', L2, '--license', L1, '--json']))
    expect(same.replayed).toBe(true)
    expect(same.file).toBe(read('u1.update'))
    const other = await license()
    const e = fails(await vendor(['activation', 'fulfill', file('r1.request'), '--license', other, '--json']), 4)
    expect(e.code).toBe('REQUEST_FULFILLED')
    expect(ok(await vendor(['license', 'show', other, '--json'])).license.status).toBe('available')
  })

  it('files are standard JWS: jose verifies request and receipt with the device key, the update with the vendor key, each with its typ', async () => {
    const identity = ok(await dev1(['device', 'export', '--json'])).identity
    const deviceKey = await importJWK({kty: 'OKP', crv: 'Ed25519', x: identity.signKey}, 'EdDSA')
    const vendorKey = await importSPKI(read('vendor.pem'), 'EdDSA')
    const jwsOf = (name: string) => unarmor(read(name)).jws

    const req = await compactVerify(jwsOf('r1.request'), deviceKey, {algorithms: ['EdDSA']})
    expect(req.protectedHeader).toMatchObject({alg: 'EdDSA', typ: 'licadm-request+jwt'})
    expect(JSON.parse(new TextDecoder().decode(req.payload))).toMatchObject({sub: 'SIM-DEV-0001', counter: 0, vendor: 1001, purpose: 'activate'})

    const upd = await compactVerify(jwsOf('u1.update'), vendorKey, {algorithms: ['EdDSA']})
    expect(upd.protectedHeader).toMatchObject({alg: 'EdDSA', typ: 'licadm-update+jwt', kid})
    const payload = JSON.parse(new TextDecoder().decode(upd.payload))
    expect(payload).toMatchObject({iss: '1001', sub: 'SIM-DEV-0001', container: container1, counter: 1})
    // The licenses it carries are license files that verify on their own.
    for (const lic of payload.licenses) {
      const l = await compactVerify(lic, vendorKey, {algorithms: ['EdDSA']})
      expect(l.protectedHeader.typ).toBe('licadm-license+jwt')
    }

    const rc = await compactVerify(jwsOf('rc1.receipt'), deviceKey, {algorithms: ['EdDSA']})
    expect(rc.protectedHeader).toMatchObject({alg: 'EdDSA', typ: 'licadm-receipt+jwt'})
    expect(JSON.parse(new TextDecoder().decode(rc.payload))).toMatchObject({update: payload.jti, counter: 1, container: container1})

    // With the wrong key, jose refuses.
    await expect(compactVerify(jwsOf('u1.update'), deviceKey)).rejects.toThrow()
    await expect(compactVerify(jwsOf('rc1.receipt'), vendorKey)).rejects.toThrow()
  })

  it('return → fulfill frees the license → apply confirms the return on the device', async () => {
    const ret = ok(await dev1(['activation', 'return', '--license', L1, '--out', file('ret1.request'), '--json']))
    expect(ret).toMatchObject({purpose: 'return', license: L1, container: container1, counter: 1})
    // Gone from the device at once.
    expect(ok(await dev1(['device', 'licenses', '--json'])).licenses.map((l: any) => l.id)).toEqual([L2])
    // Asking again hands out the same return request.
    ok(await dev1(['activation', 'return', '--license', L1, '--out', file('ret1-again.request'), '--json']))
    expect(read('ret1-again.request')).toBe(read('ret1.request'))

    const inspected = ok(await vendor(['activation', 'inspect', file('ret1.request'), '--json']))
    expect(inspected).toMatchObject({kind: 'return', what: 'return request', container: container1, counter: 1, licenses: [L1]})
    expect(inspected.summary).toContain(`gives back license ${L1}`)
    expect(inspected.vendor.status).toBe('acceptable')

    const upd = ok(await vendor(['activation', 'fulfill', file('ret1.request'), '--out', file('ret1.update'), '--json']))
    expect(upd).toMatchObject({purpose: 'return', removed: [L1], added: [], counter: 2, container: container1, holds: [L2]})
    expect(ok(await vendor(['license', 'show', L1, '--json'])).license.status).toBe('available')
    const db = await openStoreReadOnly(sb.storePath())
    try {
      expect(db.prepare('select serial from container_licenses where license_id = ?').get(L1)).toBeUndefined()
      expect(db.prepare('select serial from container_licenses where license_id = ?').get(L2)).toEqual({serial: container1})
      const actions = (db.prepare('select action from audit_events order by seq').all() as Array<{action: string}>).map((r) => r.action)
      expect(actions).toEqual(expect.arrayContaining(['container.create', 'device.activate', 'offline.fulfill', 'offline.confirm', 'offline.return']))
    } finally {
      db.close()
    }
    expect(ok(await vendor(['audit', 'verify', '--json'])).ok).toBe(true)

    const applied = ok(await dev1(['activation', 'apply', file('ret1.update'), '--receipt', file('ret1.receipt'), '--json']))
    expect(applied).toMatchObject({returned: L1, counter: 2, licenses: [L2]})
    expect(ok(await vendor(['activation', 'confirm', file('ret1.receipt'), '--json'])).state).toBe('confirmed')
  })

  it('the freed license moves to the second device', async () => {
    ok(await dev2(['activation', 'request', '--vendor', '1001', '--out', file('r2.request'), '--json']))
    // Not while it is in the first device's container.
    const busy = await license()
    ok(await vendor(['container', 'add-license', container1, busy, '--json']))
    fails(await vendor(['activation', 'fulfill', file('r2.request'), '--license', busy, '--json']), 4)

    const upd = ok(await vendor(['activation', 'fulfill', file('r2.request'), '--license', L1, '--out', file('u2.update'), '--json']))
    container2 = upd.container
    expect(container2).not.toBe(container1)
    expect(upd).toMatchObject({device: 'SIM-DEV-0002', counter: 1, added: [L1], containerCreated: true})
    ok(await dev2(['activation', 'apply', file('u2.update'), '--receipt', file('rc2.receipt'), '--json']))
    ok(await vendor(['activation', 'confirm', file('rc2.receipt'), '--json']))
    expect(ok(await dev2(['device', 'licenses', '--json'])).licenses).toEqual([expect.objectContaining({id: L1, container: container2, status: 'valid'})])
    expect(ok(await vendor(['license', 'show', L1, '--json'])).license.status).toBe('assigned')
  })

  it('a request for an existing container: the device gets the licenses the admin added since, at the next counter', async () => {
    // `busy` was put into container1 by the admin; device 1 asks for one more license of product 8.
    const p8 = ok(await vendor(['license', 'create', '--product', '8', '--json'])).licenses[0].id
    const req = ok(await dev1(['activation', 'request', '--container', container1, '--out', file('r3.request'), '--json']))
    expect(req).toMatchObject({container: container1, counter: 2, vendor: 1001})
    const upd = ok(await vendor(['activation', 'fulfill', file('r3.request'), '--product', '8', '--out', file('u3.update'), '--json']))
    expect(upd).toMatchObject({counter: 3, added: [p8], containerCreated: false})
    expect(upd.holds).toHaveLength(3)
    const applied = ok(await dev1(['activation', 'apply', file('u3.update'), '--receipt', file('rc3.receipt'), '--json']))
    expect(applied.added).toHaveLength(2)
    expect(applied.licenses).toHaveLength(3)
    ok(await vendor(['activation', 'confirm', file('rc3.receipt'), '--json']))
  })
})

describe('inspect explains each kind in plain words', {timeout: SLOW}, () => {
  it('request, update, receipt with the vendor profile and the device directory', async () => {
    const r = await dev1(['activation', 'inspect', file('r3.request')])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`An activation request from device SIM-DEV-0001 (sim-dev-0001, `)
    expect(r.stdout).toContain(`for container ${container1}, which is at counter 2 on the device`)
    expect(r.stdout).toMatch(/Vendor\s+fulfilled: fulfilled at .* with update upd_/)
    expect(r.stdout).toMatch(/Device\s+answered/)

    const u = ok(await dev1(['activation', 'inspect', file('u3.update'), '--json']))
    expect(u).toMatchObject({kind: 'update', what: 'activation update', counter: 3, container: container1, from: 'vendor 1001', to: 'device SIM-DEV-0001'})
    expect(u.summary).toContain('so the device must be at counter 2')
    expect(u.vendor.status).toBe('confirmed')
    expect(u.device).toMatchObject({status: 'refused', exitCode: 16})

    const rc = ok(await vendor(['activation', 'inspect', file('rc1.receipt'), '--json']))
    expect(rc).toMatchObject({kind: 'receipt', counter: 1, from: 'device SIM-DEV-0001'})
    expect(rc.vendor.status).toBe('confirmed')
    expect(rc.device.status).toBe('not-checked')

    // Device 2 reads an update for device 1: it says why it would refuse it.
    const other = ok(await dev2(['activation', 'inspect', file('u3.update'), '--json']))
    expect(other.device).toMatchObject({status: 'refused', exitCode: 18})
    expect(other.device.reason).toContain('not for this device')
  })

  it('a file that is not an offline file: 10 unarmored, 12 another kind', async () => {
    writeFileSync(file('junk.txt'), 'hello\n')
    fails(await vendor(['activation', 'inspect', file('junk.txt'), '--json']), 10)
    ok(await vendor(['license', 'export', L2, '--out', file('l2.lic'), '--json']))
    expect(fails(await vendor(['activation', 'inspect', file('l2.lic'), '--json']), 12).message).toContain('LICENSE')
  })
})

describe('help', {timeout: SLOW}, () => {
  it('every activation command has a summary and examples', async () => {
    const r = await vendor(['activation', '--help'])
    expect(r.code).toBe(0)
    for (const verb of ['request', 'apply', 'return', 'fulfill', 'confirm', 'inspect', 'list']) expect(r.stdout).toContain(`activation ${verb}`)
    expect(r.stdout).toContain('Offline activation files')
    const l = await vendor(['device', 'licenses', '--help'])
    expect(l.stdout).toContain('--clock-tolerance')
  })
})
