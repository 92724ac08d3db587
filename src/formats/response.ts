import {createHash, verify, type KeyObject} from 'node:crypto'

import {VerificationError} from '../domain/errors.js'
import {isCanonicalBase64url, parseJsonPart} from '../crypto/jws.js'
import type {Signer} from '../crypto/keys.js'
import {signAsync} from '../crypto/sign-async.js'

export const RESPONSE_TYP = 'licadm-response+jws'
export const SIGNATURE_HEADER = 'licadm-signature'
export const TIME_HEADER = 'licadm-time'
/** A request's one-time value (16 to 128 base64url characters), echoed in its response's signature. */
export const NONCE_HEADER = 'licadm-nonce'
const NONCE = /^[A-Za-z0-9_-]{16,128}$/

/**
 * What ties a response to the request it answers: the request's nonce (`n`) and the digest of its
 * method, path and body as the server received them (`rq`). Without it, a relay between client and
 * server could hand one genuine signed answer to many clients, replay an old one, or answer a
 * request it rewrote (another license, another lease).
 */
export interface RequestBinding {
  n: string
  rq: string
}

/** Whether a licadm-nonce header value is well formed. */
export function isNonce(value: unknown): value is string {
  return typeof value === 'string' && NONCE.test(value)
}

/**
 * The binding of a request: `path` is the path and query as sent on the wire (`/v1/leases?license=…`),
 * `body` the request body exactly as sent ('' when none).
 */
export function requestBinding(nonce: string, method: string, path: string, body: string | Buffer): RequestBinding {
  const rq = createHash('sha256').update(`${method.toUpperCase()} ${path}\n`).update(body).digest('base64url')
  return {n: nonce, rq}
}

/**
 * Every license-server response is signed: a detached JWS (RFC 7515 appendix F) whose protected
 * header carries the server time (`t`, epoch milliseconds), the HTTP status (`st`) and, when the
 * request sent a licadm-nonce header, its binding to that request (`n`, `rq`: see RequestBinding),
 * and whose payload is the response body exactly as sent. The header `licadm-signature` holds
 * `<protected>..<signature>`; a stock JOSE library verifies it by putting the base64url body in the
 * middle. So a client detects a forged, changed or replayed response, and its clock's skew from the server's.
 */
export function signResponse(body: string | Buffer, status: number, timeMs: number, signer: Signer, binding?: RequestBinding): string {
  const header = protectedHeader(status, timeMs, signer.kid, binding)
  return `${header}..${signer.sign(signingInput(header, body)).toString('base64url')}`
}

/** signResponse with the signature made off the main thread (see crypto/sign-async.ts): the same header. */
export async function signResponseAsync(body: string | Buffer, status: number, timeMs: number, signer: Signer, binding?: RequestBinding): Promise<string> {
  const header = protectedHeader(status, timeMs, signer.kid, binding)
  return `${header}..${(await signAsync(signer, signingInput(header, body))).toString('base64url')}`
}

function protectedHeader(status: number, timeMs: number, kid: string, binding?: RequestBinding): string {
  const fields = {alg: 'EdDSA', kid, typ: RESPONSE_TYP, t: timeMs, st: status, ...(binding ? {n: binding.n, rq: binding.rq} : {})}
  return Buffer.from(JSON.stringify(fields)).toString('base64url')
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

/**
 * Verifies a response's detached signature against its body, with pinned vendor keys; with `request`
 * (the binding of the request it answers, made with the nonce the request sent), that it answers
 * that request and no other.
 */
export function verifyResponse(
  signature: string | undefined | null,
  body: string | Buffer,
  status: number,
  keys: ReadonlyMap<string, KeyObject>,
  request?: RequestBinding,
): VerifiedResponse {
  if (!signature) throw new VerificationError('malformed', `the server's response carries no ${SIGNATURE_HEADER} header`)
  const parts = signature.split('.')
  if (parts.length !== 3 || parts[1] !== '') throw new VerificationError('malformed', `the ${SIGNATURE_HEADER} header is not a detached JWS`)
  if (!isCanonicalBase64url(parts[0]) || !isCanonicalBase64url(parts[2])) throw new VerificationError('malformed', `the ${SIGNATURE_HEADER} header is not in canonical base64url: it was changed`)
  const header: {alg?: unknown; kid?: unknown; typ?: unknown; t?: unknown; st?: unknown; n?: unknown; rq?: unknown; crit?: unknown} = parseJsonPart(parts[0], `${SIGNATURE_HEADER} header's JWS header`, {})
  if (header.alg !== 'EdDSA') throw new VerificationError('algorithm-not-allowed', `the response signature uses algorithm "${String(header.alg)}"; only EdDSA is accepted`)
  const key = typeof header.kid === 'string' ? keys.get(header.kid) : undefined
  if (!key) throw new VerificationError('unknown-key', `the response was signed by key ${String(header.kid)}, which is not a pinned key of this vendor`)
  const payload = (typeof body === 'string' ? Buffer.from(body) : body).toString('base64url')
  const sig = Buffer.from(parts[2], 'base64url')
  if (sig.length !== 64 || !verify(null, Buffer.from(`${parts[0]}.${payload}`), key, sig)) {
    throw new VerificationError('signature-invalid', "the server's response signature does not verify: the response was changed or forged")
  }
  if (header.crit !== undefined) throw new VerificationError('malformed', 'the response signature has critical header parameters that licadm does not understand')
  if (header.typ !== RESPONSE_TYP) throw new VerificationError('wrong-type', `the response signature has type "${String(header.typ)}", expected "${RESPONSE_TYP}"`)
  if (typeof header.t !== 'number' || header.st !== status) {
    throw new VerificationError('signature-invalid', `the response signature was made for status ${String(header.st)}, not ${status}`)
  }
  if (request && header.n !== request.n) {
    throw new VerificationError(
      'replayed',
      header.n === undefined
        ? "the server's response is not bound to this request (no nonce in its signature): an older licadm server, or a relay that replays answers"
        : "the server's response was signed for another request (its nonce is not this request's): a replayed or relayed answer",
    )
  }
  if (request && header.rq !== request.rq) {
    throw new VerificationError('wrong-target', "the server's response answers another request than the one sent (method, path or body differ): a relay changed the request")
  }
  return {kid: header.kid as string, serverTime: header.t, status}
}
