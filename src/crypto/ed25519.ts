import type {KeyObject} from 'node:crypto'
import {createRequire} from 'node:module'

/** Which library makes a thread's Ed25519 signatures. */
export type Ed25519Backend = 'libsodium' | 'node:crypto'

export interface Ed25519Sign {
  sign(data: Buffer): Buffer
  backend: Ed25519Backend
}

/**
 * The signers of the threads that sign in volume (the license server's signing thread, bulk
 * issuance's workers), as CommonJS source: worker programs run with `eval` cannot import this
 * module, so they paste this function in, and this thread builds its own from the same text.
 *
 * libsodium (the optional sodium-native package) signs in about 40 µs where node:crypto (OpenSSL
 * 3.0) takes about 70 µs on the machines measured (bench/server.bench.mjs reports both), and the
 * server makes three signatures per seat checkout and release. Ed25519 signatures are deterministic
 * (RFC 8032): both libraries make the same bytes, and each libsodium signer proves it against
 * node:crypto once before it is used. node:crypto signs when the package is absent (an install
 * without optional packages, a platform without its prebuilt binary), fails to load, or disagrees.
 * The secret key lives in libsodium's guarded memory.
 */
export const ED25519_SIGNER_SOURCE = `
function ed25519Signer(key, sodiumPath, require) {
  const {sign} = require('node:crypto')
  const viaNode = (data) => sign(null, data, key)
  if (sodiumPath && key.asymmetricKeyType === 'ed25519') {
    try {
      const sodium = require(sodiumPath)
      const seed = Buffer.from(key.export({format: 'jwk'}).d, 'base64url')
      const publicKey = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES)
      const secretKey = sodium.sodium_malloc(sodium.crypto_sign_SECRETKEYBYTES)
      sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed)
      seed.fill(0)
      const viaSodium = (data) => {
        const signature = Buffer.allocUnsafe(64)
        sodium.crypto_sign_detached(signature, data, secretKey)
        return signature
      }
      const probe = Buffer.from('licadm: libsodium and node:crypto sign alike')
      if (viaSodium(probe).equals(viaNode(probe))) return {sign: viaSodium, backend: 'libsodium'}
    } catch {}
  }
  return {sign: viaNode, backend: 'node:crypto'}
}
`

const localRequire = createRequire(import.meta.url)
const build = new Function(`${ED25519_SIGNER_SOURCE}\nreturn ed25519Signer`)() as (
  key: KeyObject,
  sodiumPath: string | null,
  require: NodeJS.Require,
) => Ed25519Sign

let sodium: string | null | undefined

/** Where sodium-native is installed (a worker program requires it from there), or null. */
export function sodiumPath(): string | null {
  if (sodium === undefined) {
    try {
      sodium = localRequire.resolve('sodium-native')
    } catch {
      sodium = null
    }
  }
  return sodium
}

/** This thread's signer for the key: libsodium's when it loads and agrees (pass null for node:crypto's). */
export function ed25519Signer(key: KeyObject, from: string | null = sodiumPath()): Ed25519Sign {
  return build(key, from, localRequire)
}
