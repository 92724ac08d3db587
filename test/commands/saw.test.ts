/**
 * SAW commands and credential resets (in-process over dist/, build first): saw create, inspect and
 * apply with each refusal's own exit status, and reset-credentials' files and refusals.
 */
import {readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {armorText, dearmorText} from '../helpers/files.js'
import {lab, refused, secretOf, type Device, type Lab} from '../helpers/lab.js'

let l: Lab
let serial: string
let creds: string
let a: Device
let b: Device

beforeAll(async () => {
  l = await lab({prefix: 'licadm-cmd-saw-'})
  await l.json(['user', 'create', '--email', 'ada@example.com'])
  creds = l.path('ada.cred')
  serial = (await l.json(['container', 'create', '--kind', 'personal', '--user', 'ada@example.com', '--out', creds])).container.serial
  a = await l.device('alpha')
  b = await l.device('bravo')
  for (const d of [a, b]) {
    const saw = l.path(`${d.name}-gen1.saw`)
    await l.json(['device', 'activate', '--container', serial, '--identity', d.identity, '--saw', saw, '--credentials', creds])
    await d.run(['saw', 'apply', saw, '--json']).then((r) => expect(r.code, r.stderr + r.stdout).toBe(0))
  }
})
afterAll(() => l?.cleanup())

describe('saw create', () => {
  it('needs the current secret: --credentials, or LICADM_CONTAINER_SECRET; without either and without a terminal exit 2 naming --credentials', async () => {
    const none = await l.admin(['saw', 'create', '--container', serial, '--device', a.fingerprint])
    refused(none, 2)
    expect(none.stderr).toContain('--credentials')
    const j = refused(await l.admin(['saw', 'create', '--container', serial, '--device', a.fingerprint, '--json']), 2)
    expect(j.details.flag).toBe('--credentials')
    const out = l.path('create-a.saw')
    const r = await l.admin(['saw', 'create', '--container', serial, '--device', a.fingerprint, '--credentials', creds, '--out', out])
    expect(r.code).toBe(0)
    expect(r.stdout + r.stderr).not.toContain(secretOf(creds))
    expect(statSync(out).mode & 0o777).toBe(0o600)
    expect(readFileSync(out, 'utf8')).toMatch(/^-----BEGIN LICADM SAW-----\n/)
    const viaEnv = await l.json(['saw', 'create', '--container', serial, '--device', b.fingerprint, '--expires', '1h'], {LICADM_CONTAINER_SECRET: secretOf(creds)})
    expect(viaEnv).toMatchObject({serial, fingerprint: b.fingerprint, generation: 1})
    expect(Date.parse(viaEnv.expiresAt) - Date.now()).toBeLessThanOrEqual(3600_000)
    expect(viaEnv.file).toMatch(/^-----BEGIN LICADM SAW-----/)
    expect(viaEnv.file).not.toContain(secretOf(creds))
    const stdout = await l.admin(['saw', 'create', '--container', serial, '--device', b.fingerprint, '--credentials', creds])
    expect(stdout.stdout).toMatch(/^-----BEGIN LICADM SAW-----\n[\s\S]*-----END LICADM SAW-----\n$/)
  })

  it('refuses a wrong secret (7), a device not on the container (4), an unknown container (3), a bad --expires (2)', async () => {
    refused(await l.admin(['saw', 'create', '--container', serial, '--device', a.fingerprint, '--json'], {LICADM_CONTAINER_SECRET: 'lcs_not-it'}), 7)
    refused(await l.admin(['saw', 'create', '--container', serial, '--device', 'SIM-NOT-HERE', '--credentials', creds, '--json']), 4)
    refused(await l.admin(['saw', 'create', '--container', 'P-0000-0000-0000', '--device', a.fingerprint, '--json'], {LICADM_CONTAINER_SECRET: 'x'}), 3)
    const e = refused(await l.admin(['saw', 'create', '--container', serial, '--device', a.fingerprint, '--credentials', creds, '--expires', 'soon', '--json']), 2)
    expect(e.message).toMatch(/--expires/)
    writeFileSync(l.path('not-json.cred'), 'secret')
    refused(await l.admin(['saw', 'create', '--container', serial, '--device', a.fingerprint, '--credentials', l.path('not-json.cred'), '--json']), 2)
  })
})

describe('reset-credentials', () => {
  it('needs --yes without a terminal; a local container has no credentials (4); --out that exists is refused before the reset', async () => {
    const y = refused(await l.admin(['container', 'reset-credentials', serial, '--json']), 2)
    expect(y.details.flag).toBe('--yes')
    const local = (await l.json(['container', 'create', '--kind', 'local', '--device', 'SIM-LOCAL-1'])).container.serial
    refused(await l.admin(['container', 'reset-credentials', local, '--yes', '--json']), 4)
    const e = refused(await l.admin(['container', 'reset-credentials', serial, '--yes', '--out', creds, '--json']), 4)
    expect(e.message).toMatch(/exists already/)
    expect((await l.json(['container', 'show', serial])).container.generation).toBe(1)
    refused(await l.admin(['container', 'reset-credentials', serial, '--yes', '--saw-expires', '30s', '--json']), 2)
    expect((await l.json(['container', 'show', serial])).container.generation).toBe(1)
  })

  it('names each SAW file after its device: two devices of the same name whose fingerprints share a long prefix get two files', async () => {
    await l.json(['user', 'create', '--email', 'twin@example.com'])
    const c = l.path('twins.cred')
    const twins = (await l.json(['container', 'create', '--kind', 'personal', '--user', 'twin@example.com', '--out', c])).container.serial
    const t1 = await l.device('twin-1', 'SIM-LAPTOP-000000000001')
    const t2 = await l.device('twin-2', 'SIM-LAPTOP-000000000002')
    // Both are called "laptop" by their users.
    for (const [d, name] of [[t1, 'laptop'], [t2, 'laptop']] as const) {
      await l.json(['device', 'activate', '--container', twins, '--fingerprint', d.fingerprint, '--name', name, '--sign-key', JSON.parse(readFileSync(`${d.dir}/device.json`, 'utf8')).signKey, '--enc-key', JSON.parse(readFileSync(`${d.dir}/device.json`, 'utf8')).encKey])
    }
    const dir = l.path('twin-saws')
    const r = await l.json(['container', 'reset-credentials', twins, '--saw-dir', dir, '--yes', '--out', l.path('twins2.cred')])
    expect(r.saws).toHaveLength(2)
    const files = readdirSync(dir).sort()
    expect(files).toHaveLength(2)
    expect(new Set(r.saws.map((s: {file: string}) => s.file)).size).toBe(2)
    for (const s of r.saws) {
      expect(s.file).toContain(s.device)
      expect(statSync(s.file).mode & 0o777).toBe(0o600)
    }
    // Stale links still hold their slots: the list says 2 of 3, not 0.
    expect((await l.admin(['container', 'list', '--user', 'twin@example.com'])).stdout).toMatch(new RegExp(`${twins}\\s+personal\\s+twin@example.com\\s+0\\s+2/3`))
    expect((await l.json(['container', 'list', '--user', 'twin@example.com'])).containers[0]).toMatchObject({devices: 2, activeDevices: 0})
    // Each file is the one for its device: both apply.
    for (const [d, s] of [[t1, r.saws.find((x: {device: string}) => x.device === t1.fingerprint)], [t2, r.saws.find((x: {device: string}) => x.device === t2.fingerprint)]] as const) {
      const applied = await d.run(['saw', 'apply', s.file, '--json'])
      expect(applied.code, applied.stdout + applied.stderr).toBe(0)
      expect(applied.json.result.restored).toBe(true)
    }
  })
})

describe('saw inspect and apply', () => {
  let gen2: {saws: Array<{device: string; file: string}>; cred: string}
  beforeAll(async () => {
    const dir = l.path('gen2')
    const cred = l.path('gen2.cred')
    const r = await l.json(['container', 'reset-credentials', serial, '--saw-dir', dir, '--yes', '--out', cred])
    expect(r.generation).toBe(2)
    gen2 = {saws: r.saws, cred}
  })
  const sawFor = (d: Device) => gen2.saws.find((s) => s.device === d.fingerprint)!.file

  it('inspect shows container, generation, device and expiry, never the secret, and says it is valid', async () => {
    const text = await l.admin(['saw', 'inspect', sawFor(a)])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(new RegExp(`Container\\s+${serial} \\(personal\\)`))
    expect(text.stdout).toMatch(/Generation\s+2/)
    expect(text.stdout).toMatch(new RegExp(`Device\\s+${a.fingerprint}`))
    expect(text.stdout).toMatch(/Expires\s+\d{4}-\d\d-\d\dT/)
    expect(text.stdout).toMatch(/Status\s+valid/)
    const json = await l.json(['saw', 'inspect', sawFor(a)])
    expect(json).toMatchObject({status: 'valid', claims: {container: serial, gen: 2, sub: a.fingerprint, containerKind: 'personal', iss: '1001'}})
    expect(json.claims.exp - json.claims.iat).toBe(7 * 86_400)
    expect(json.claims.cred).toBeUndefined()
    for (const out of [text.stdout + text.stderr, JSON.stringify(json)]) {
      expect(out).not.toContain(secretOf(gen2.cred))
      expect(out).not.toContain(secretOf(creds))
    }
  })

  it("before applying, the old credential is refused (7)", async () => {
    const e = await a.run(['device', 'access', '--container', serial])
    refused(e, 7)
    expect(e.stderr).toMatch(/not the current one \(generation 2\)/)
  })

  it("another device's SAW is refused (18), and nothing is stored", async () => {
    const text = await a.run(['saw', 'apply', sawFor(b)])
    refused(text, 18)
    expect(text.stderr).toContain(`is for device ${b.fingerprint}, not for this device (${a.fingerprint})`)
    const j = refused(await a.run(['saw', 'apply', sawFor(b), '--json']), 18)
    expect(j.details.reason).toBe('wrong-target')
    expect(a.state().credentials[serial].generation).toBe(1)
  })

  it('a tampered SAW is refused (5 or 10)', async () => {
    const file = readFileSync(sawFor(a), 'utf8')
    const {jws} = dearmorText(file)
    const [h, p, s] = jws.split('.')
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString())
    const changed = l.path('tampered.saw')
    writeFileSync(changed, armorText(`${h}.${Buffer.from(JSON.stringify({...claims, exp: claims.exp + 86_400 * 365})).toString('base64url')}.${s}`, 'SAW'))
    const r = refused(await a.run(['saw', 'apply', changed, '--json']), 5)
    expect(r.details.reason).toBe('signature-invalid')
    // One character of the signature changed (in the middle, where every bit is significant).
    const flipped = l.path('flipped.saw')
    const mid = s.length >> 1
    writeFileSync(flipped, armorText(`${h}.${p}.${s.slice(0, mid)}${s[mid] === 'A' ? 'B' : 'A'}${s.slice(mid + 1)}`, 'SAW'))
    expect(refused(await a.run(['saw', 'apply', flipped, '--json']), 5).details.reason).toBe('signature-invalid')
    const truncated = l.path('truncated.saw')
    writeFileSync(truncated, file.split('\n').slice(0, 3).join('\n'))
    expect((await a.run(['saw', 'apply', truncated])).code).toBe(10)
    expect((await l.json(['saw', 'inspect', changed])).status).toBe('refused')
    expect(a.state().credentials[serial].generation).toBe(1)
  })

  it('expired (6): applied after its --expires, with LICADM_NOW', async () => {
    const short = l.path('short.saw')
    await l.json(['saw', 'create', '--container', serial, '--device', a.fingerprint, '--credentials', gen2.cred, '--expires', '1h', '--out', short])
    const later = new Date(Date.now() + 2 * 3600_000).toISOString()
    const e = await a.run(['saw', 'apply', short], {LICADM_NOW: later})
    refused(e, 6)
    expect(e.stderr).toMatch(/expired/)
    expect((await l.json(['saw', 'inspect', short], {LICADM_NOW: later})).status).toBe('refused')
    expect(a.state().credentials[serial].generation).toBe(1)
  })

  it('applies: the credential is stored, the link restored, device access works; the same file again is refused as used (16); inspect says used', async () => {
    const r = await a.run(['saw', 'apply', sawFor(a)])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/applied: credential of generation 2/)
    expect(r.stdout).toContain(`Link to ${serial} restored`)
    expect(a.state().credentials[serial]).toMatchObject({generation: 2, secret: secretOf(gen2.cred)})
    const access = await a.run(['device', 'access', '--container', serial, '--json'])
    expect(access.json.result).toMatchObject({serial, generation: 2, restored: false})
    const again = await a.run(['saw', 'apply', sawFor(a)])
    refused(again, 16)
    expect(again.stderr).toMatch(/applied on this device already/)
    const inspected = await l.json(['saw', 'inspect', sawFor(a)])
    expect(inspected.status).toBe('used')
    expect((await l.admin(['saw', 'inspect', sawFor(a)])).stdout).toMatch(/Status\s+used: already used at/)
  })

  it('a SAW applied at activation is reported used by saw inspect once the device applied it', async () => {
    await l.json(['user', 'create', '--email', 'act@example.com'])
    const c = l.path('act.cred')
    const p = (await l.json(['container', 'create', '--kind', 'personal', '--user', 'act@example.com', '--out', c])).container.serial
    const d = await l.device('act-dev')
    const sawFile = l.path('act.saw')
    await l.json(['device', 'activate', '--container', p, '--identity', d.identity, '--saw', sawFile, '--credentials', c])
    expect((await l.json(['saw', 'inspect', sawFile])).status).toBe('valid')
    const applied = await d.run(['saw', 'apply', sawFile, '--json'])
    expect(applied.json?.result?.restored, applied.stdout + applied.stderr).toBe(false)
    expect((await l.json(['saw', 'inspect', sawFile])).status).toBe('used')
    expect((await l.json(['audit', 'list', '--action', 'saw.use'])).events.map((e: {subject: string}) => e.subject)).toContain(`container:${p}`)
  })

  it('an older generation after a second reset (19): whether or not the device applied the newer one', async () => {
    // b never applied its generation-2 SAW; a third generation comes.
    const dir = l.path('gen3')
    const cred3 = l.path('gen3.cred')
    const r3 = await l.json(['container', 'reset-credentials', serial, '--saw-dir', dir, '--yes', '--out', cred3])
    expect(r3.generation).toBe(3)
    const inspected = await l.json(['saw', 'inspect', sawFor(b)])
    expect(inspected.status).toBe('superseded')
    expect(inspected.reason).toMatch(/generation 3/)
    // Online, b's generation-2 file is refused although b holds only generation 1.
    const old = await b.run(['saw', 'apply', sawFor(b)])
    refused(old, 19)
    expect(old.stderr).toMatch(/reset after it was made/)
    expect(b.state().credentials[serial].generation).toBe(1)
    // a applies its generation-3 file, then an older generation-2 one made for it: refused (19).
    const a3 = r3.saws.find((s: {device: string}) => s.device === a.fingerprint).file
    expect((await a.run(['saw', 'apply', a3])).code).toBe(0)
    // A generation-2 SAW cannot be made any more: the old secret is refused (7).
    refused(await l.admin(['saw', 'create', '--container', serial, '--device', a.fingerprint, '--credentials', gen2.cred, '--out', l.path('older-a.saw'), '--json']), 7)
    // Offline, the device itself refuses a file older than the credential it holds.
    const b3 = r3.saws.find((s: {device: string}) => s.device === b.fingerprint).file
    expect((await b.run(['saw', 'apply', b3, '--offline'])).code).toBe(0)
    const off = refused(await b.run(['saw', 'apply', sawFor(b), '--offline', '--json']), 19)
    expect(off.details).toMatchObject({reason: 'out-of-order', generation: 2, held: 3})
    expect((await b.run(['device', 'access', '--container', serial, '--json'])).json.result).toMatchObject({generation: 3, restored: true})
  })

  it('on a device with no admin profile, --offline stores the credential; the refusals still apply', async () => {
    await l.json(['user', 'create', '--email', 'solo@example.com'])
    const c = l.path('solo.cred')
    const p = (await l.json(['container', 'create', '--kind', 'personal', '--user', 'solo@example.com', '--out', c])).container.serial
    const d = await l.device('solo')
    const saw = l.path('solo.saw')
    await l.json(['device', 'activate', '--container', p, '--identity', d.identity, '--saw', saw, '--credentials', c])
    const deviceOnly = {LICADM_CONFIG_DIR: l.path('solo-config'), LICADM_DATA_DIR: l.path('solo-data')}
    refused(await d.run(['saw', 'apply', sawFor(a), '--offline', '--json'], deviceOnly), 18)
    const r = await d.run(['saw', 'apply', saw, '--offline', '--json'], deviceOnly)
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.json.result).toMatchObject({container: p, generation: 1, restored: null})
    expect(d.state().credentials[p].secret).toBe(secretOf(c))
  })

  it('a foreign vendor key (11): a SAW from a second vendor profile; a device that trusts no key', async () => {
    await l.json(['init', '--vendor-code', '2002', '--name', 'Other Vendor', '--profile', 'other'])
    await l.json(['user', 'create', '--email', 'eve@example.com', '--profile', 'other'])
    const oc = l.path('other.cred')
    const os = (await l.json(['container', 'create', '--kind', 'personal', '--user', 'eve@example.com', '--out', oc, '--profile', 'other'])).container.serial
    const foreign = l.path('foreign.saw')
    await l.json(['device', 'activate', '--container', os, '--identity', a.identity, '--saw', foreign, '--credentials', oc, '--profile', 'other'])
    const e = await a.run(['saw', 'apply', foreign, '--profile', 'other'])
    refused(e, 11)
    const j = refused(await a.run(['saw', 'apply', foreign, '--profile', 'other', '--json']), 11)
    expect(j.details.reason).toBe('unknown-key')
    expect(a.state().credentials[os]).toBeUndefined()
    // The same SAW checked with the other vendor's key is fine: the refusal was the key.
    const otherKey = l.path('other.pem')
    await l.json(['key', 'export', '--out', otherKey, '--profile', 'other'])
    expect((await a.run(['saw', 'apply', foreign, '--profile', 'other', '--public-key', otherKey, '--json'])).code).toBe(0)
    // A device that trusts no vendor key at all.
    const untrusting = await l.device('untrusting', undefined, {trust: false})
    const none = refused(await untrusting.run(['saw', 'apply', sawFor(a), '--json']), 11)
    expect(none.hint).toMatch(/device trust/)
    // --profile was per command: the default profile is still the current one.
    expect((await l.json(['container', 'show', serial])).container.serial).toBe(serial)
  })
})
