import {readFileSync, writeFileSync} from 'node:fs'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {describeRun, initVendor, ok, sandbox, type RunResult} from '../helpers/cli.js'
import {algNone, hs256WithPublicKey, parts, privateKeyPem, signWith, withPayload} from '../helpers/files.js'

/**
 * `license verify` as a customer's pipeline runs it: a real process, its exit status per reason, in
 * text and in --json.
 */
const sb = sandbox('licadm-e2e-verify-')
const empty = sandbox('licadm-e2e-verify-empty-')
afterAll(() => {
  sb.cleanup()
  empty.cleanup()
})

let kid: string
let valid: {id: string; file: string; path: string; createdAt: string}
const file = (name: string, text: string) => {
  const path = sb.path(name)
  writeFileSync(path, text)
  return path
}
const iso = (ms: number) => new Date(ms).toISOString()

async function issue(...args: string[]): Promise<{id: string; file: string; createdAt: string; expiresAt: string | null}> {
  const l = ok(await sb.run(['license', 'create', '--product', '7', ...args, '--json'])).licenses[0]
  const exported = await sb.run(['license', 'export', l.id])
  expect(exported.code, describeRun(exported)).toBe(0)
  return {id: l.id, file: exported.stdout, createdAt: l.createdAt, expiresAt: l.expiresAt}
}

/**
 * A refusal: exit status and reason in --json; with `text`, also the same exit status in text mode.
 * (The whole matrix in both modes runs in-process in test/commands/verify.test.ts; spawning is slow.)
 */
async function refused(
  args: string[],
  exit: number,
  reason: string,
  options: {env?: Record<string, string>; text?: boolean} = {},
): Promise<{text?: RunResult; error: any}> {
  const [json, text] = await Promise.all([
    sb.run([...args, '--json'], {env: options.env}),
    options.text ? sb.run(args, {env: options.env}) : undefined,
  ])
  expect(json.code, describeRun(json)).toBe(exit)
  expect(json.json).toMatchObject({ok: false, error: {exitCode: exit, details: {reason}}})
  expect(json.stderr).toBe('')
  if (text) {
    expect(text.code, describeRun(text)).toBe(exit)
    expect(text.stdout).toBe('')
    expect(text.stderr).toMatch(/^Error: /)
  }
  return {text, error: json.json.error}
}

beforeAll(async () => {
  kid = (await initVendor(sb, {products: [7]})).kid
  const l = await issue('--customer', 'Globex', '--expires', '365d', '--quantity', '3')
  valid = {...l, path: file('valid.lic', l.file)}
  file('vendor.pem', (await sb.run(['key', 'export'])).stdout)
})

describe('license verify: a valid file', () => {
  it('exit 0 with the verdict and the license, in text', async () => {
    const r = await sb.run(['license', 'verify', valid.path])
    expect(r.code, describeRun(r)).toBe(0)
    expect(r.stdout).toContain(`VALID license ${valid.id} (signed by ${kid}, active key)`)
    expect(r.stdout).toMatch(/vendor\s+1001 \(Acme Software\)/)
    expect(r.stdout).toMatch(/kind\s+single, quantity 3/)
    expect(r.stdout).toMatch(/customer\s+Globex/)
  })

  it('exit 0 with the verdict in --json', async () => {
    const verdict = ok(await sb.run(['license', 'verify', valid.path, '--json']))
    expect(verdict).toMatchObject({valid: true, kid, keyStatus: 'active', license: {iss: '1001', sub: valid.id, product: 7, quantity: 3, customer: 'Globex'}})
  })

  it('reads the file from standard input with -', async () => {
    const r = await sb.run(['license', 'verify', '-', '--json'], {input: valid.file})
    expect(ok(r).license.sub).toBe(valid.id)
  })

  it('--public-key with the exported PEM or JWKS needs no profile (empty config dir)', async () => {
    const pem = sb.path('vendor.pem')
    const jwks = file('vendor.jwks', (await sb.run(['key', 'export', '--format', 'jwks'])).stdout)
    const r = await empty.run(['license', 'verify', valid.path, '--public-key', pem])
    expect(r.code, describeRun(r)).toBe(0)
    expect(r.stdout).toContain(`VALID license ${valid.id}`)
    const verdict = ok(await empty.run(['license', 'verify', valid.path, '--public-key', jwks, '--json']))
    expect(verdict).toMatchObject({valid: true, kid, keyStatus: 'given'})
    // Without a key and without a profile there is nothing to verify with: the hint says to give the key.
    const none = await empty.run(['license', 'verify', valid.path, '--json'])
    expect(none.code).toBe(3)
    expect(none.json.error).toMatchObject({code: 'PROFILE_NOT_FOUND', hint: expect.stringMatching(/^To check a license file without a profile, give the vendor's public key: --public-key vendor\.pem\./)})
  })

  it('a missing file is not found (exit 3)', async () => {
    const r = await sb.run(['license', 'verify', sb.path('nope.lic'), '--json'])
    expect(r.code).toBe(3)
  })
})

describe('license verify: refusals, each with its own exit status', () => {
  it('a changed payload with the original signature: exit 5', async () => {
    const forged = file('forged.lic', withPayload(valid.file, (p) => ({...p, quantity: 100})))
    const {text, error} = await refused(['license', 'verify', forged], 5, 'signature-invalid', {text: true})
    expect(text!.stderr).toContain('signature does not verify')
    expect(error.code).toBe('SIGNATURE_INVALID')
    // What the refused file claims is shown, for support.
    expect(error.details.claims).toMatchObject({sub: valid.id, quantity: 100})
  })

  it('a file from another profile (foreign key): exit 11', async () => {
    await initVendor(sb, {profile: 'other', vendorCode: 2002, name: 'Other Vendor', products: [7]})
    const l = ok(await sb.run(['license', 'create', '--product', '7', '--profile', 'other', '--json'])).licenses[0]
    const foreign = file('foreign.lic', (await sb.run(['license', 'export', l.id, '--profile', 'other'])).stdout)
    const {error} = await refused(['license', 'verify', foreign], 11, 'unknown-key', {text: true})
    expect(error.code).toBe('UNKNOWN_KEY')
    // And with the other vendor's public key, our own file is foreign.
    const otherPem = file('other.pem', (await sb.run(['key', 'export', '--profile', 'other'])).stdout)
    const r = await empty.run(['license', 'verify', valid.path, '--public-key', otherPem, '--json'])
    expect(r.code, describeRun(r)).toBe(11)
  })

  it('expired: exit 6 (LICADM_NOW two days later, or --at)', async () => {
    const l = await issue('--expires', '1d')
    const path = file('short.lic', l.file)
    const later = iso(Date.parse(l.createdAt) + 2 * 86_400_000)
    const {text} = await refused(['license', 'verify', path], 6, 'expired', {env: {LICADM_NOW: later}, text: true})
    expect(text!.stderr).toContain('expired')
    // The same offline, with the public key only, and with --at.
    const r = await empty.run(['license', 'verify', path, '--public-key', sb.path('vendor.pem'), '--at', later, '--json'])
    expect(r.code, describeRun(r)).toBe(6)
  })

  it('not yet valid: exit 14', async () => {
    const l = await issue('--not-before', '2035-01-01', '--expires', '2036-01-01')
    const path = file('future.lic', l.file)
    await refused(['license', 'verify', path], 14, 'not-yet-valid')
    ok(await sb.run(['license', 'verify', path, '--at', '2035-06-01', '--json']))
  })

  it('issued in the future (verifier clock an hour behind): exit 15', async () => {
    const earlier = iso(Date.parse(valid.createdAt) - 3_600_000)
    const {error} = await refused(['license', 'verify', valid.path], 15, 'issued-in-future', {env: {LICADM_NOW: earlier}})
    expect(error.message.toLowerCase()).toContain('future')
  })

  it('truncated, non-armored or empty files: exit 10', async () => {
    await refused(['license', 'verify', file('cut.lic', valid.file.slice(0, Math.floor(valid.file.length / 2)))], 10, 'truncated')
    await refused(['license', 'verify', file('plain.lic', 'hello, this is not a license\n')], 10, 'malformed', {text: true})
  })

  it('"alg": "none" and HS256 keyed with the public key: exit 13', async () => {
    await refused(['license', 'verify', file('none.lic', algNone(valid.file))], 13, 'algorithm-not-allowed')
    const pem = readFileSync(sb.path('vendor.pem'), 'utf8')
    await refused(['license', 'verify', file('hs256.lic', hs256WithPublicKey(valid.file, pem))], 13, 'algorithm-not-allowed')
  })

  it('a genuine signature on another artifact type: exit 12', async () => {
    const key = privateKeyPem(sb.keyDir(), kid)
    const {header, payload} = parts(valid.file)
    const saw = file('saw-typ.lic', signWith(key, {...header, typ: 'licadm-saw+jwt'}, payload))
    await refused(['license', 'verify', saw], 12, 'wrong-type')
  })

  it('revoked in this profile: exit 17', async () => {
    const l = await issue('--customer', 'Leaver')
    const path = file('leaver.lic', l.file)
    ok(await sb.run(['license', 'revoke', l.id, '--yes', '--json']))
    const {error} = await refused(['license', 'verify', path], 17, 'revoked')
    expect(error.message).toContain('revoked')
    expect(readFileSync(path, 'utf8')).toBe(l.file)
  })
})
