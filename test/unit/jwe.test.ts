import {generateKeyPairSync} from 'node:crypto'

import {CompactEncrypt, compactDecrypt, importJWK} from 'jose'
import {describe, expect, it} from 'vitest'

import {decryptWith, encryptTo, generateEncryptionKey, rawPublic, x25519PublicFromRaw} from '../../src/crypto/jwe.js'
import {VerificationError} from '../../src/domain/errors.js'

/** The credential licadm encrypts to a device must be readable by any JOSE library, and by nothing else. */
describe('compact JWE (ECDH-ES X25519, A256GCM)', () => {
  const device = generateEncryptionKey()
  const secret = Buffer.from('lcs_the-container-secret-0123456789')

  it('jose decrypts what licadm encrypts, and sees the standard header', async () => {
    const jwe = encryptTo(device.publicKey, secret)
    const {plaintext, protectedHeader} = await compactDecrypt(jwe, device.privateKey)
    expect(Buffer.from(plaintext).toString()).toBe(secret.toString())
    expect(protectedHeader.alg).toBe('ECDH-ES')
    expect(protectedHeader.enc).toBe('A256GCM')
    expect(protectedHeader.epk).toMatchObject({kty: 'OKP', crv: 'X25519'})
    // Direct key agreement: no encrypted key part.
    expect(jwe.split('.')[1]).toBe('')
  })

  it('licadm decrypts what jose encrypts to the device key', async () => {
    const jwk = device.publicKey.export({format: 'jwk'})
    const jwe = await new CompactEncrypt(secret).setProtectedHeader({alg: 'ECDH-ES', enc: 'A256GCM'}).encrypt(await importJWK(jwk, 'ECDH-ES'))
    expect(decryptWith(device.privateKey, jwe).toString()).toBe(secret.toString())
  })

  it('each encryption uses a fresh ephemeral key and IV (no two ciphertexts alike)', () => {
    const a = encryptTo(device.publicKey, secret)
    const b = encryptTo(device.publicKey, secret)
    expect(a).not.toBe(b)
    expect(a.split('.')[0]).not.toBe(b.split('.')[0])
  })

  it('another device cannot decrypt it (with licadm or jose)', async () => {
    const other = generateEncryptionKey()
    const jwe = encryptTo(device.publicKey, secret)
    expect(() => decryptWith(other.privateKey, jwe)).toThrow(VerificationError)
    await expect(compactDecrypt(jwe, other.privateKey)).rejects.toThrow()
  })

  it('a changed ciphertext, tag, IV or header is refused', () => {
    const jwe = encryptTo(device.publicKey, secret)
    const parts = jwe.split('.')
    const flip = (s: string) => {
      const b = Buffer.from(s, 'base64url')
      b[0] ^= 1
      return b.toString('base64url')
    }
    for (const i of [0, 2, 3, 4]) {
      const changed = [...parts]
      changed[i] = i === 0 ? Buffer.from(JSON.stringify({...JSON.parse(Buffer.from(parts[0], 'base64url').toString()), kid: 'x'})).toString('base64url') : flip(parts[i])
      expect(() => decryptWith(device.privateKey, changed.join('.')), `part ${i}`).toThrow(VerificationError)
    }
  })

  it('refuses other algorithms and malformed input by reason', () => {
    const jwe = encryptTo(device.publicKey, secret)
    const [, ...rest] = jwe.split('.')
    const header = (h: object) => [Buffer.from(JSON.stringify(h)).toString('base64url'), ...rest].join('.')
    const e1 = catchErr(() => decryptWith(device.privateKey, header({alg: 'RSA-OAEP', enc: 'A256GCM'})))
    expect(e1.reason).toBe('algorithm-not-allowed')
    const e2 = catchErr(() => decryptWith(device.privateKey, header({alg: 'ECDH-ES', enc: 'A128CBC-HS256', epk: {kty: 'OKP', crv: 'X25519', x: 'AAAA'}})))
    expect(e2.reason).toBe('algorithm-not-allowed')
    expect(catchErr(() => decryptWith(device.privateKey, 'a.b.c')).reason).toBe('malformed')
    expect(catchErr(() => decryptWith(device.privateKey, `${'!'.repeat(5)}..a.b.c`)).reason).toBe('malformed')
    // An encrypted key part is not allowed in direct key agreement.
    expect(catchErr(() => decryptWith(device.privateKey, [jwe.split('.')[0], 'AAAA', ...rest.slice(1)].join('.'))).reason).toBe('malformed')
  })

  it('raw public keys round-trip through the JWK "x"', () => {
    const {publicKey} = generateKeyPairSync('x25519')
    const raw = rawPublic(publicKey)
    expect(Buffer.from(raw, 'base64url')).toHaveLength(32)
    expect(rawPublic(x25519PublicFromRaw(raw))).toBe(raw)
  })
})

function catchErr(fn: () => unknown): VerificationError {
  try {
    fn()
  } catch (error) {
    if (error instanceof VerificationError) return error
    throw error
  }
  throw new Error('expected a refusal')
}
