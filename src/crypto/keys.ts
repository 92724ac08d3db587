import {createHash, createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, sign} from 'node:crypto'
import {mkdirSync, readFileSync} from 'node:fs'
import {dirname} from 'node:path'

import {AuthError, LicadmError, ExitCode} from '../domain/errors.js'
import {writeFileAtomic} from '../domain/file-errors.js'
import {encryptedPkcs8Pem} from './pkcs8.js'

export interface PublicJwk {
  kty: 'OKP'
  crv: 'Ed25519'
  x: string
  kid: string
  alg: 'EdDSA'
  use: 'sig'
}

/** Signs bytes with one key; the JWS layer asks nothing else of a key. */
export interface Signer {
  readonly kid: string
  sign(data: Buffer): Buffer
  /** The key itself, so bulk issuance can hand it to worker threads that sign in parallel. */
  readonly privateKey?: KeyObject
  /** Signs off the main thread, where the signer has a way of its own (see crypto/signing-thread.ts). */
  signAsync?(data: Buffer): Promise<Buffer>
}

export function generateSigningKey(): {privateKey: KeyObject; publicKey: KeyObject} {
  return generateKeyPairSync('ed25519')
}

/** RFC 7638 JWK thumbprint: any JOSE library computes the same key id from the public key. */
export function keyId(publicKey: KeyObject): string {
  const {x} = publicKey.export({format: 'jwk'})
  return createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest('base64url')
}

export function publicJwk(publicKey: KeyObject): PublicJwk {
  const {x} = publicKey.export({format: 'jwk'})
  return {kty: 'OKP', crv: 'Ed25519', x: x!, kid: keyId(publicKey), alg: 'EdDSA', use: 'sig'}
}

export function publicKeyPem(publicKey: KeyObject): string {
  return publicKey.export({format: 'pem', type: 'spki'}).toString()
}

/**
 * Public keys from text: one or more SPKI PEM blocks, a JWK, or a JWKS. Only Ed25519 is accepted.
 * Each comes with its key id (RFC 7638 thumbprint), whatever `kid` the file claims.
 */
export function parsePublicKeys(text: string, source = 'public key'): Array<{kid: string; key: KeyObject}> {
  const trimmed = text.trim()
  let keys: KeyObject[]
  try {
    if (trimmed.startsWith('{')) {
      const json = JSON.parse(trimmed) as {keys?: unknown[]} & Record<string, unknown>
      const jwks = (Array.isArray(json.keys) ? json.keys : [json]) as Array<Record<string, unknown>>
      keys = jwks.map((jwk) => createPublicKey({key: {kty: jwk.kty, crv: jwk.crv, x: jwk.x} as never, format: 'jwk'}))
    } else {
      const blocks = trimmed.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? []
      keys = blocks.map((pem) => createPublicKey(pem))
    }
  } catch (error) {
    throw new LicadmError('KEY_UNREADABLE', ExitCode.usage, `${source} is not a PEM or JWK public key`, {cause: error})
  }
  if (keys.length === 0) throw new LicadmError('KEY_UNREADABLE', ExitCode.usage, `${source} holds no public key (expected PEM "BEGIN PUBLIC KEY", a JWK or a JWKS)`)
  for (const key of keys) {
    if (key.asymmetricKeyType !== 'ed25519') {
      throw new LicadmError('KEY_UNSUPPORTED', ExitCode.usage, `${source} holds a ${key.asymmetricKeyType} key; licadm keys are Ed25519`)
    }
  }
  return keys.map((key) => ({kid: keyId(key), key}))
}

/**
 * Writes a private key as PKCS#8 PEM readable by its owner only, encrypted when a
 * passphrase is given (see pkcs8.ts). Written to a temporary file and renamed, so a crash never leaves half a key.
 */
export function writePrivateKey(path: string, privateKey: KeyObject, passphrase?: string): void {
  mkdirSync(dirname(path), {recursive: true, mode: 0o700})
  const pem = passphrase ? encryptedPkcs8Pem(privateKey, passphrase) : privateKey.export({format: 'pem', type: 'pkcs8'})
  writeFileAtomic(path, pem, 0o600, {exact: true})
}

export function isEncryptedPem(pem: string): boolean {
  return pem.includes('BEGIN ENCRYPTED PRIVATE KEY')
}

export function readPrivateKey(path: string, passphrase?: string): KeyObject {
  const pem = readFileSync(path, 'utf8')
  if (isEncryptedPem(pem) && !passphrase) {
    throw new AuthError('the signing key is encrypted and no passphrase was given', {
      hint: 'Set LICADM_KEY_PASSPHRASE (licadm asks for it only in a terminal, without CI set or --json).',
    })
  }
  try {
    return createPrivateKey(isEncryptedPem(pem) ? {key: pem, passphrase} : pem)
  } catch (error) {
    // Only an encrypted key can be locked; an unencrypted one that does not parse is damaged.
    if (!isEncryptedPem(pem)) {
      throw new LicadmError('KEY_UNREADABLE', ExitCode.usage, `the signing key file ${path} is not a readable private key`, {
        hint: 'Restore the key file from your backup.',
        cause: error,
      })
    }
    throw new AuthError('the passphrase does not unlock the signing key', {
      hint: 'Check LICADM_KEY_PASSPHRASE (or what you typed) and try again.',
      cause: error,
    })
  }
}

export function signerFor(privateKey: KeyObject): Signer {
  const kid = keyId(createPublicKey(privateKey))
  return {kid, privateKey, sign: (data) => sign(null, data, privateKey)}
}
