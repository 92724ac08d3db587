/**
 * Offline activation end to end through bin/run.js, the refusals: each kind of bad, foreign,
 * replayed, out-of-order, expired or mismatching file is refused with its own exit status, and
 * `activation inspect` diagnoses refused files. Starts from the state the round trip leaves
 * (roundTrip in test/helpers/offline.ts; the round trip itself is tested in
 * offline-round-trip.test.ts).
 */
import {copyFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {calculateJwkThumbprint} from 'jose'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {fails, initVendor, ok, openStoreReadOnly} from '../helpers/cli.js'
import {decoded, deviceKeyPem, forge, offlineLab, onDevice, resign, roundTrip, unarmor} from '../helpers/offline.js'
import {privateKeyPem} from '../helpers/files.js'

const DAY = 86_400_000
/** Each test spawns licadm many times; give a loaded machine room. */
const SLOW = 240_000
const lab = offlineLab('licadm-offline-refusals-')
const {sb, dir1, dir2, dev1, dev2, vendor, file, read, license, newDevice} = lab
afterAll(() => sb.cleanup())

let kid: string
let L2: string // expires in 30 days
let container1: string
let container2: string

beforeAll(async () => {
  const ids = await lab.setup({fast: true})
  kid = ids.kid
  L2 = ids.L2
  ;({container1, container2} = await roundTrip(lab, ids, {fast: true}))
}, SLOW)

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
    // The update applied last: the refusal says how to write its receipt again.
    expect(fails(await dev2(['activation', 'apply', file('u2.update'), '--json']), 16)).toMatchObject({code: 'REPLAYED', hint: expect.stringContaining(`"licadm activation receipt ${container2}"`)})
  })

  it('the receipt of the update applied last is written again on demand, and the vendor takes it', async () => {
    const again = ok(await dev2(['activation', 'receipt', container2, '--out', file('again.receipt'), '--json']))
    expect(again).toMatchObject({container: container2, counter: 1, update: expect.stringMatching(/^upd_/), path: file('again.receipt')})
    expect(read('again.receipt')).toMatch(/^-----BEGIN LICADM RECEIPT-----/)
    expect(ok(await vendor(['activation', 'inspect', file('again.receipt'), '--json'])).vendor.status).toMatch(/^(acceptable|confirmed)$/)
    expect(ok(await vendor(['activation', 'confirm', file('again.receipt'), '--json']))).toMatchObject({update: again.update, container: container2, state: 'confirmed'})
    expect(fails(await dev2(['activation', 'receipt', 'L-AAAA-BBBB-CCCC', '--json']), 3).code).toBe('CONTAINER_NOT_FOUND')
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

    // A device that pins each vendor's key for that vendor (device trust --vendor): vendor 2002's key
    // cannot sign an update that names vendor 1001 as its issuer.
    const otherKid = decoded(read('foreign.update')).header.kid
    writeFileSync(file('other.pem'), (await vendor(['key', 'export', '--profile', 'other'])).stdout)
    const dev5 = onDevice(sb, sb.path('dev5'))
    ok(await dev5(['device', 'init', '--fingerprint', 'SIM-DEV-0005', '--json']))
    expect(ok(await dev5(['device', 'trust', file('vendor.pem'), '--vendor', '1001', '--json']))).toEqual({trusted: [kid], vendor: '1001'})
    expect((await dev5(['device', 'trust', file('other.pem'), '--vendor', '2002'])).stdout).toContain(`Trusted vendor key ${otherKid} for vendor 2002`)
    ok(await dev5(['activation', 'request', '--vendor', '1001', '--out', file('r-dev5.request'), '--json']))
    const r5 = decoded(read('r-dev5.request')).payload.jti
    writeFileSync(file('posing.update'), resign(read('foreign.update'), privateKeyPem(sb.keyDir('other'), otherKid), (p) => ({...p, iss: '1001', request: r5, sub: 'SIM-DEV-0005'})))
    const posing = fails(await dev5(['activation', 'apply', file('posing.update'), '--json']), 11)
    expect(posing).toMatchObject({code: 'UNKNOWN_KEY', message: expect.stringContaining(`key ${otherKid} is pinned for vendor 2002`)})
    expect(fails(await dev5(['device', 'trust', file('other.pem'), '--vendor', 'acme', '--json']), 2).message).toContain('--vendor')
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
