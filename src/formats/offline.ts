import {createHash, createPublicKey, type KeyObject} from 'node:crypto'

import {VerificationError} from '../domain/errors.js'
import {armor, dearmor} from '../crypto/armor.js'
import {decodeCompact, signCompact, verifyCompact, type JwsHeader} from '../crypto/jws.js'
import {keyId, type Signer} from '../crypto/keys.js'
import {checkTimes} from './claims.js'
import {ed25519FromRaw} from './device.js'

/**
 * Offline activation files. A device makes a request (or a return request), signed with its own
 * key; the vendor answers with an update, signed with the vendor key and bound to the device, the
 * container and exactly the next counter value; the device applies it and answers with a receipt,
 * signed with its key. Each is an armored compact JWS with its own `typ`, so no file can be read as
 * another kind.
 */

export const REQUEST_TYP = 'licadm-request+jwt'
export const UPDATE_TYP = 'licadm-update+jwt'
export const RECEIPT_TYP = 'licadm-receipt+jwt'

export type RequestPurpose = 'activate' | 'return'

/** What a request says: who asks, for which container (or a new one at a vendor), at which counter. */
export interface RequestClaims {
  /** The device's fingerprint (it signs the request). */
  iss: string
  sub: string
  jti: string
  iat: number
  purpose: RequestPurpose
  /** The container the request is for; null asks the vendor for a new local container. */
  container: string | null
  /** The vendor code the request is addressed to (always set for a new container). */
  vendor: number | null
  /** The container's update counter on the device when the request was made (0 for a new one). */
  counter: number
  nonce: string
  device: {name: string; platform: string; keys: {sig: string; enc: string}}
  /** The licenses the device holds in the container, by id. */
  holds: string[]
  /** A return request: the license given back. */
  license?: string
}

/** What an update says: for whom, which counter, and the whole set of licenses the container holds after it. */
export interface UpdateClaims {
  /** The vendor code. */
  iss: string
  /** The device's fingerprint. */
  sub: string
  jti: string
  iat: number
  purpose: RequestPurpose
  /** The request this update answers. */
  request: string
  container: string
  containerKind: string
  /** Exactly the next counter value after the request's. */
  counter: number
  /** Every license the container holds after the update: license files as compact JWS. */
  licenses: string[]
  /** License ids added and removed by this update (for people; `licenses` is what counts). */
  added: string[]
  removed: string[]
}

/** What a receipt says: which update was applied, and what the device holds now. */
export interface ReceiptClaims {
  /** The device's fingerprint. */
  iss: string
  sub: string
  jti: string
  iat: number
  /** The update applied, its counter and its SHA-256 (base64url of the JWS text). */
  update: string
  container: string
  counter: number
  updateHash: string
  /** Licenses the device holds in the container after applying, by id, sorted. */
  holds: string[]
  /** The vendor code the update came from. */
  vendor: string
}

export type OfflineKind = 'request' | 'return' | 'update' | 'receipt'

export const KIND_WORDS: Record<OfflineKind, string> = {
  request: 'activation request',
  return: 'return request',
  update: 'activation update',
  receipt: 'activation receipt',
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('base64url')
}

export function encodeRequest(claims: RequestClaims, signer: Signer): string {
  return armor('REQUEST', signCompact(REQUEST_TYP, claims, signer))
}

export function encodeUpdate(claims: UpdateClaims, signer: Signer): {file: string; jws: string} {
  const jws = signCompact(UPDATE_TYP, claims, signer)
  return {file: armor('UPDATE', jws), jws}
}

export function encodeReceipt(claims: ReceiptClaims, signer: Signer): string {
  return armor('RECEIPT', signCompact(RECEIPT_TYP, claims, signer))
}

/** An offline file read without trusting it: its kind, header, claims and JWS. */
export interface PeekedOffline {
  kind: OfflineKind
  header: JwsHeader
  claims: Record<string, unknown>
  jws: string
}

const ARMOR_TO_KIND: Record<string, OfflineKind> = {REQUEST: 'request', UPDATE: 'update', RECEIPT: 'receipt'}

/**
 * Reads any of the four kinds. Refuses (exit 10) what is not armored, truncated or not a JWS, and
 * (exit 12) an armored file of another kind, such as a license or SAW file.
 */
export function peekOffline(text: string, expected?: 'REQUEST' | 'UPDATE' | 'RECEIPT'): PeekedOffline {
  const {kind: armorKind, jws} = dearmor(text, expected)
  const kind = ARMOR_TO_KIND[armorKind]
  if (!kind) {
    throw new VerificationError('wrong-type', `this is a ${armorKind} file, not an offline activation file (request, update, receipt or return request)`, {
      details: {found: armorKind},
    })
  }
  const {header, payload} = decodeCompact(jws, 'offline activation file')
  return {kind: kind === 'request' && payload.purpose === 'return' ? 'return' : kind, header, claims: payload, jws}
}

const str = (v: unknown) => typeof v === 'string' && v !== ''
const uint = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string')

/** The request's own keys (it carries them), as a pinned-key map for a device the vendor does not know yet. */
export function requestKeys(claims: Record<string, unknown>): Map<string, KeyObject> {
  const keys = (claims.device as {keys?: {sig?: unknown; enc?: unknown}} | undefined)?.keys
  if (!str(keys?.sig) || !str(keys?.enc)) throw new VerificationError('malformed', 'the request carries no device public keys')
  try {
    const sig = ed25519FromRaw(keys!.sig as string)
    createPublicKey({key: {kty: 'OKP', crv: 'X25519', x: keys!.enc as string}, format: 'jwk'})
    return new Map([[keyId(sig), sig]])
  } catch {
    throw new VerificationError('malformed', 'the request carries unreadable device public keys')
  }
}

/** Signature (with the pinned device keys given), type, times, shape. Freshness is the vendor's call. */
export function verifyRequest(text: string, keys: ReadonlyMap<string, KeyObject>, nowSeconds: number): RequestClaims {
  const {jws} = dearmor(text, 'REQUEST')
  const {payload} = verifyCompact(jws, {typ: REQUEST_TYP, keys, label: 'activation request'})
  checkTimes(payload, nowSeconds, 'activation request')
  return checkRequestShape(payload)
}

export function checkRequestShape(p: Record<string, unknown>): RequestClaims {
  const device = p.device as RequestClaims['device'] | undefined
  const ok =
    str(p.iss) && p.sub === p.iss && str(p.jti) && (p.purpose === 'activate' || p.purpose === 'return') &&
    (p.container === null || str(p.container)) && (p.vendor === null || uint(p.vendor)) && uint(p.counter) &&
    str(p.nonce) && typeof device === 'object' && device !== null && strings(p.holds) &&
    (p.purpose !== 'return' || (str(p.license) && str(p.container))) && (p.container !== null || p.vendor !== null)
  if (!ok) throw new VerificationError('malformed', 'the activation request is signed but incomplete')
  return p as unknown as RequestClaims
}

export function verifyUpdate(text: string, keys: ReadonlyMap<string, KeyObject>, nowSeconds: number): {claims: UpdateClaims; jws: string} {
  const {jws} = dearmor(text, 'UPDATE')
  const {payload: p} = verifyCompact(jws, {typ: UPDATE_TYP, keys, label: 'activation update'})
  checkTimes(p, nowSeconds, 'activation update')
  const ok =
    str(p.iss) && str(p.sub) && str(p.jti) && (p.purpose === 'activate' || p.purpose === 'return') && str(p.request) &&
    str(p.container) && str(p.containerKind) && uint(p.counter) && (p.counter as number) >= 1 && strings(p.licenses) && strings(p.added) && strings(p.removed)
  if (!ok) throw new VerificationError('malformed', 'the activation update is signed but incomplete')
  return {claims: p as unknown as UpdateClaims, jws}
}

export function verifyReceipt(text: string, keys: ReadonlyMap<string, KeyObject>, nowSeconds: number): ReceiptClaims {
  const {jws} = dearmor(text, 'RECEIPT')
  const {payload: p} = verifyCompact(jws, {typ: RECEIPT_TYP, keys, label: 'activation receipt'})
  checkTimes(p, nowSeconds, 'activation receipt')
  const ok = str(p.iss) && p.sub === p.iss && str(p.jti) && str(p.update) && str(p.container) && uint(p.counter) && str(p.updateHash) && strings(p.holds) && str(p.vendor)
  if (!ok) throw new VerificationError('malformed', 'the activation receipt is signed but incomplete')
  return p as unknown as ReceiptClaims
}

/** The license id inside a license JWS carried by an update (not verified here). */
export function licenseIdOf(jws: string): string {
  const {payload} = decodeCompact(jws, 'license in the update')
  if (typeof payload.sub !== 'string') throw new VerificationError('malformed', 'a license in the update has no id')
  return payload.sub
}

/** What an offline file says, in plain words and as fields, without trusting it. */
export interface OfflineDescription {
  kind: OfflineKind
  what: string
  summary: string
  jti: string | null
  issuedAt: number | null
  /** Who made it: a device fingerprint, or a vendor code. */
  from: string
  /** Who it is for. */
  to: string
  container: string | null
  counter: number | null
  kid: string | null
  /** A request's own signature checked with the keys it carries (null for other kinds). */
  selfSigned: boolean | null
  licenses: string[]
  added: string[]
  removed: string[]
}

export function describeOffline(peeked: PeekedOffline): OfflineDescription {
  const c = peeked.claims
  const s = (v: unknown) => (typeof v === 'string' ? v : null)
  const n = (v: unknown) => (typeof v === 'number' ? v : null)
  const list = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [])
  const base = {kind: peeked.kind, what: KIND_WORDS[peeked.kind], jti: s(c.jti), issuedAt: n(c.iat), container: s(c.container), counter: n(c.counter), kid: s(peeked.header.kid), selfSigned: null as boolean | null}
  if (peeked.kind === 'request' || peeked.kind === 'return') {
    const device = (c.device ?? {}) as {name?: unknown; platform?: unknown}
    let selfSigned = false
    try {
      verifyCompact(peeked.jws, {typ: REQUEST_TYP, keys: requestKeys(c), label: 'activation request'})
      selfSigned = true
    } catch {
      selfSigned = false
    }
    const who = `device ${s(c.sub) ?? '?'} (${s(device.name) ?? 'no name'}, ${s(device.platform) ?? 'unknown platform'})`
    const vendor = n(c.vendor)
    const summary = peeked.kind === 'return'
      ? `A return request from ${who}: it gives back license ${s(c.license) ?? '?'} from container ${base.container ?? '?'}, at counter ${base.counter ?? '?'}. Fulfilling it frees the license for another device.`
      : base.container === null
        ? `An activation request from ${who}, asking vendor ${vendor ?? '?'} for a new local container bound to this device.`
        : `An activation request from ${who} for container ${base.container}, which is at counter ${base.counter ?? '?'} on the device; it holds ${list(c.holds).length} license(s) there.`
    return {...base, selfSigned, summary, from: s(c.sub) ?? '?', to: base.container === null ? `vendor ${vendor ?? '?'}` : `vendor ${vendor ?? '(not named)'}, container ${base.container}`, licenses: peeked.kind === 'return' ? list([c.license]) : list(c.holds), added: [], removed: []}
  }
  if (peeked.kind === 'update') {
    const licenses = list(c.licenses).map((l) => {
      try {
        return licenseIdOf(l)
      } catch {
        return '(unreadable license)'
      }
    })
    const added = list(c.added)
    const removed = list(c.removed)
    const changes = [added.length > 0 ? `adds ${added.join(', ')}` : '', removed.length > 0 ? `removes ${removed.join(', ')}` : ''].filter(Boolean).join(' and ') || 'changes no license'
    const summary = `An activation update from vendor ${s(c.iss) ?? '?'} (key ${base.kid ?? '?'}) for device ${s(c.sub) ?? '?'}, container ${base.container ?? '?'} (${s(c.containerKind) ?? '?'}): it carries counter ${base.counter ?? '?'}, so the device must be at counter ${base.counter === null ? '?' : base.counter - 1}. It answers ${c.purpose === 'return' ? 'return request' : 'request'} ${s(c.request) ?? '?'}, ${changes}; after it the container holds ${licenses.length} license(s).`
    return {...base, summary, from: `vendor ${s(c.iss) ?? '?'}`, to: `device ${s(c.sub) ?? '?'}`, licenses, added, removed}
  }
  const summary = `An activation receipt from device ${s(c.sub) ?? '?'}: it applied update ${s(c.update) ?? '?'} from vendor ${s(c.vendor) ?? '?'} to container ${base.container ?? '?'}, is now at counter ${base.counter ?? '?'} and holds ${list(c.holds).length} license(s).`
  return {...base, summary, from: `device ${s(c.sub) ?? '?'}`, to: `vendor ${s(c.vendor) ?? '?'}`, licenses: list(c.holds), added: [], removed: []}
}
