import {sign} from 'node:crypto'

import type {Signer} from './keys.js'

/**
 * Ed25519 signing off the main thread, for the license server: three signatures per seat checkout
 * and release (the lease token and two signed responses) cost about 50 µs each, as much CPU as
 * the rest of the request. node:crypto's sign with a callback runs in libuv's thread pool, so the
 * event loop goes on parsing, routing and answering other requests meanwhile, and the signatures use
 * the machine's other cores. A signer with a way of its own (the license server's signing thread,
 * crypto/signing-thread.ts) signs that way. Same key, same bytes: Ed25519 signatures are
 * deterministic, so the result is the very signature the synchronous signer makes.
 */
export function signAsync(signer: Signer, data: Buffer): Promise<Buffer> {
  if (signer.signAsync) return signer.signAsync(data)
  const key = signer.privateKey
  // A signer without its key (a test double, a device key held elsewhere) signs on this thread.
  if (!key) return Promise.resolve(signer.sign(data))
  return new Promise((resolve, reject) => sign(null, data, key, (error, signature) => (error ? reject(error) : resolve(signature))))
}

/** signCompact (crypto/jws.ts) with the signature made off the main thread: the same JWS. */
export async function signCompactAsync(typ: string, payload: object, signer: Signer): Promise<string> {
  const header = Buffer.from(JSON.stringify({alg: 'EdDSA', typ, kid: signer.kid})).toString('base64url')
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url')
  const signingInput = `${header}.${body}`
  return `${signingInput}.${(await signAsync(signer, Buffer.from(signingInput))).toString('base64url')}`
}
