import {generateKeyPairSync} from 'node:crypto'
import {readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {calculateJwkThumbprint, exportJWK} from 'jose'
import forge from 'node-forge'
import {afterAll, describe, expect, it} from 'vitest'

import {AuthError, ExitCode, LicadmError} from '../../src/domain/errors.js'
import {
  generateSigningKey,
  isEncryptedPem,
  keyId,
  parsePublicKeys,
  publicJwk,
  publicKeyPem,
  readPrivateKey,
  signerFor,
  writePrivateKey,
} from '../../src/crypto/keys.js'
import {signCompact, verifyCompact} from '../../src/crypto/jws.js'
import {PBKDF2_ITERATIONS} from '../../src/crypto/pkcs8.js'
import {tempDir, testKey} from './helpers.js'

const tmp = tempDir()
afterAll(tmp.cleanup)

function thrown(fn: () => unknown): LicadmError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(LicadmError)
    return error as LicadmError
  }
  throw new Error('expected a refusal')
}

describe('key ids', () => {
  it('equal the RFC 7638 thumbprint jose computes, for many keys', async () => {
    for (let i = 0; i < 20; i++) {
      const {publicKey, privateKey} = generateSigningKey()
      const expected = await calculateJwkThumbprint(await exportJWK(publicKey), 'sha256')
      expect(keyId(publicKey)).toBe(expected)
      expect(signerFor(privateKey).kid).toBe(expected)
    }
  })

  it('publicJwk is a public Ed25519 JWK with that kid and nothing secret', async () => {
    const {publicKey, privateKey} = generateSigningKey()
    const jwk = publicJwk(publicKey)
    expect(jwk).toEqual({kty: 'OKP', crv: 'Ed25519', x: (await exportJWK(publicKey)).x, kid: keyId(publicKey), alg: 'EdDSA', use: 'sig'})
    expect(jwk).not.toHaveProperty('d')
    expect(JSON.stringify(jwk)).not.toContain((await exportJWK(privateKey)).d)
  })
})

describe('private key files', () => {
  it('are written 0600, in a directory that is created, and read back', () => {
    const {privateKey, publicKey} = generateSigningKey()
    const path = join(tmp.dir, 'new', 'dir', 'key.pem')
    writePrivateKey(path, privateKey)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(statSync(join(tmp.dir, 'new', 'dir')).mode & 0o077).toBe(0)
    expect(readFileSync(path, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/)
    expect(keyId(publicKey)).toBe(signerFor(readPrivateKey(path)).kid)
  })

  it('round-trip encrypted with a passphrase; a wrong or missing passphrase is an AuthError (exit 7)', () => {
    const {privateKey, publicKey} = generateSigningKey()
    const path = join(tmp.dir, 'enc.pem')
    writePrivateKey(path, privateKey, 'correct horse')
    const pem = readFileSync(path, 'utf8')
    expect(isEncryptedPem(pem)).toBe(true)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(signerFor(readPrivateKey(path, 'correct horse')).kid).toBe(keyId(publicKey))
    const wrong = thrown(() => readPrivateKey(path, 'wrong horse'))
    expect(wrong).toBeInstanceOf(AuthError)
    expect(wrong.exit).toBe(ExitCode.auth)
    expect(wrong.exit).toBe(7)
    expect(wrong.message).toMatch(/passphrase does not unlock/)
    const missing = thrown(() => readPrivateKey(path))
    expect(missing).toBeInstanceOf(AuthError)
    expect(missing.exit).toBe(7)
    expect(missing.message).toMatch(/encrypted and no passphrase/)
    expect(missing.hint).toMatch(/LICADM_KEY_PASSPHRASE/)
    expect(thrown(() => readPrivateKey(path, '')).exit).toBe(7)
  })

  it('an encrypted key is PBES2 with PBKDF2-HMAC-SHA-256 at 600,000 iterations and AES-256-CBC (read independently with node-forge); keys written with the 2,048 of node:crypto still open', () => {
    const {privateKey, publicKey} = generateSigningKey()
    const path = join(tmp.dir, 'strong.pem')
    writePrivateKey(path, privateKey, 'correct horse')
    const info = forge.asn1.fromDer(forge.util.decode64(readFileSync(path, 'utf8').replace(/-----[^-]+-----|\s/g, '')))
    const [algorithm] = info.value as forge.asn1.Asn1[]
    const [pbes2, params] = algorithm.value as forge.asn1.Asn1[]
    const [kdf, scheme] = params.value as forge.asn1.Asn1[]
    const [pbkdf2, kdfParams] = kdf.value as forge.asn1.Asn1[]
    const [salt, count, prf] = kdfParams.value as forge.asn1.Asn1[]
    const oidOf = (node: forge.asn1.Asn1) => forge.asn1.derToOid(node.value as string)
    expect([oidOf(pbes2), oidOf(pbkdf2), oidOf((prf.value as forge.asn1.Asn1[])[0]), oidOf((scheme.value as forge.asn1.Asn1[])[0])]).toEqual([
      '1.2.840.113549.1.5.13',
      '1.2.840.113549.1.5.12',
      '1.2.840.113549.2.9',
      '2.16.840.1.101.3.4.1.42',
    ])
    expect(forge.asn1.derToInteger(count.value as string)).toBe(PBKDF2_ITERATIONS)
    expect(PBKDF2_ITERATIONS).toBeGreaterThanOrEqual(600_000)
    expect((salt.value as string).length).toBe(16)
    // A second file of the same key and passphrase has its own salt.
    writePrivateKey(join(tmp.dir, 'strong2.pem'), privateKey, 'correct horse')
    expect(readFileSync(join(tmp.dir, 'strong2.pem'), 'utf8')).not.toBe(readFileSync(path, 'utf8'))
    expect(keyId(readPrivateKey(path, 'correct horse'))).toBe(keyId(publicKey))
    const legacy = join(tmp.dir, 'legacy.pem')
    writeFileSync(legacy, privateKey.export({format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'correct horse'}))
    expect(keyId(readPrivateKey(legacy, 'correct horse'))).toBe(keyId(publicKey))
  })

  it('a key file that is damaged is not reported as a wrong passphrase', () => {
    const path = join(tmp.dir, 'damaged.pem')
    writeFileSync(path, '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n', {mode: 0o600})
    const error = thrown(() => readPrivateKey(path))
    expect(error.exit).not.toBe(ExitCode.auth)
    expect(error.message).toContain(path)
  })

  it('signers sign JWS that verify with the public key', () => {
    const k = testKey()
    const jws = signCompact('t', {a: 1}, k.signer)
    expect(verifyCompact(jws, {typ: 't', keys: k.keys, label: 'x'}).payload).toEqual({a: 1})
  })
})

describe('parsePublicKeys', () => {
  const a = testKey()
  const b = testKey()

  it('accepts one or several PEM blocks, with text around them', () => {
    expect(parsePublicKeys(publicKeyPem(a.publicKey)).map((k) => k.kid)).toEqual([a.kid])
    const both = `Our keys:\n${publicKeyPem(a.publicKey)}\nand the old one:\n${publicKeyPem(b.publicKey)}`
    const keys = parsePublicKeys(both)
    expect(keys.map((k) => k.kid)).toEqual([a.kid, b.kid])
    expect(keys[0].key.equals(a.publicKey)).toBe(true)
  })

  it('accepts a JWK and a JWKS, computing the kid from the key rather than trusting the file', () => {
    expect(parsePublicKeys(JSON.stringify(publicJwk(a.publicKey))).map((k) => k.kid)).toEqual([a.kid])
    const jwks = JSON.stringify({keys: [publicJwk(a.publicKey), {...publicJwk(b.publicKey), kid: a.kid}]})
    expect(parsePublicKeys(jwks).map((k) => k.kid)).toEqual([a.kid, b.kid])
  })

  it('refuses RSA, EC and X25519 keys', () => {
    const rsa = generateKeyPairSync('rsa', {modulusLength: 1024}).publicKey
    const ec = generateKeyPairSync('ec', {namedCurve: 'P-256'}).publicKey
    const x = generateKeyPairSync('x25519').publicKey
    for (const key of [rsa, ec, x]) {
      const pem = key.export({format: 'pem', type: 'spki'}).toString()
      const e = thrown(() => parsePublicKeys(pem, '--public-key'))
      expect(e.code).toBe('KEY_UNSUPPORTED')
      expect(e.exit).toBe(ExitCode.usage)
      expect(e.message).toMatch(/^--public-key holds a .* key; licadm keys are Ed25519$/)
      expect(() => parsePublicKeys(JSON.stringify(key.export({format: 'jwk'})))).toThrow(LicadmError)
    }
    // One bad key among good ones refuses the lot.
    const mixed = `${publicKeyPem(a.publicKey)}\n${rsa.export({format: 'pem', type: 'spki'})}`
    expect(() => parsePublicKeys(mixed)).toThrow(/rsa/)
  })

  it('refuses garbage, empty text and private keys', () => {
    for (const text of ['', 'hello', '{', '{"kty":"OKP","crv":"Ed25519","x":"!!"}', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', '{"keys":[]}']) {
      const e = thrown(() => parsePublicKeys(text, 'key file'))
      expect(e.exit, text).toBe(ExitCode.usage)
      expect(e.code, text).toBe('KEY_UNREADABLE')
      expect(e.message, text).toMatch(/^key file /)
    }
    const pkcs8 = generateSigningKey().privateKey.export({format: 'pem', type: 'pkcs8'}).toString()
    expect(() => parsePublicKeys(pkcs8)).toThrow(/holds no public key/)
  })
})
