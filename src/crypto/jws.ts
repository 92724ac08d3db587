import {KeyObject, verify} from 'node:crypto'

import {VerificationError} from '../domain/errors.js'
import type {Signer} from './keys.js'

/**
 * JWS compact serialization (RFC 7515) with EdDSA only. Signing uses node:crypto directly (several
 * times faster than WebCrypto); any stock JOSE library verifies the result.
 */

export interface JwsHeader {
  alg: string
  typ?: string
  kid?: string
  [name: string]: unknown
}

export interface DecodedJws {
  header: JwsHeader
  payload: Record<string, unknown>
  signingInput: string
  signature: Buffer
}

export function signCompact(typ: string, payload: object, signer: Signer): string {
  const header = Buffer.from(JSON.stringify({alg: 'EdDSA', typ, kid: signer.kid})).toString('base64url')
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url')
  const signingInput = `${header}.${body}`
  return `${signingInput}.${signer.sign(Buffer.from(signingInput)).toString('base64url')}`
}

const B64URL = /^[A-Za-z0-9_-]*$/

const DAMAGED = {hint: 'The file is damaged or cut short: ask for it again, or copy it again as it was sent.'}

/**
 * Splits and parses a compact JWS without trusting anything in it. `label` names it in messages
 * ("borrow file").
 */
export function decodeCompact(jws: string, label = 'content'): DecodedJws {
  const parts = jws.trim().split('.')
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p)) || parts[0] === '' || parts[1] === '') {
    throw new VerificationError('malformed', `the ${label} is not a JWS in compact serialization (three base64url parts)`, DAMAGED)
  }
  // Base64 decoders ignore a last character's spare bits; insisting on the canonical form means a
  // changed character can never decode to the same bytes and pass unnoticed.
  if (!parts.every(isCanonicalBase64url)) {
    throw new VerificationError('malformed', `the ${label} is not in canonical base64url: it was changed`, DAMAGED)
  }
  const header = parseJsonPart(parts[0], `${label}'s JWS header`)
  const payload = parseJsonPart(parts[1], `${label}'s JWS payload`)
  if (typeof header.alg !== 'string') throw new VerificationError('malformed', `the ${label}'s JWS header has no "alg"`, DAMAGED)
  return {header: header as JwsHeader, payload, signingInput: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2], 'base64url')}
}

/** Base64url with no padding, no stray characters and no spare bits set: one text per byte string. */
export function isCanonicalBase64url(part: string): boolean {
  return B64URL.test(part) && Buffer.from(part, 'base64url').toString('base64url') === part
}

/** A JWS part that must be a JSON object (a header, a payload); `what` names it in refusals. */
export function parseJsonPart(part: string, what: string, hint: {hint?: string} = DAMAGED): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
  } catch {
    throw new VerificationError('malformed', `the ${what} is not valid JSON`, hint)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new VerificationError('malformed', `the ${what} is not a JSON object`, hint)
  }
  return value as Record<string, unknown>
}

/** The vendor (issuer) a pinned key was pinned for, when its owner said so (see pinIssuer). */
const pinnedIssuers = new WeakMap<KeyObject, string>()

/**
 * Pins `key` to one issuer (a vendor code): it then verifies only what names that issuer as its
 * "iss", so a device that trusts several vendors' keys cannot be handed one vendor's file signed by
 * another. Returns the key.
 */
export function pinIssuer(key: KeyObject, issuer: string): KeyObject {
  pinnedIssuers.set(key, issuer)
  return key
}

export interface VerifyOptions {
  typ: string
  /** The pinned keys, by key id. A key not in here is foreign, whatever the file claims. */
  keys: ReadonlyMap<string, KeyObject>
  /** What the artifact is called in messages ("license file"). */
  label: string
}

/**
 * Checks, in order: algorithm allowlist, pinned key, signature, type. The type is checked after the
 * signature so that a changed byte is reported as tampering, while a genuine file of another kind is
 * reported as the wrong kind.
 */
export function verifyCompact(jws: string, options: VerifyOptions): DecodedJws {
  const decoded = decodeCompact(jws, options.label)
  const {header} = decoded
  if (header.alg !== 'EdDSA') {
    throw new VerificationError('algorithm-not-allowed', `the ${options.label} uses algorithm "${header.alg}"; only EdDSA is accepted`)
  }
  if (header.crit !== undefined) {
    throw new VerificationError('malformed', `the ${options.label} has critical header parameters that licadm does not understand`)
  }
  const key = typeof header.kid === 'string' ? options.keys.get(header.kid) : undefined
  if (!key) {
    throw new VerificationError('unknown-key', `the ${options.label} was signed by key ${String(header.kid ?? '(none)')}, which is not a pinned key of this vendor`, {
      hint: 'It may come from another vendor or profile, or from a key that was removed. Verify with --public-key to use another key.',
      details: {kid: header.kid ?? null},
    })
  }
  if (decoded.signature.length !== 64 || !verify(null, Buffer.from(decoded.signingInput), key, decoded.signature)) {
    throw new VerificationError('signature-invalid', `the ${options.label}'s signature does not verify: the file was changed after it was signed`)
  }
  checkType(header, options.typ, options.label)
  const issuer = pinnedIssuers.get(key)
  if (issuer !== undefined && decoded.payload.iss !== issuer) {
    throw new VerificationError('unknown-key', `the ${options.label} names ${JSON.stringify(decoded.payload.iss ?? null)} as its issuer, but key ${header.kid} is pinned for vendor ${issuer}`, {
      hint: "It was signed by another vendor's key: ask its vendor for a file signed with its own key.",
      details: {kid: header.kid, pinnedFor: issuer, iss: decoded.payload.iss ?? null},
    })
  }
  return decoded
}

/** Refuses a JWS of another type than `typ` (WRONG_TYPE), naming both. */
export function checkType(header: JwsHeader, typ: string, label: string): void {
  if (header.typ !== typ) throw new VerificationError('wrong-type', `this is not a ${label}: its type is "${String(header.typ ?? '(none)')}", expected "${typ}"`)
}
