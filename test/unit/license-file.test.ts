import {createLocalJWKSet, importJWK, jwtVerify} from 'jose'
import {describe, expect, it} from 'vitest'

import {ExitCode, VerificationError} from '../../src/domain/errors.js'
import {armor, dearmor} from '../../src/crypto/armor.js'
import {decodeCompact, signCompact, verifyCompact} from '../../src/crypto/jws.js'
import {publicJwk, publicKeyPem} from '../../src/crypto/keys.js'
import {checkTimes} from '../../src/formats/claims.js'
import {armorLicense, LICENSE_TYP, licenseClaims, peekLicense, signLicense, verifyLicenseFile} from '../../src/formats/license.js'
import {claims, expectReason, hs256Jws, NOW, rawJws, rawPublicKey, testKey, verificationError} from './helpers.js'

const vendor = testKey()
const licenseFile = (c = claims(), key = vendor) => armorLicense(signLicense(c, key.signer))
const verify = (text: string, at = NOW) => verifyLicenseFile(text, vendor.keys, at)
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

describe('JWS and armor', () => {
  it('signs and verifies a round trip, with EdDSA, typ and kid in the header', () => {
    const jws = signCompact('licadm-test+jwt', {hello: 'world', n: 1}, vendor.signer)
    const decoded = verifyCompact(jws, {typ: 'licadm-test+jwt', keys: vendor.keys, label: 'test file'})
    expect(decoded.header).toEqual({alg: 'EdDSA', typ: 'licadm-test+jwt', kid: vendor.kid})
    expect(decoded.payload).toEqual({hello: 'world', n: 1})
    expect(jws.split('.')).toHaveLength(3)
    expect(jws).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/)
  })

  it('armors in 64-character lines between BEGIN and END, and reads it back through mail quoting and CRLF', () => {
    const jws = signCompact('x', {data: 'y'.repeat(300)}, vendor.signer)
    const text = armor('LICENSE', jws)
    const lines = text.trimEnd().split('\n')
    expect(lines[0]).toBe('-----BEGIN LICADM LICENSE-----')
    expect(lines.at(-1)).toBe('-----END LICADM LICENSE-----')
    expect(lines.slice(1, -2).every((l) => l.length === 64)).toBe(true)
    expect(lines.at(-2)!.length).toBeLessThanOrEqual(64)
    expect(dearmor(text, 'LICENSE')).toEqual({kind: 'LICENSE', jws})
    const mailed = `Hi,\r\nhere is your license:\r\n\r\n${text.split('\n').map((l) => `> ${l}`).join('\r\n')}\r\nRegards`
    expect(dearmor(mailed, 'LICENSE').jws).toBe(jws)
  })

  it('the license claims carry iss, sub, jti, iat, nbf, exp and the entitlement', () => {
    const c = licenseClaims(
      {id: 'lic_1', productCode: 9, kind: 'concurrent', quantity: 3, features: 6, units: null, notBefore: NOW, expiresAt: null, customer: null, metadata: {}, createdAt: NOW - 5},
      {code: 77, name: 'V'},
    )
    expect(c).toEqual({iss: '77', sub: 'lic_1', jti: 'lic_1', iat: NOW - 5, nbf: NOW, vendor: 'V', product: 9, kind: 'concurrent', quantity: 3, features: 6})
    const full = licenseClaims(
      {id: 'lic_2', productCode: 9, kind: 'single', quantity: 1, features: 0, units: 10, notBefore: NOW, expiresAt: NOW + 10, customer: 'C', metadata: {a: 'b'}, createdAt: NOW},
      {code: 77, name: 'V'},
    )
    expect(full).toMatchObject({exp: NOW + 10, units: 10, customer: 'C', meta: {a: 'b'}})
  })
})

describe('license files verified by jose, independently of licadm', () => {
  it('verifies with a JWKS (createLocalJWKSet) and with importJWK, EdDSA and the license typ', async () => {
    const file = licenseFile()
    const {jws} = dearmor(file, 'LICENSE')
    const jwks = createLocalJWKSet({keys: [publicJwk(vendor.publicKey)]})
    const opts = {algorithms: ['EdDSA'], typ: LICENSE_TYP, currentDate: new Date(NOW * 1000), issuer: '1234'}
    const viaSet = await jwtVerify(jws, jwks, opts)
    expect(viaSet.payload).toEqual(claims())
    expect(viaSet.protectedHeader).toEqual({alg: 'EdDSA', typ: LICENSE_TYP, kid: vendor.kid})
    const key = await importJWK(publicJwk(vendor.publicKey), 'EdDSA')
    expect((await jwtVerify(jws, key, opts)).payload.sub).toBe('lic_test')
  })

  it('jose refuses the same files licadm refuses: foreign key, wrong typ, expired', async () => {
    const jwks = createLocalJWKSet({keys: [publicJwk(vendor.publicKey)]})
    const opts = {algorithms: ['EdDSA'], typ: LICENSE_TYP, currentDate: new Date(NOW * 1000)}
    const foreign = dearmor(licenseFile(claims(), testKey()), 'LICENSE').jws
    await expect(jwtVerify(foreign, jwks, opts)).rejects.toThrow()
    const saw = signCompact('licadm-saw+jwt', claims(), vendor.signer)
    await expect(jwtVerify(saw, jwks, opts)).rejects.toThrow(/typ/)
    const expired = dearmor(licenseFile(claims({exp: NOW})), 'LICENSE').jws
    await expect(jwtVerify(expired, jwks, opts)).rejects.toThrow(/exp/)
  })
})

describe('verifyLicenseFile', () => {
  it('accepts a genuine file and returns its header and claims', () => {
    const {header, claims: c} = verify(licenseFile())
    expect(header.kid).toBe(vendor.kid)
    expect(c).toEqual(claims())
    expect(peekLicense(licenseFile()).claims).toEqual(claims())
  })

  it('refuses a changed character anywhere in the armored base64 body (every position, every bit)', () => {
    const file = licenseFile()
    const lines = file.split('\n')
    const accepted: string[] = []
    const reasons = new Map<string, number>()
    let tried = 0
    for (let li = 1; li < lines.length - 2; li++) {
      const line = lines[li]
      for (let pos = 0; pos < line.length; pos++) {
        if (line[pos] === '=') continue
        // Every single-bit change of the character's 6 bits, and six multi-bit ones.
        const i = B64.indexOf(line[pos])
        for (const c of [1, 2, 4, 8, 16, 32, 3, 12, 48, 63, 21, 42].map((x) => B64[i ^ x])) {
          const changed = [...lines]
          changed[li] = line.slice(0, pos) + c + line.slice(pos + 1)
          tried++
          try {
            verify(changed.join('\n'))
            accepted.push(`line ${li} pos ${pos} -> ${c}`)
          } catch (error) {
            if (!(error instanceof VerificationError)) throw error
            reasons.set(error.reason, (reasons.get(error.reason) ?? 0) + 1)
          }
        }
      }
    }
    expect(accepted).toEqual([])
    expect(tried).toBeGreaterThan(500 * 12)
    // Changes in the signature show as signature-invalid, most others as malformed; nothing passes.
    expect(reasons.get('signature-invalid')).toBeGreaterThan(0)
    expect(reasons.get('malformed')).toBeGreaterThan(0)
  })

  it('refuses a changed character anywhere in the JWS itself (re-armored correctly)', () => {
    const jws = dearmor(licenseFile(), 'LICENSE').jws
    const accepted: string[] = []
    for (let pos = 0; pos < jws.length; pos++) {
      if (jws[pos] === '.') continue
      // Three substitutes per position: the neighbour in the low bit, one in the high bit, and one between.
      const i = B64URL.indexOf(jws[pos])
      for (const c of [B64URL[i ^ 1], B64URL[i ^ 32], B64URL[(i + 17) % 64], '.']) {
        const changed = jws.slice(0, pos) + c + jws.slice(pos + 1)
        try {
          verify(armorLicense(changed))
          accepted.push(`${pos} -> ${c}`)
        } catch (error) {
          if (!(error instanceof VerificationError)) throw error
        }
      }
    }
    expect(accepted).toEqual([])
  })

  it('refuses a file signed by another vendor\'s key as unknown-key, and a forged kid as signature-invalid', () => {
    const other = testKey()
    const e = expectReason(() => verify(licenseFile(claims(), other)), 'unknown-key', ExitCode.unknownKey)
    expect(e.message).toContain(other.kid)
    expect(e.details?.kid).toBe(other.kid)
    // Another key claiming the vendor's kid: the pinned key does not verify the signature.
    const forged = rawJws({alg: 'EdDSA', typ: LICENSE_TYP, kid: vendor.kid}, claims(), other.privateKey)
    expectReason(() => verify(armorLicense(forged)), 'signature-invalid', ExitCode.signatureInvalid)
    const noKid = rawJws({alg: 'EdDSA', typ: LICENSE_TYP}, claims(), vendor.privateKey)
    expectReason(() => verify(armorLicense(noKid)), 'unknown-key', ExitCode.unknownKey)
  })

  it('refuses a genuine JWS of another type (a SAW signed by the same key) as wrong-type', () => {
    const saw = signCompact('licadm-saw+jwt', claims(), vendor.signer)
    const e = expectReason(() => verify(armorLicense(saw)), 'wrong-type', ExitCode.wrongType)
    expect(e.message).toContain('licadm-saw+jwt')
    const noTyp = rawJws({alg: 'EdDSA', kid: vendor.kid}, claims(), vendor.privateKey)
    expectReason(() => verify(armorLicense(noTyp)), 'wrong-type', ExitCode.wrongType)
  })

  it('refuses a license given in SAW armor as wrong-type', () => {
    const jws = signLicense(claims(), vendor.signer)
    const e = expectReason(() => verify(armor('SAW', jws)), 'wrong-type', ExitCode.wrongType)
    expect(e.details).toMatchObject({found: 'SAW', expected: 'LICENSE'})
  })

  it('refuses alg none', () => {
    const none = rawJws({alg: 'none', typ: LICENSE_TYP, kid: vendor.kid}, claims())
    expect(none.endsWith('.')).toBe(true)
    const e = expectReason(() => verify(armorLicense(none)), 'algorithm-not-allowed', ExitCode.algorithmNotAllowed)
    expect(e.message).toContain('"none"')
    expectReason(() => verify(armorLicense(rawJws({alg: 'NONE', typ: LICENSE_TYP, kid: vendor.kid}, claims()))), 'algorithm-not-allowed', 13)
  })

  it('refuses HS256 with the vendor public key as the HMAC secret (PEM bytes and raw key bytes)', () => {
    const header = {typ: LICENSE_TYP, kid: vendor.kid}
    for (const secret of [publicKeyPem(vendor.publicKey), Buffer.from(publicKeyPem(vendor.publicKey)), rawPublicKey(vendor.publicKey)]) {
      const forged = hs256Jws(header, claims(), secret)
      const e = expectReason(() => verify(armorLicense(forged)), 'algorithm-not-allowed', ExitCode.algorithmNotAllowed)
      expect(e.message).toContain('HS256')
    }
    for (const alg of ['ES256', 'RS256', 'Ed25519', 'EdDSA ']) {
      const other = rawJws({alg, typ: LICENSE_TYP, kid: vendor.kid}, claims(), vendor.privateKey)
      expectReason(() => verify(armorLicense(other)), 'algorithm-not-allowed', ExitCode.algorithmNotAllowed)
    }
  })

  it('refuses an iat more than 5 minutes in the future, and accepts 4 and 5 minutes', () => {
    const e = expectReason(() => verify(licenseFile(claims({iat: NOW + 301}))), 'issued-in-future', ExitCode.issuedInFuture)
    expect(e.message).toMatch(/more than 5 minutes/)
    expect(verify(licenseFile(claims({iat: NOW + 240}))).claims.iat).toBe(NOW + 240)
    expect(verify(licenseFile(claims({iat: NOW + 300}))).claims.iat).toBe(NOW + 300)
    expectReason(() => verify(licenseFile(claims({iat: NOW + 3600}))), 'issued-in-future', 15)
  })

  it('refuses an expired license from its exp on, and a not-yet-valid one before its nbf', () => {
    const file = licenseFile(claims({exp: NOW + 100}))
    expect(verify(file, NOW + 99).claims.exp).toBe(NOW + 100)
    expectReason(() => verify(file, NOW + 100), 'expired', ExitCode.expired)
    const later = licenseFile(claims({nbf: NOW + 86_400, exp: NOW + 2 * 86_400}))
    expectReason(() => verify(later), 'not-yet-valid', ExitCode.notYetValid)
    expect(verify(later, NOW + 86_400).claims.nbf).toBe(NOW + 86_400)
    // A perpetual license (no exp) never expires.
    const {exp: _exp, ...perpetual} = claims()
    expect(verify(licenseFile(perpetual as ReturnType<typeof claims>), NOW + 50 * 365 * 86_400).claims.exp).toBeUndefined()
  })

  it('refuses missing or invalid time claims as malformed', () => {
    expectReason(() => verify(licenseFile(claims({iat: 'now' as unknown as number}))), 'malformed', ExitCode.malformed)
    expectReason(() => verify(licenseFile(claims({nbf: -1}))), 'malformed', ExitCode.malformed)
    expectReason(() => verify(licenseFile(claims({exp: 1.5}))), 'malformed', ExitCode.malformed)
    expect(() => checkTimes({nbf: NOW}, NOW, 'x')).toThrow(/missing or invalid time claims/)
  })

  it('refuses a signed file whose entitlement is incomplete as malformed', () => {
    const {product: _p, ...noProduct} = claims()
    expectReason(() => verify(licenseFile(noProduct as ReturnType<typeof claims>)), 'malformed', ExitCode.malformed)
    expectReason(() => verify(licenseFile(claims({kind: 'floating' as 'single'}))), 'malformed', ExitCode.malformed)
  })

  it('refuses a file whose END line is cut off as truncated, and a body cut in half as malformed', () => {
    const file = licenseFile()
    const lines = file.trimEnd().split('\n')
    const e = expectReason(() => verify(lines.slice(0, -1).join('\n')), 'truncated', ExitCode.malformed)
    expect(e.message).toMatch(/truncated/)
    expectReason(() => verify(lines.slice(0, 4).join('\n')), 'truncated', ExitCode.malformed)
    const half = Math.floor((lines.length - 2) / 2)
    const cut = [lines[0], ...lines.slice(1, 1 + half), lines.at(-1)!].join('\n')
    expectReason(() => verify(cut), 'malformed', ExitCode.malformed)
    // Cut in the middle of a line too.
    const body = lines.slice(1, -1).join('')
    for (const n of [4, 8, Math.floor(body.length / 2 / 4) * 4, body.length - 4]) {
      const partial = `-----BEGIN LICADM LICENSE-----\n${body.slice(0, n)}\n-----END LICADM LICENSE-----\n`
      const err = verificationError(() => verify(partial))
      expect(['malformed', 'signature-invalid']).toContain(err.reason)
    }
  })

  it('refuses text that is not armored, including a bare JWS', () => {
    const e = expectReason(() => verify('hello, this is not a license'), 'malformed', ExitCode.malformed)
    expect(e.message).toMatch(/not an armored licadm file/)
    expectReason(() => verify(signLicense(claims(), vendor.signer)), 'malformed', ExitCode.malformed)
    expectReason(() => verify(''), 'malformed', ExitCode.malformed)
    expectReason(() => verify('-----BEGIN LICADM LICENSE-----\n\n-----END LICADM LICENSE-----\n'), 'malformed', ExitCode.malformed)
    expectReason(() => verify('-----BEGIN LICADM LICENSE-----\nAAAA\n-----END LICADM SAW-----\n'), 'malformed', ExitCode.malformed)
    expectReason(() => verify('-----BEGIN LICADM LICENSE-----\n!!!!\n-----END LICADM LICENSE-----\n'), 'malformed', ExitCode.malformed)
    // Base64 of something that is not a JWS.
    expectReason(() => verify(armorLicense('not.a.jws!')), 'malformed', ExitCode.malformed)
    expectReason(() => verify(armorLicense('a.b')), 'malformed', ExitCode.malformed)
    expectReason(() => verify(armorLicense(`${Buffer.from('[1]').toString('base64url')}.e30.`)), 'malformed', ExitCode.malformed)
  })

  it('refuses non-canonical base64 (the spare bits of the last character changed)', () => {
    // Find a file whose base64 body ends in padding, so the last character has spare bits.
    let file = ''
    for (let n = 0; ; n++) {
      file = licenseFile(claims({customer: `ACME${'x'.repeat(n)}`}))
      if (/[A-Za-z0-9+/]=+\n-----END/.test(file)) break
    }
    const m = /([A-Za-z0-9+/])(=+)\n-----END/.exec(file)!
    // Before "==" the last character carries 4 spare bits, before "=" 2: its lowest bit is spare.
    const twin = B64[B64.indexOf(m[1]) ^ 1]
    expect(twin).not.toBe(m[1])
    const changed = file.slice(0, m.index) + twin + file.slice(m.index + 1)
    // The same bytes: a lax decoder would not notice.
    const body = (t: string) => t.split('\n').slice(1, -2).join('')
    expect(Buffer.from(body(changed), 'base64').equals(Buffer.from(body(file), 'base64'))).toBe(true)
    const e = expectReason(() => verify(changed), 'malformed', ExitCode.malformed)
    expect(e.message).toMatch(/canonical/)
  })

  it('refuses non-canonical base64url inside the JWS signature', () => {
    const jws = signLicense(claims(), vendor.signer)
    const sig = jws.split('.')[2]
    // 64 bytes are 86 characters; the last carries 4 spare bits.
    const last = B64URL.indexOf(sig.at(-1)!)
    const twin = B64URL[last ^ 1]
    const changed = `${jws.slice(0, -1)}${twin}`
    expect(Buffer.from(changed.split('.')[2], 'base64url').equals(Buffer.from(sig, 'base64url'))).toBe(true)
    expectReason(() => verify(armorLicense(changed)), 'malformed', ExitCode.malformed)
  })

  it('refuses a crit header', () => {
    const crit = rawJws({alg: 'EdDSA', typ: LICENSE_TYP, kid: vendor.kid, crit: ['exp'], exp: 1}, claims(), vendor.privateKey)
    const e = expectReason(() => verify(armorLicense(crit)), 'malformed', ExitCode.malformed)
    expect(e.message).toMatch(/critical/)
    const b64 = rawJws({alg: 'EdDSA', typ: LICENSE_TYP, kid: vendor.kid, b64: false, crit: ['b64']}, claims(), vendor.privateKey)
    expectReason(() => verify(armorLicense(b64)), 'malformed', ExitCode.malformed)
  })

  it('decodeCompact reads without trusting, and refuses what is not three base64url parts', () => {
    const jws = signLicense(claims(), vendor.signer)
    expect(decodeCompact(jws).payload).toEqual(claims())
    expect(decodeCompact(jws).signature).toHaveLength(64)
    for (const bad of ['', 'a', 'a.b', 'a.b.c.d', '.e30.', 'e30..', 'e30.e30.+/', `${jws}.x`]) {
      expect(() => decodeCompact(bad), bad).toThrow(VerificationError)
    }
    expect(() => decodeCompact(`${Buffer.from('{"typ":"x"}').toString('base64url')}.e30.`)).toThrow(/no "alg"/)
  })
})

describe('verifyLicense (the library): the time to verify at', () => {
  it('an invalid Date is refused, never taken as a time every check passes', async () => {
    const {verifyLicense} = await import('../../src/index.js')
    const vendor = testKey()
    const expired = armorLicense(signLicense(claims({exp: NOW - 60, nbf: undefined}), vendor.signer))
    expect(() => verifyLicense(expired, vendor.keys, new Date(NOW * 1000))).toThrow(VerificationError)
    for (const at of [new Date(Number.NaN), new Date('not a date')]) {
      expect(() => verifyLicense(expired, vendor.keys, at)).toThrow(/"at" must be a valid Date/)
    }
    expect(() => verifyLicense(expired, vendor.keys, 12345 as unknown as Date)).toThrow(/"at" must be a valid Date/)
    // Below the library too: a time that is not one is a programming error, not a verdict.
    expect(() => checkTimes({iat: NOW, exp: NOW - 60}, Number.NaN, 'license file')).toThrow(TypeError)
  })
})
