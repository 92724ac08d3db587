/**
 * Offline activation end to end through bin/run.js: a vendor profile and two simulated devices in
 * their own device directories. Request → fulfill → apply → receipt → confirm, return → fulfill →
 * apply, the license moved to the second device; then every refusal with its exit status; and the
 * files read by `jose` as standard JWS.
 */
import {copyFileSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {calculateJwkThumbprint, compactVerify, importJWK, importSPKI} from 'jose'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {fails, initVendor, ok, openStoreReadOnly, sandbox} from '../helpers/cli.js'
import {decoded, deviceKeyPem, forge, onDevice, resign, unarmor} from '../helpers/offline.js'
import {privateKeyPem} from '../helpers/files.js'

const sb = sandbox('licadm-offline-')
afterAll(() => sb.cleanup())

const DAY = 86_400_000
/** Each test spawns licadm many times; give a loaded machine room. */
const SLOW = 240_000
const dir1 = sb.path('dev1')
const dir2 = sb.path('dev2')
const dev1 = onDevice(sb, dir1)
const dev2 = onDevice(sb, dir2)
const vendor = (args: string[], env: Record<string, string | undefined> = {}) => sb.run(args, {env})
const file = (name: string) => sb.path(name)
const read = (name: string) => readFileSync(file(name), 'utf8')

let kid: string
let L1: string // never expires
let L2: string // expires in 30 days
let container1: string
let container2: string

async function license(args: string[] = []): Promise<string> {
  return ok(await vendor(['license', 'create', '--product', '7', ...args, '--json'])).licenses[0].id
}

async function newDevice(dir: string, fingerprint: string) {
  const run = onDevice(sb, dir)
  ok(await run(['device', 'init', '--fingerprint', fingerprint, '--name', fingerprint.toLowerCase(), '--json']))
  ok(await run(['device', 'trust', file('vendor.pem'), '--json']))
  return run
}

beforeAll(async () => {
  kid = (await initVendor(sb, {products: [7, 8]})).kid
  const pem = await vendor(['key', 'export'])
  writeFileSync(file('vendor.pem'), pem.stdout)
  L1 = await license()
  L2 = await license(['--expires', '30d'])
  // Spares for "--product 7".
  ok(await vendor(['license', 'create', '--product', '7', '--count', '8', '--json']))
  await newDevice(dir1, 'SIM-DEV-0001')
  await newDevice(dir2, 'SIM-DEV-0002')
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

describe('refusals, each with its own exit status', {timeout: SLOW}, () => {
  it('tampered update: a changed byte is refused (5 or 10), a forged payload with the old signature is 5', async () => {
    const text = read('u3.update')
    const body = text.indexOf('\n') + 1
    for (const at of [body + 10, body + 200, body + 700, text.length - 60]) {
      const c = text[at]
      writeFileSync(file('tampered.update'), text.slice(0, at) + (c === 'A' ? 'B' : 'A') + text.slice(at + 1))
      const r = await dev1(['activation', 'apply', file('tampered.update'), '--json'])
      // Most changes break the signature (5) or the encoding (10); one in the header can name another key or algorithm.
      expect([5, 10, 11, 12, 13], `byte ${at}: ${r.stdout}`).toContain(r.code)
    }
    writeFileSync(file('forged.update'), forge(read('u2.update'), (p) => ({...p, sub: 'SIM-DEV-0001'})))
    expect(fails(await dev1(['activation', 'apply', file('forged.update'), '--json']), 5).code).toBe('SIGNATURE_INVALID')
    writeFileSync(file('forged.request'), forge(read('r3.request'), (p) => ({...p, counter: 9})))
    fails(await vendor(['activation', 'fulfill', file('forged.request'), '--product', '7', '--json']), 5)
    writeFileSync(file('forged.receipt'), forge(read('rc3.receipt'), (p) => ({...p, holds: []})))
    fails(await vendor(['activation', 'confirm', file('forged.receipt'), '--json']), 5)
  })

  it('truncated or non-armored files: 10', async () => {
    const text = read('u3.update')
    writeFileSync(file('cut.update'), text.slice(0, Math.floor(text.length / 2)))
    expect(fails(await dev1(['activation', 'apply', file('cut.update'), '--json']), 10).code).toBe('TRUNCATED')
    writeFileSync(file('plain.update'), unarmor(text).jws)
    expect(fails(await dev1(['activation', 'apply', file('plain.update'), '--json']), 10).code).toBe('MALFORMED')
    writeFileSync(file('cut.request'), read('r3.request').split('\n').slice(0, 3).join('\n'))
    fails(await vendor(['activation', 'fulfill', file('cut.request'), '--product', '7', '--json']), 10)
  })

  it('the wrong kind of file for a command: 12', async () => {
    expect(fails(await dev1(['activation', 'apply', file('r3.request'), '--json']), 12).message).toMatch(/REQUEST file, not a UPDATE file/)
    fails(await vendor(['activation', 'fulfill', file('u3.update'), '--license', L2, '--json']), 12)
    fails(await vendor(['activation', 'confirm', file('u3.update'), '--json']), 12)
    fails(await vendor(['activation', 'confirm', file('l2.lic'), '--json']), 12)
    // A genuine JWS of another typ in REQUEST armor is refused by its type after its signature verifies.
    writeFileSync(file('typ.request'), resign(read('r3.request'), deviceKeyPem(dir1), (p) => ({...p, jti: 'req_typ'}), (h) => ({...h, typ: 'licadm-receipt+jwt'})))
    expect(fails(await vendor(['activation', 'fulfill', file('typ.request'), '--product', '7', '--json']), 12).code).toBe('WRONG_TYPE')
  })

  it('a request from an unknown device: 11', async () => {
    const dir3 = sb.path('dev3')
    const dev3 = await newDevice(dir3, 'SIM-DEV-0003')
    ok(await dev3(['activation', 'request', '--container', container1, '--out', file('r-unknown.request'), '--json']))
    const e = fails(await vendor(['activation', 'fulfill', file('r-unknown.request'), '--product', '7', '--json']), 11)
    expect(e.code).toBe('UNKNOWN_DEVICE')
    expect(e.message).toContain('SIM-DEV-0003')
    // A request signed with another key than the registered one (a copied fingerprint): 11.
    writeFileSync(file('r-otherkey.request'), resign(read('r-unknown.request'), deviceKeyPem(dir3), (p) => ({...p, iss: 'SIM-DEV-0001', sub: 'SIM-DEV-0001'})))
    expect(fails(await vendor(['activation', 'fulfill', file('r-otherkey.request'), '--product', '7', '--json']), 11).message).toContain('not by the key registered for device SIM-DEV-0001')
  })

  it('inspect diagnoses refused files: a forged request (5), a request from an unknown device (11)', async () => {
    writeFileSync(file('forged2.request'), forge(read('r3.request'), (p) => ({...p, counter: 1})))
    const f = ok(await vendor(['activation', 'inspect', file('forged2.request'), '--json']))
    expect(f.selfSigned).toBe(false)
    expect(f.vendor).toMatchObject({status: 'refused', exitCode: 5})
    const t = await vendor(['activation', 'inspect', file('forged2.request')])
    expect(t.code).toBe(0)
    expect(t.stdout).toContain('does NOT match the key it carries')
    expect(t.stdout).toMatch(/Vendor\s+refused: .*signature does not verify.*\(exit 5\)/)
    const u = ok(await vendor(['activation', 'inspect', file('r-unknown.request'), '--json']))
    expect(u.vendor).toMatchObject({status: 'refused', exitCode: 11})
    expect(u.vendor.reason).toContain('SIM-DEV-0003, which this vendor does not know')
  })

  it('an update for another device or another container: 18', async () => {
    expect(fails(await dev2(['activation', 'apply', file('u3.update'), '--json']), 18).message).toContain('is for device SIM-DEV-0001')
    // A genuine vendor signature, but the container is not the one the request was for.
    ok(await dev2(['activation', 'request', '--container', container2, '--out', file('r2b.request'), '--json']))
    const vendorPem = privateKeyPem(sb.keyDir(), kid)
    const requestJti = decoded(read('r2b.request')).payload.jti
    writeFileSync(file('other-container.update'), resign(read('u2.update'), vendorPem, (p) => ({...p, jti: 'upd_crafted1', request: requestJti, container: 'L-AAAA-BBBB-CCCC', counter: 1})))
    const e = fails(await dev2(['activation', 'apply', file('other-container.update'), '--json']), 18)
    expect(e.message).toContain(`request ${requestJti} was made for container ${container2}`)
  })

  it('an update applied again: 16', async () => {
    expect(fails(await dev1(['activation', 'apply', file('u1.update'), '--json']), 16).code).toBe('REPLAYED')
    expect(fails(await dev2(['activation', 'apply', file('u2.update'), '--json']), 16).code).toBe('REPLAYED')
  })

  it('an update out of order: 19 with the counter it needs; then in order it applies', async () => {
    // Device 2 is at counter 1 of container2; r2b (counter 1) is pending.
    const state = join(dir2, 'state.json')
    copyFileSync(state, file('dev2-state-at-1.json'))
    ok(await vendor(['activation', 'fulfill', file('r2b.request'), '--ticket', ok(await vendor(['license', 'show', await license(), '--json'])).license.ticket, '--out', file('u2b.update'), '--json']))
    ok(await dev2(['activation', 'apply', file('u2b.update'), '--receipt', file('rc2b.receipt'), '--json']))
    ok(await dev2(['activation', 'request', '--container', container2, '--out', file('r2c.request'), '--json']))
    ok(await vendor(['activation', 'fulfill', file('r2c.request'), '--product', '7', '--out', file('u2c.update'), '--json']))
    copyFileSync(state, file('dev2-state-at-2.json'))
    // Back to counter 1 (as after restoring a backup): update 3 misses its predecessor.
    copyFileSync(file('dev2-state-at-1.json'), state)
    const e = fails(await dev2(['activation', 'apply', file('u2c.update'), '--json']), 19)
    expect(e.code).toBe('OUT_OF_ORDER')
    expect(e.details).toMatchObject({counter: 3, current: 1, needed: 2})
    expect(e.message).toContain('it needs the update with counter 2 first')
    copyFileSync(file('dev2-state-at-2.json'), state)
    // An update older than the device's counter is superseded: 19 as well (or 16 when it was applied here).
    writeFileSync(file('old.update'), resign(read('u2b.update'), privateKeyPem(sb.keyDir(), kid), (p) => ({...p, jti: 'upd_crafted2', counter: 2})))
    expect(fails(await dev2(['activation', 'apply', file('old.update'), '--json']), 19).message).toContain('superseded')
    ok(await dev2(['activation', 'apply', file('u2c.update'), '--receipt', file('rc2c.receipt'), '--json']))
    // The vendor refuses a request made behind an update it issued since: 19.
    ok(await vendor(['activation', 'confirm', file('rc2b.receipt'), '--json']))
    expect(fails(await vendor(['activation', 'fulfill', file('r2b.request'), '--product', '7', '--json']), 4).code).toBe('REQUEST_FULFILLED')
  })

  it('a vendor request behind the issued counter is refused: 19', async () => {
    // Device 1 makes two requests at counter 3; the vendor fulfills one, the other is then behind.
    ok(await dev1(['activation', 'request', '--container', container1, '--out', file('r4a.request'), '--json']))
    ok(await dev1(['activation', 'request', '--container', container1, '--out', file('r4b.request'), '--json']))
    ok(await vendor(['activation', 'fulfill', file('r4a.request'), '--product', '7', '--out', file('u4a.update'), '--json']))
    const e = fails(await vendor(['activation', 'fulfill', file('r4b.request'), '--product', '7', '--json']), 19)
    expect(e.message).toContain('the device must apply it first')
    const applied = ok(await dev1(['activation', 'apply', file('u4a.update'), '--receipt', file('rc4a.receipt'), '--json']))
    // The stale request is dropped on the device.
    expect(applied.superseded).toEqual([decoded(read('r4b.request')).payload.jti])
    ok(await vendor(['activation', 'confirm', file('rc4a.receipt'), '--json']))
  })

  it('an update from a foreign vendor key: 11', async () => {
    await initVendor(sb, {profile: 'other', vendorCode: 2002, name: 'Other Vendor', products: [7]})
    const other = ok(await vendor(['license', 'create', '--product', '7', '--profile', 'other', '--json'])).licenses[0].id
    ok(await dev1(['activation', 'request', '--vendor', '2002', '--out', file('r-foreign.request'), '--json']))
    // This profile is vendor 1001: a request addressed to vendor 2002 is for another vendor (18).
    expect(fails(await vendor(['activation', 'fulfill', file('r-foreign.request'), '--product', '7', '--json']), 18).message).toContain('addressed to vendor 2002')
    ok(await vendor(['activation', 'fulfill', file('r-foreign.request'), '--license', other, '--profile', 'other', '--out', file('foreign.update'), '--json']))
    const e = fails(await dev1(['activation', 'apply', file('foreign.update'), '--json']), 11)
    expect(e.code).toBe('UNKNOWN_KEY')
    // A device that trusts no key at all: 11 too.
    const dir4 = sb.path('dev4')
    ok(await onDevice(sb, dir4)(['device', 'init', '--fingerprint', 'SIM-DEV-0004', '--json']))
    expect(fails(await onDevice(sb, dir4)(['activation', 'apply', file('u1.update'), '--json']), 11).code).toBe('NO_TRUSTED_KEY')
  })

  it('an expired request: 6 after 14 days by default, configurable with --max-age', async () => {
    ok(await dev2(['activation', 'request', '--container', container2, '--out', file('r-old.request'), '--json']))
    const later = new Date(Date.now() + 15 * DAY).toISOString()
    const e = fails(await vendor(['activation', 'fulfill', file('r-old.request'), '--product', '7', '--json'], {LICADM_NOW: later}), 6)
    expect(e.code).toBe('EXPIRED')
    expect(e.message).toMatch(/requests older than 14d are refused/)
    const inspected = ok(await vendor(['activation', 'inspect', file('r-old.request'), '--json'], {LICADM_NOW: later}))
    expect(inspected.vendor).toMatchObject({status: 'refused', exitCode: 6})
    expect(inspected.validity).toMatch(/^too old/)
    fails(await vendor(['activation', 'fulfill', file('r-old.request'), '--product', '7', '--max-age', '1h', '--json'], {LICADM_NOW: new Date(Date.now() + 2 * 3_600_000).toISOString()}), 6)
    ok(await vendor(['activation', 'fulfill', file('r-old.request'), '--product', '7', '--max-age', '30d', '--out', file('u-old.update'), '--json'], {LICADM_NOW: later}))
  })

  it('a request from a deactivated (revoked) device: 17', async () => {
    ok(await vendor(['device', 'deactivate', 'SIM-DEV-0002', '--container', container2, '--json']))
    ok(await dev2(['activation', 'request', '--container', container2, '--out', file('r-revoked.request'), '--json']))
    const e = fails(await vendor(['activation', 'fulfill', file('r-revoked.request'), '--product', '7', '--json']), 17)
    expect(e.message).toContain('was deactivated')
  })

  it('a receipt for an update that was never issued: 3; a receipt that does not match: recorded as mismatch, 4', async () => {
    const devicePem = deviceKeyPem(dir1)
    writeFileSync(file('never.receipt'), resign(read('rc3.receipt'), devicePem, (p) => ({...p, jti: 'rcp_never', update: 'upd_never_issued'})))
    const e = fails(await vendor(['activation', 'confirm', file('never.receipt'), '--json']), 3)
    expect(e.code).toBe('UPDATE_NOT_ISSUED')

    writeFileSync(file('counter.receipt'), resign(read('rc3.receipt'), devicePem, (p) => ({...p, jti: 'rcp_counter', counter: 7})))
    const m = fails(await vendor(['activation', 'confirm', file('counter.receipt'), '--json']), 4)
    expect(m.code).toBe('RECEIPT_MISMATCH')
    expect(m.message).toContain('it reports counter 7, the update carried counter 3')
    writeFileSync(file('content.receipt'), resign(read('rc3.receipt'), devicePem, (p) => ({...p, jti: 'rcp_content', holds: [...p.holds, 'lic_extra']})))
    expect(fails(await vendor(['activation', 'confirm', file('content.receipt'), '--json']), 4).details.problems).toEqual(['it holds license(s) lic_extra that the update did not give'])
    // A receipt from device 2 for an update of device 1: 18.
    const kid2 = await calculateJwkThumbprint({kty: 'OKP', crv: 'Ed25519', x: ok(await dev2(['device', 'export', '--json'])).identity.signKey})
    writeFileSync(file('d2.receipt'), resign(read('rc3.receipt'), deviceKeyPem(dir2), (p) => ({...p, jti: 'rcp_d2', iss: 'SIM-DEV-0002', sub: 'SIM-DEV-0002'}), (h) => ({...h, kid: kid2})))
    fails(await vendor(['activation', 'confirm', file('d2.receipt'), '--json']), 18)

    const db = await openStoreReadOnly(sb.storePath())
    try {
      const rows = db.prepare("select jti, result, reason from offline_receipts where result = 'mismatch' order by jti").all() as any[]
      expect(rows.map((r) => r.jti)).toEqual(['rcp_content', 'rcp_counter'])
      expect((db.prepare("select count(*) as n from audit_events where action = 'offline.mismatch'").get() as any).n).toBe(2)
    } finally {
      db.close()
    }
    // The update stays confirmed (its genuine receipt came first), and the mismatch is recorded on it.
    const u3 = ok(await vendor(['activation', 'list', '--json'])).updates.find((u: any) => u.counter === 3 && u.container === container1)
    expect(u3.mismatch).toContain('lic_extra')
    expect(ok(await vendor(['audit', 'verify', '--json'])).ok).toBe(true)
  })

  it('a pending update with a mismatching receipt shows as mismatch in the list', async () => {
    ok(await dev1(['activation', 'request', '--container', container1, '--out', file('r5.request'), '--json']))
    const upd = ok(await vendor(['activation', 'fulfill', file('r5.request'), '--product', '7', '--out', file('u5.update'), '--json']))
    ok(await dev1(['activation', 'apply', file('u5.update'), '--receipt', file('rc5.receipt'), '--json']))
    writeFileSync(file('rc5-bad.receipt'), resign(read('rc5.receipt'), deviceKeyPem(dir1), (p) => ({...p, jti: 'rcp_bad5', holds: p.holds.slice(1)})))
    fails(await vendor(['activation', 'confirm', file('rc5-bad.receipt'), '--json']), 4)
    const listed = ok(await vendor(['activation', 'list', '--state', 'mismatch', '--json'])).updates
    expect(listed).toEqual([expect.objectContaining({jti: upd.jti, state: 'mismatch'})])
    const text = await vendor(['activation', 'list'])
    expect(text.stdout).toContain('mismatch')
    // The genuine receipt still confirms it afterwards.
    ok(await vendor(['activation', 'confirm', file('rc5.receipt'), '--json']))
  })
})

describe('device licenses: expiry and clock rollback', {timeout: SLOW}, () => {
  it('an expiring license is expired after its date (LICADM_NOW)', async () => {
    const later = new Date(Date.now() + 31 * DAY).toISOString()
    const r = ok(await dev1(['device', 'licenses', '--json'], {env: {LICADM_NOW: later}}))
    const byId = Object.fromEntries(r.licenses.map((l: any) => [l.id, l.status]))
    expect(byId[L2]).toBe('expired')
    expect(r.clock.rolledBack).toBe(false)
  })

  it('a clock set back beyond the tolerance is reported (15) and licenses with an expiry are refused until it is fixed', async () => {
    // The watermark is 31 days ahead now (the run above); today is a rollback of a month.
    const text = await dev1(['device', 'licenses'])
    expect(text.code).toBe(15)
    expect(text.stderr).toMatch(/clock .* is .* behind the latest time it has seen/)
    expect(text.stdout).toContain('clock-rolled-back')
    const r = fails(await dev1(['device', 'licenses', '--json']), 15)
    expect(r.code).toBe('CLOCK_ROLLED_BACK')
    const byId = Object.fromEntries(r.details.licenses.map((l: any) => [l.id, l.status]))
    expect(byId[L2]).toBe('clock-rolled-back')
    // Licenses without an expiry are still fine.
    expect(Object.entries(byId).filter(([id]) => id !== L2).every(([, s]) => s === 'valid')).toBe(true)
    // Within the tolerance (given larger), it passes; with the clock right again, too.
    ok(await dev1(['device', 'licenses', '--clock-tolerance', '40d', '--json']))
    ok(await dev1(['device', 'licenses', '--json'], {env: {LICADM_NOW: new Date(Date.now() + 31 * DAY).toISOString()}}))
  })

  it('the watermark also comes from signed files: an update from the future moves it', async () => {
    const dir5 = sb.path('dev5')
    const dev5 = await newDevice(dir5, 'SIM-DEV-0005')
    ok(await dev5(['activation', 'request', '--vendor', '1001', '--out', file('r6.request'), '--json']))
    const lic = await license(['--expires', '365d'])
    const ahead = new Date(Date.now() + 3 * DAY).toISOString()
    ok(await vendor(['activation', 'fulfill', file('r6.request'), '--license', lic, '--out', file('u6.update'), '--json'], {LICADM_NOW: ahead}))
    // Applied with the device clock 3 days behind the vendor's: iat is in the future → 15.
    fails(await dev5(['activation', 'apply', file('u6.update'), '--json']), 15)
    ok(await dev5(['activation', 'apply', file('u6.update'), '--receipt', file('rc6.receipt'), '--json'], {env: {LICADM_NOW: ahead}}))
    // Back at the real time, the device has seen a time 3 days later.
    fails(await dev5(['device', 'licenses', '--json']), 15)
    const state = JSON.parse(readFileSync(join(dir5, 'state.json'), 'utf8'))
    expect(state.watermark).toBeGreaterThanOrEqual(Math.floor(Date.parse(ahead) / 1000) - 5)
    // SAW credentials and trusted keys live on beside the offline state.
    expect(Object.keys(state.trusted)).toEqual([kid])
    expect(state.credentials).toEqual({})
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
