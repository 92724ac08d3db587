import {existsSync, readFileSync, writeFileSync} from 'node:fs'

import {compactVerify, createLocalJWKSet, importJWK, importSPKI} from 'jose'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {describeRun, ok, sandbox} from '../helpers/cli.js'
import {runIn} from '../helpers/in-process.js'

const sb = sandbox('licadm-cmd-keys-')
const run = (args: string[], env?: Record<string, string | undefined>) => runIn(sb, args, env)

let firstKid: string
let secondKid: string
let oldLicense: {id: string; file: string}

beforeAll(async () => {
  firstKid = ok(await run(['init', '--vendor-code', '1001', '--name', 'Acme', '--json'])).kid
  ok(await run(['product', 'create', '--code', '7', '--name', 'CAD', '--json']))
})
afterAll(() => sb.cleanup())

/** The JWS inside an armored license file (base64 lines between the BEGIN and END lines). */
function decodeArmor(file: string): string {
  const body = file
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('-----'))
    .join('')
  return Buffer.from(body, 'base64').toString('utf8')
}

describe('key export', () => {
  it('exports the active public key as PEM (default), never the private key', async () => {
    const text = await run(['key', 'export'])
    expect(text.code, describeRun(text)).toBe(0)
    expect(text.stdout).toMatch(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/)
    expect(text.stdout).not.toContain('PRIVATE')
    const json = ok(await run(['key', 'export', '--json']))
    expect(json.keys).toEqual([{kid: firstKid, status: 'active', pem: expect.stringContaining('BEGIN PUBLIC KEY'), jwk: expect.any(Object)}])
    expect(JSON.stringify(json)).not.toContain('PRIVATE')
    expect(JSON.stringify(json.keys[0].jwk)).not.toMatch(/"d"/)
  })

  it('exports a JWK and a JWKS with the RFC 7638 thumbprint as kid', async () => {
    const jwk = JSON.parse((await run(['key', 'export', '--format', 'jwk'])).stdout)
    expect(jwk).toEqual({kty: 'OKP', crv: 'Ed25519', x: expect.any(String), kid: firstKid, alg: 'EdDSA', use: 'sig'})
    const jwks = JSON.parse((await run(['key', 'export', '--format', 'jwks'])).stdout)
    expect(jwks).toEqual({keys: [jwk]})
    const {calculateJwkThumbprint} = await import('jose')
    expect(await calculateJwkThumbprint(jwk)).toBe(firstKid)
  })

  it('--out writes the file, refuses to overwrite it without --force (exit 4)', async () => {
    const out = sb.path('vendor.pem')
    const r = await run(['key', 'export', '--out', out])
    expect(r.code, describeRun(r)).toBe(0)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain(`Wrote 1 public key(s) to ${out}`)
    expect(readFileSync(out, 'utf8')).toContain('BEGIN PUBLIC KEY')
    const again = await run(['key', 'export', '--out', out, '--format', 'jwk'])
    expect(again.code).toBe(4)
    expect(again.stderr).toContain('exists already')
    expect(readFileSync(out, 'utf8')).toContain('BEGIN PUBLIC KEY')
    const json = ok(await run(['key', 'export', '--out', out, '--format', 'jwk', '--force', '--json']))
    expect(json.file).toBe(out)
    expect(JSON.parse(readFileSync(out, 'utf8')).kid).toBe(firstKid)
    const missing = await run(['key', 'export', '--out', sb.path('missing', 'k.pem'), '--json'])
    expect(missing.code, describeRun(missing)).toBe(2)
    expect(missing.json.error.message).toContain('--out')
    const dir = await run(['key', 'export', '--out', sb.dir, '--force', '--json'])
    expect(dir.code, describeRun(dir)).toBe(2)
  })

  it('an unknown --kid is not found (exit 3); --kid with --all is a usage error (exit 2)', async () => {
    const unknown = await run(['key', 'export', '--kid', 'nope', '--json'])
    expect(unknown.code).toBe(3)
    expect(unknown.json.error.message).toContain('key nope not found')
    const both = await run(['key', 'export', '--kid', firstKid, '--all'])
    expect(both.code).toBe(2)
    const format = await run(['key', 'export', '--format', 'der'])
    expect(format.code).toBe(2)
    expect(format.stderr).toContain('--format')
  })

  it('jose verifies an exported license with the exported JWK and PEM (independent check)', async () => {
    const l = ok(await run(['license', 'create', '--product', '7', '--customer', 'Globex', '--json'])).licenses[0]
    const file = (await run(['license', 'export', l.id])).stdout
    oldLicense = {id: l.id, file}
    const jws = decodeArmor(file)
    const jwk = JSON.parse((await run(['key', 'export', '--format', 'jwk'])).stdout)
    const {payload, protectedHeader} = await compactVerify(jws, await importJWK(jwk, 'EdDSA'))
    expect(protectedHeader).toMatchObject({alg: 'EdDSA', kid: firstKid})
    expect(JSON.parse(new TextDecoder().decode(payload))).toMatchObject({iss: '1001', sub: l.id, customer: 'Globex'})
    const pem = (await run(['key', 'export'])).stdout
    await compactVerify(jws, await importSPKI(pem, 'EdDSA'))
  })
})

describe('key rotate, list and remove', () => {
  it('rotate without a terminal needs --yes (exit 2) and changes nothing', async () => {
    const r = await run(['key', 'rotate'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--yes')
    expect(ok(await run(['key', 'list', '--json'])).keys.map((k: any) => k.kid)).toEqual([firstKid])
  })

  it('rotate starts a new key and retires the old one', async () => {
    const rotated = ok(await run(['key', 'rotate', '--yes', '--json']))
    secondKid = rotated.kid
    expect(rotated).toEqual({kid: expect.any(String), retired: [firstKid], encrypted: false})
    expect(secondKid).not.toBe(firstKid)
    expect(existsSync(`${sb.keyDir()}/${secondKid}.pem`)).toBe(true)
    expect(existsSync(`${sb.keyDir()}/${firstKid}.pem`)).toBe(true)
  })

  it('key list shows the active and the retired key', async () => {
    const keys = ok(await run(['key', 'list', '--json'])).keys
    expect(keys).toEqual([
      expect.objectContaining({kid: secondKid, status: 'active', retiredAt: null, hasPrivateKey: true}),
      expect.objectContaining({kid: firstKid, status: 'retired', retiredAt: expect.any(Number), hasPrivateKey: true}),
    ])
    const text = await run(['key', 'list'])
    expect(text.stdout).toMatch(new RegExp(`${secondKid}\\s+active`))
    expect(text.stdout).toMatch(new RegExp(`${firstKid}\\s+retired`))
  })

  it('new licenses are signed with the new key; the license from before the rotation still verifies', async () => {
    const l = ok(await run(['license', 'create', '--product', '7', '--json'])).licenses[0]
    expect(l.kid).toBe(secondKid)
    writeFileSync(sb.path('old.lic'), oldLicense.file)
    const verdict = ok(await run(['license', 'verify', sb.path('old.lic'), '--json']))
    expect(verdict).toMatchObject({valid: true, kid: firstKid, keyStatus: 'retired'})
    const text = await run(['license', 'verify', sb.path('old.lic')])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain('retired key')
  })

  it('export shows the active key by default, and both with --all', async () => {
    expect(ok(await run(['key', 'export', '--json'])).keys.map((k: any) => k.kid)).toEqual([secondKid])
    // Order-insensitive: keys made in the same second come out in either order (see the report).
    const all = ok(await run(['key', 'export', '--all', '--json'])).keys
    expect(all.map((k: any) => [k.kid, k.status]).sort((a: string[], b: string[]) => a[1].localeCompare(b[1]))).toEqual([
      [secondKid, 'active'],
      [firstKid, 'retired'],
    ])
    const pem = (await run(['key', 'export', '--all'])).stdout
    expect(pem.match(/BEGIN PUBLIC KEY/g)).toHaveLength(2)
    const jwks = JSON.parse((await run(['key', 'export', '--all', '--format', 'jwks'])).stdout)
    expect(jwks.keys.map((k: any) => k.kid).sort()).toEqual([secondKid, firstKid].sort())
    // A stock JOSE key set picks the right key for the old license by its kid.
    await compactVerify(decodeArmor(oldLicense.file), createLocalJWKSet(jwks))
    expect(ok(await run(['key', 'export', '--kid', firstKid, '--json'])).keys.map((k: any) => k.kid)).toEqual([firstKid])
    // The old license verifies with the exported set, with no profile involved.
    writeFileSync(sb.path('all.pem'), pem)
    const empty = sandbox('licadm-cmd-keys-empty-')
    try {
      const verdict = ok(await runIn(empty, ['license', 'verify', sb.path('old.lic'), '--public-key', sb.path('all.pem'), '--json']))
      expect(verdict).toMatchObject({valid: true, kid: firstKid, keyStatus: 'given'})
    } finally {
      empty.cleanup()
    }
  })

  it('remove refuses the active key (exit 4), an unknown key (exit 3), and needs --yes (exit 2)', async () => {
    const active = await run(['key', 'remove', '--yes', '--json', '--', secondKid])
    expect(active.code).toBe(4)
    expect(active.json.error.code).toBe('KEY_ACTIVE')
    const unknown = await run(['key', 'remove', 'nope', '--yes'])
    expect(unknown.code).toBe(3)
    const unconfirmed = await run(['key', 'remove', '--', firstKid])
    expect(unconfirmed.code).toBe(2)
    expect(unconfirmed.stderr).toContain('--yes')
    expect(ok(await run(['key', 'list', '--json'])).keys).toHaveLength(2)
  })

  it('a key id that begins with "-" is taken for a flag unless it follows "--"; the refusal says so', async () => {
    const asFlag = await run(['key', 'remove', '-Xk4nope', '--yes', '--json'])
    expect(asFlag.code, describeRun(asFlag)).toBe(2)
    expect(asFlag.json.error.message).toContain('Nonexistent flag: -Xk4nope')
    expect(asFlag.json.error.hint).toContain('after "--"')
    expect(asFlag.json.error.hint).toContain('-- -Xk4nope')
    const text = await run(['key', 'remove', '-Xk4nope', '--yes'])
    expect(text.stderr).toContain('-- -Xk4nope')
    // After "--" it is the key id: looked up (and not found), not parsed as a flag.
    const asValue = await run(['key', 'remove', '--yes', '--json', '--', '-Xk4nope'])
    expect(asValue.code, describeRun(asValue)).toBe(3)
    expect(asValue.json.error.message).toContain('key -Xk4nope not found')
    // A mistyped flag still points at --help.
    expect((await run(['key', 'remove', '--yess', '--json'])).json.error.hint).toContain('--help')
  })

  it('after removing the retired key, the old license no longer verifies (exit 11)', async () => {
    const removed = ok(await run(['key', 'remove', '--yes', '--json', '--', firstKid]))
    expect(removed).toEqual({removed: firstKid})
    expect(ok(await run(['key', 'list', '--json'])).keys.map((k: any) => k.kid)).toEqual([secondKid])
    const text = await run(['license', 'verify', sb.path('old.lic')])
    expect(text.code, describeRun(text)).toBe(11)
    const json = await run(['license', 'verify', sb.path('old.lic'), '--json'])
    expect(json.code).toBe(11)
    expect(json.json.error).toMatchObject({code: 'UNKNOWN_KEY', exitCode: 11, details: {reason: 'unknown-key'}})
    // Its private key file stays on disk for the vendor's records.
    expect(existsSync(`${sb.keyDir()}/${firstKid}.pem`)).toBe(true)
  })
})
