import {verify, type KeyObject} from 'node:crypto'

import {VerificationError} from '../domain/errors.js'
import type {Signer} from '../crypto/keys.js'
import {signAsync} from '../crypto/sign-async.js'

export const RESPONSE_TYP = 'licadm-response+jws'
export const SIGNATURE_HEADER = 'licadm-signature'
export const TIME_HEADER = 'licadm-time'

/**
 * Every license-server response is signed: a detached JWS (RFC 7515 appendix F) whose protected
 * header carries the server time (`t`, epoch milliseconds) and the HTTP status (`st`), and whose
 * payload is the response body exactly as sent. The header `licadm-signature` holds
 * `<protected>..<signature>`; a stock JOSE library verifies it by putting the base64url body in the
 * middle. So a client detects a forged or changed response, and its clock's skew from the server's.
 */
export function signResponse(body: string | Buffer, status: number, timeMs: number, signer: Signer): string {
  const header = protectedHeader(status, timeMs, signer.kid)
  return `${header}..${signer.sign(signingInput(header, body)).toString('base64url')}`
}

/** signResponse with the signature made off the main thread (see crypto/sign-async.ts): the same header. */
export async function signResponseAsync(body: string | Buffer, status: number, timeMs: number, signer: Signer): Promise<string> {
  const header = protectedHeader(status, timeMs, signer.kid)
  return `${header}..${(await signAsync(signer, signingInput(header, body))).toString('base64url')}`
}

function protectedHeader(status: number, timeMs: number, kid: string): string {
  return Buffer.from(JSON.stringify({alg: 'EdDSA', kid, typ: RESPONSE_TYP, t: timeMs, st: status})).toString('base64url')
}

/** JWS signing input: the protected header, a dot, the base64url body (RFC 7515 §5.1). */
function signingInput(header: string, body: string | Buffer): Buffer {
  return Buffer.from(`${header}.${(typeof body === 'string' ? Buffer.from(body) : body).toString('base64url')}`)
}

export interface VerifiedResponse {
  kid: string
  /** The server's time when it answered (epoch milliseconds). */
  serverTime: number
  status: number
}

/** Verifies a response's detached signature against its body, with pinned vendor keys. */
export function verifyResponse(signature: string | undefined | null, body: string | Buffer, status: number, keys: ReadonlyMap<string, KeyObject>): VerifiedResponse {
  if (!signature) throw new VerificationError('malformed', `the server's response carries no ${SIGNATURE_HEADER} header`)
  const parts = signature.split('.')
  if (parts.length !== 3 || parts[1] !== '') throw new VerificationError('malformed', `the ${SIGNATURE_HEADER} header is not a detached JWS`)
  let header: {alg?: unknown; kid?: unknown; typ?: unknown; t?: unknown; st?: unknown}
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'))
  } catch {
    throw new VerificationError('malformed', `the ${SIGNATURE_HEADER} header is not a JWS`)
  }
  if (header.alg !== 'EdDSA') throw new VerificationError('algorithm-not-allowed', `the response signature uses algorithm "${String(header.alg)}"; only EdDSA is accepted`)
  const key = typeof header.kid === 'string' ? keys.get(header.kid) : undefined
  if (!key) throw new VerificationError('unknown-key', `the response was signed by key ${String(header.kid)}, which is not a pinned key of this vendor`)
  const payload = (typeof body === 'string' ? Buffer.from(body) : body).toString('base64url')
  const sig = Buffer.from(parts[2], 'base64url')
  if (sig.length !== 64 || !verify(null, Buffer.from(`${parts[0]}.${payload}`), key, sig)) {
    throw new VerificationError('signature-invalid', "the server's response signature does not verify: the response was changed or forged")
  }
  if (header.typ !== RESPONSE_TYP) throw new VerificationError('wrong-type', `the response signature has type "${String(header.typ)}", expected "${RESPONSE_TYP}"`)
  if (typeof header.t !== 'number' || header.st !== status) {
    throw new VerificationError('signature-invalid', `the response signature was made for status ${String(header.st)}, not ${status}`)
  }
  return {kid: header.kid as string, serverTime: header.t, status}
}
