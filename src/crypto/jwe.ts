import {createCipheriv, createDecipheriv, createHash, createPublicKey, diffieHellman, generateKeyPairSync, KeyObject, randomBytes} from 'node:crypto'

import {VerificationError} from '../domain/errors.js'

/**
 * Compact JWE (RFC 7516) with ECDH-ES on X25519 and A256GCM (RFC 7518 §4.6, RFC 8037): what licadm
 * uses to put a secret in a file that only one device can read. Any JOSE library decrypts it with
 * the device's private key.
 */

const ENC = 'A256GCM'

/** Concat KDF (NIST SP 800-56A) as JWA defines it for ECDH-ES in direct key agreement mode. */
function concatKdf(shared: Buffer): Buffer {
  const lenPrefixed = (b: Buffer) => Buffer.concat([u32(b.length), b])
  const otherInfo = Buffer.concat([lenPrefixed(Buffer.from(ENC)), lenPrefixed(Buffer.alloc(0)), lenPrefixed(Buffer.alloc(0)), u32(256)])
  return createHash('sha256').update(Buffer.concat([u32(1), shared, otherInfo])).digest()
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

export function x25519PublicFromRaw(raw: string): KeyObject {
  return createPublicKey({key: {kty: 'OKP', crv: 'X25519', x: raw}, format: 'jwk'})
}

export function rawPublic(key: KeyObject): string {
  return key.export({format: 'jwk'}).x!
}

export function generateEncryptionKey(): {privateKey: KeyObject; publicKey: KeyObject} {
  return generateKeyPairSync('x25519')
}

export function encryptTo(recipient: KeyObject, plaintext: Buffer): string {
  const ephemeral = generateKeyPairSync('x25519')
  const cek = concatKdf(diffieHellman({privateKey: ephemeral.privateKey, publicKey: recipient}))
  const header = {alg: 'ECDH-ES', enc: ENC, epk: {kty: 'OKP', crv: 'X25519', x: rawPublic(ephemeral.publicKey)}}
  const protectedHeader = Buffer.from(JSON.stringify(header)).toString('base64url')
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', cek, iv)
  cipher.setAAD(Buffer.from(protectedHeader, 'ascii'))
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  const tag = cipher.getAuthTag()
  return [protectedHeader, '', iv.toString('base64url'), ciphertext.toString('base64url'), tag.toString('base64url')].join('.')
}

export function decryptWith(privateKey: KeyObject, jwe: string): Buffer {
  const parts = jwe.split('.')
  if (parts.length !== 5 || parts[1] !== '') throw new VerificationError('malformed', 'the encrypted part is not a compact ECDH-ES JWE')
  let header: {alg?: string; enc?: string; epk?: {kty?: string; crv?: string; x?: string}}
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'))
  } catch {
    throw new VerificationError('malformed', 'the encrypted part has an unreadable header')
  }
  if (header.alg !== 'ECDH-ES' || header.enc !== ENC || header.epk?.crv !== 'X25519' || typeof header.epk.x !== 'string') {
    throw new VerificationError('algorithm-not-allowed', 'the encrypted part must use ECDH-ES with X25519 and A256GCM')
  }
  try {
    const cek = concatKdf(diffieHellman({privateKey, publicKey: x25519PublicFromRaw(header.epk.x)}))
    const decipher = createDecipheriv('aes-256-gcm', cek, Buffer.from(parts[2], 'base64url'))
    decipher.setAAD(Buffer.from(parts[0], 'ascii'))
    decipher.setAuthTag(Buffer.from(parts[4], 'base64url'))
    return Buffer.concat([decipher.update(Buffer.from(parts[3], 'base64url')), decipher.final()])
  } catch {
    throw new VerificationError('signature-invalid', 'the encrypted part cannot be decrypted with this device key: it is for another device or was changed')
  }
}
