import {writeFileSync} from 'node:fs'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {describeRun, ok, sandbox} from '../helpers/cli.js'
import {algNone, armorText, changeChar, hs256WithPublicKey, parts, privateKeyPem, signWith, withPayload} from '../helpers/files.js'
import {runIn} from '../helpers/in-process.js'

/** `license verify`, every refusal in text and --json (in-process; test/e2e/verify.test.ts spawns). */
const sb = sandbox('licadm-cmd-verify-')
const run = (args: string[], env?: Record<string, string | undefined>) => runIn(sb, args, env)
afterAll(() => sb.cleanup())

let kid: string
let valid: {id: string; file: string; createdAt: string}
let pem: string
let n = 0
const file = (text: string) => {
  const path = sb.path(`f${n++}.lic`)
  writeFileSync(path, text)
  return path
}

async function issue(...args: string[]) {
  const l = ok(await run(['license', 'create', '--product', '7', ...args, '--json'])).licenses[0]
  return {id: l.id as string, createdAt: l.createdAt as string, file: ok(await run(['license', 'export', l.id, '--json'])).file as string}
}

async function refused(path: string, exit: number, reason: string, options: {env?: Record<string, string>; args?: string[]} = {}) {
  const args = ['license', 'verify', path, ...(options.args ?? [])]
  const text = await run(args, options.env)
  expect(text.code, describeRun(text)).toBe(exit)
  expect(text.stdout).toBe('')
  expect(text.stderr).toMatch(/^Error: \S/)
  const json = await run([...args, '--json'], options.env)
  expect(json.code, describeRun(json)).toBe(exit)
  expect(json.json).toMatchObject({ok: false, error: {exitCode: exit, details: {reason}}})
  // The text message is the --json message.
  expect(text.stderr).toContain(json.json.error.message)
  return json.json.error
}

beforeAll(async () => {
  kid = ok(await run(['init', '--vendor-code', '1001', '--name', 'Acme', '--json'])).kid
  ok(await run(['product', 'create', '--code', '7', '--name', 'CAD', '--json']))
  valid = await issue('--customer', 'Globex', '--expires', '365d')
  pem = ok(await run(['key', 'export', '--json'])).keys[0].pem
})

describe('license verify (in-process matrix)', () => {
  it('valid: exit 0 in both modes', async () => {
    const path = file(valid.file)
    expect((await run(['license', 'verify', path])).code).toBe(0)
    expect(ok(await run(['license', 'verify', path, '--json']))).toMatchObject({valid: true, kid, keyStatus: 'active'})
  })

  it('a changed byte anywhere in the file is refused, never accepted', async () => {
    const codes = new Map<number, number>()
    const step = 7
    for (let at = 0; at < valid.file.length; at += step) {
      const changed = changeChar(valid.file, at)
      if (changed === valid.file) continue
      const r = await run(['license', 'verify', file(changed), '--json'])
      expect([5, 10, 11, 12, 13], `char ${at} changed:\n${describeRun(r)}`).toContain(r.code)
      expect(r.json.error.exitCode).toBe(r.code)
      codes.set(r.code!, (codes.get(r.code!) ?? 0) + 1)
    }
    // A changed armor character changes the JWS text under it, usually into a character that no
    // base64url has (malformed, 10); the rest is refused as a broken signature (5).
    expect([...codes.keys()].sort()).toEqual(expect.arrayContaining([10]))
  })

  it('changed payload, same signature: 5', async () => {
    await refused(file(withPayload(valid.file, (p) => ({...p, features: 0xffffffff}))), 5, 'signature-invalid')
    await refused(file(withPayload(valid.file, (p) => ({...p, exp: p.exp + 86_400 * 3650}))), 5, 'signature-invalid')
  })

  it('changed signature: 5', async () => {
    const {signingInput, signature} = parts(valid.file)
    const sig = Buffer.from(signature, 'base64url')
    sig[63] ^= 0x80
    await refused(file(armorText(`${signingInput}.${sig.toString('base64url')}`)), 5, 'signature-invalid')
    await refused(file(armorText(`${signingInput}.${sig.subarray(0, 32).toString('base64url')}`)), 5, 'signature-invalid')
  })

  it('foreign key: 11 (a key id that is not pinned, or a header without kid)', async () => {
    const {header, payload} = parts(valid.file)
    const {generateKeyPairSync} = await import('node:crypto')
    const stranger = generateKeyPairSync('ed25519').privateKey.export({format: 'pem', type: 'pkcs8'}).toString()
    await refused(file(signWith(stranger, {...header, kid: 'someone-else'}, payload)), 11, 'unknown-key')
    // Claiming the vendor's key id does not help: the signature does not verify with it.
    await refused(file(signWith(stranger, header, payload)), 5, 'signature-invalid')
    const {kid: _kid, ...noKid} = header
    await refused(file(signWith(privateKeyPem(sb.keyDir(), kid), noKid, payload)), 11, 'unknown-key')
  })

  it('wrong typ: 12; alg none and HS256: 13', async () => {
    const {header, payload} = parts(valid.file)
    const key = privateKeyPem(sb.keyDir(), kid)
    // The forging helper is sound: re-signed as it was, the file verifies.
    ok(await run(['license', 'verify', file(signWith(key, header, payload)), '--json']))
    await refused(file(signWith(key, {...header, typ: 'JWT'}, payload)), 12, 'wrong-type')
    const {typ: _typ, ...noTyp} = header
    await refused(file(signWith(key, noTyp, payload)), 12, 'wrong-type')
    await refused(file(valid.file.replaceAll('LICENSE', 'SAW')), 12, 'wrong-type')
    await refused(file(algNone(valid.file)), 13, 'algorithm-not-allowed')
    await refused(file(hs256WithPublicKey(valid.file, pem)), 13, 'algorithm-not-allowed')
    await refused(file(hs256WithPublicKey(valid.file, pem.trim())), 13, 'algorithm-not-allowed')
  })

  it('times: expired 6, not yet valid 14, issued in the future 15', async () => {
    const short = await issue('--expires', '1d')
    const later = new Date(Date.parse(short.createdAt) + 2 * 86_400_000).toISOString()
    await refused(file(short.file), 6, 'expired', {env: {LICADM_NOW: later}})
    await refused(file(short.file), 6, 'expired', {args: ['--at', later]})
    await refused(file(short.file), 6, 'expired', {args: ['--at', '2d']})
    const future = await issue('--not-before', '30d')
    await refused(file(future.file), 14, 'not-yet-valid')
    const earlier = new Date(Date.parse(valid.createdAt) - 3_600_000).toISOString()
    await refused(file(valid.file), 15, 'issued-in-future', {env: {LICADM_NOW: earlier}})
    // Up to 5 minutes of clock skew in iat is tolerated (not-before is strict, so a license valid
    // from its issuance is "not yet valid" on a clock 4 minutes behind; see the report).
    const skew = new Date(Date.parse(valid.createdAt) - 240_000).toISOString()
    const r = await run(['license', 'verify', file(valid.file), '--json'], {LICADM_NOW: skew})
    expect(r.json.error?.details?.reason).not.toBe('issued-in-future')
  })

  it('truncated and malformed files: 10', async () => {
    const lines = valid.file.trim().split('\n')
    await refused(file(valid.file.slice(0, Math.floor(valid.file.length / 2))), 10, 'truncated')
    await refused(file(lines.slice(0, -1).join('\n')), 10, 'truncated')
    // The last line of the body lost: the armor is intact, the signature is short. Refused, though
    // as a broken signature (5) rather than as truncated (see the report).
    const lostLine = await run(['license', 'verify', file(`${[lines[0], ...lines.slice(1, -2), lines.at(-1)].join('\n')}\n`), '--json'])
    expect([5, 10], describeRun(lostLine)).toContain(lostLine.code)
    await refused(file(`${lines[0]}\n${lines.at(-1)}\n`), 10, 'malformed')
    await refused(file('just some text\n'), 10, 'malformed')
    await refused(file(''), 10, 'malformed')
    await refused(file(parts(valid.file).signingInput), 10, 'malformed')
    await refused(file(armorText('not.a.jws!')), 10, 'malformed')
    await refused(file(armorText(parts(valid.file).signingInput)), 10, 'malformed')
  })

  it('a bad --at or --public-key is a usage error (2)', async () => {
    const path = file(valid.file)
    expect((await run(['license', 'verify', path, '--at', 'yesterday', '--json'])).code).toBe(2)
    const notKey = sb.path('not-a-key.pem')
    writeFileSync(notKey, 'hello')
    const r = await run(['license', 'verify', path, '--public-key', notKey, '--json'])
    expect(r.code, describeRun(r)).toBe(2)
    expect(r.json.error.message).toContain(notKey)
    expect((await run(['license', 'verify', path, '--public-key', sb.path('missing.pem'), '--json'])).code).toBe(3)
  })
})
