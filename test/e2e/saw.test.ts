/**
 * SAW files end to end: the device-side commands and the reset are spawned `node bin/run.js`
 * processes (the setup runs in-process, for speed). The files are read by a stock JOSE library
 * (jose) with nothing but the vendor's exported public key and the device's own key file, and a round
 * trip between two simulated devices of one personal container.
 */
import {createPrivateKey} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {compactDecrypt, compactVerify, decodeProtectedHeader, importSPKI, jwtVerify} from 'jose'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {describeRun} from '../helpers/cli.js'
import {dearmorText} from '../helpers/files.js'
import {lab, refused, secretOf, type Device, type Lab} from '../helpers/lab.js'

let l: Lab
let serial: string
let a: Device
let b: Device
const cred1 = () => l.path('p.cred')

beforeAll(async () => {
  l = await lab({prefix: 'licadm-e2e-saw-'})
  await l.json(['user', 'create', '--email', 'ada@example.com'])
  serial = (await l.json(['container', 'create', '--kind', 'personal', '--user', 'ada@example.com', '--out', cred1()])).container.serial
  a = await l.device('laptop')
  b = await l.device('desktop')
})
afterAll(() => l?.cleanup())

describe('a SAW file read with jose', () => {
  it('the JWS verifies with the exported vendor key (EdDSA, typ licadm-saw+jwt), and the cred claim decrypts with the device enc.pem', async () => {
    const sawPath = l.path('a-gen1.saw')
    const act = await l.json(['device', 'activate', '--container', serial, '--identity', a.identity, '--user', 'ada@example.com', '--saw', sawPath, '--credentials', cred1()])
    expect(act.sawFile).toBe(sawPath)
    const {kind, jws} = dearmorText(readFileSync(sawPath, 'utf8'))
    expect(kind).toBe('SAW')
    expect(decodeProtectedHeader(jws)).toMatchObject({alg: 'EdDSA', typ: 'licadm-saw+jwt'})
    const vendorKey = await importSPKI(readFileSync(l.vendorKey, 'utf8'), 'EdDSA')
    const {payload, protectedHeader} = await jwtVerify(jws, vendorKey, {typ: 'licadm-saw+jwt', algorithms: ['EdDSA'], issuer: '1001'})
    expect(protectedHeader.kid).toBeTruthy()
    expect(payload).toMatchObject({sub: a.fingerprint, container: serial, containerKind: 'personal', gen: 1})
    expect(typeof payload.jti).toBe('string')
    expect(payload.exp! - payload.iat!).toBe(7 * 86_400)
    const encPem = readFileSync(join(a.dir, 'enc.pem'), 'utf8')
    const {plaintext, protectedHeader: jweHeader} = await compactDecrypt(payload.cred as string, createPrivateKey(encPem))
    expect(jweHeader).toMatchObject({alg: 'ECDH-ES', enc: 'A256GCM', epk: {kty: 'OKP', crv: 'X25519'}})
    const secret = JSON.parse(new TextDecoder().decode(plaintext))
    expect(secret).toEqual({credential: secretOf(cred1()), container: serial, gen: 1, device: a.fingerprint})
    // The other device's key cannot read it.
    await expect(compactDecrypt(payload.cred as string, createPrivateKey(readFileSync(join(b.dir, 'enc.pem'), 'utf8')))).rejects.toThrow()
    // A byte changed in the payload: jose refuses the signature too.
    const [h, , s] = jws.split('.')
    const changed = `${h}.${Buffer.from(JSON.stringify({...payload, gen: 2})).toString('base64url')}.${s}`
    await expect(compactVerify(changed, vendorKey)).rejects.toThrow()
    const applied = await a.spawn(['saw', 'apply', sawPath, '--json'])
    expect(applied.code, describeRun(applied)).toBe(0)
    expect(a.state().credentials[serial]).toMatchObject({secret: secretOf(cred1()), generation: 1})
  })
})

describe('round trip between two simulated devices', () => {
  it("b is activated with its own SAW; a reset hands each its own file; each applies only its own; both work again", async () => {
    const bSaw = l.path('b-gen1.saw')
    await l.json(['device', 'activate', '--container', serial, '--identity', b.identity, '--user', 'ada@example.com', '--saw', bSaw, '--credentials', cred1()])
    // a cannot use b's file (18); b can.
    refused(await a.spawn(['saw', 'apply', bSaw, '--json']), 18)
    expect((await b.run(['saw', 'apply', bSaw, '--json'])).code).toBe(0)
    for (const d of [a, b]) expect((await d.run(['device', 'access', '--container', serial, '--json'])).json.result).toMatchObject({generation: 1, restored: false})

    const dir = l.path('reset-saws')
    const cred2 = l.path('p2.cred')
    const reset = await l.spawn(['container', 'reset-credentials', serial, '--saw-dir', dir, '--yes', '--out', cred2])
    expect(reset.code, describeRun(reset)).toBe(0)
    expect(reset.stdout).toContain(`Credentials of ${serial} reset: generation 2; 2 device link(s) now stale`)
    expect(reset.stdout + reset.stderr).not.toContain(secretOf(cred2))
    const files = [...reset.stdout.matchAll(/SAW for (\S+) \((\S+)\): (\S+)/g)].map((m) => ({name: m[1], fingerprint: m[2], path: m[3]}))
    expect(files.map((f) => f.fingerprint).sort()).toEqual([a.fingerprint, b.fingerprint].sort())
    const fileOf = (d: Device) => files.find((f) => f.fingerprint === d.fingerprint)!.path

    // Both are locked out until they apply (7).
    for (const d of [a, b]) refused(await d.spawn(['device', 'access', '--container', serial, '--json']), 7)
    // Each other's file: 18, and nothing stored.
    refused(await a.spawn(['saw', 'apply', fileOf(b), '--json']), 18)
    refused(await b.run(['saw', 'apply', fileOf(a), '--json']), 18)
    expect(a.state().credentials[serial].generation).toBe(1)
    for (const d of [a, b]) {
      const r = await d.spawn(['saw', 'apply', fileOf(d), '--json'])
      expect(r.code, describeRun(r)).toBe(0)
      expect(r.json.result).toMatchObject({container: serial, generation: 2, restored: true})
      expect(d.state().credentials[serial]).toMatchObject({generation: 2, secret: secretOf(cred2)})
      const access = await d.spawn(['device', 'access', '--container', serial])
      expect(access.code).toBe(0)
      expect(access.stdout).toContain(`ACCESS GRANTED to ${serial} (generation 2)`)
    }
    const shown = (await l.json(['container', 'show', serial])).container
    expect(shown.generation).toBe(2)
    expect(shown.devices.map((d: {state: string}) => d.state)).toEqual(['active', 'active'])
    for (const d of [a, b]) expect((await l.json(['saw', 'inspect', fileOf(d)])).status).toBe('used')
    const audit = (await l.json(['audit', 'list', '--subject', serial])).events.map((e: {action: string}) => e.action)
    expect(audit.filter((x: string) => x === 'saw.restore')).toHaveLength(2)
    expect(audit.filter((x: string) => x === 'saw.issue')).toHaveLength(4)
  })
})
