import type {KeyObject} from 'node:crypto'

import {VerificationError} from '../domain/errors.js'
import {armor, dearmor} from '../crypto/armor.js'
import {checkType, decodeCompact, signCompact, verifyCompact, type JwsHeader} from '../crypto/jws.js'
import type {Signer} from '../crypto/keys.js'
import {checkTimes} from './claims.js'

export const LEASE_TYP = 'licadm-lease+jwt'
export const BORROW_TYP = 'licadm-borrow+jwt'

/**
 * The claims of a seat lease token and of a borrow file: which license's seat, held by whom, until
 * when. A client verifies either offline with the vendor's public key.
 */
export interface SeatClaims {
  /** The vendor code. */
  iss: string
  /** The lease or borrow id. */
  sub: string
  jti: string
  iat: number
  exp: number
  /** The license id. */
  lic: string
  product: number
  features: number
  user: string
  host: string
  mode: 'checkout' | 'station' | 'exclusive'
  /** Seats one checkout took at once, when more than one (mode checkout). */
  seats?: number
}

export function signLease(claims: SeatClaims, signer: Signer): string {
  return signCompact(LEASE_TYP, claims, signer)
}

export function signBorrow(claims: SeatClaims, signer: Signer): string {
  return signCompact(BORROW_TYP, claims, signer)
}

export function armorBorrow(jws: string): string {
  return armor('BORROW', jws)
}

export interface VerifiedSeat {
  header: JwsHeader
  claims: SeatClaims
}

/** Verifies a lease token (compact JWS): key, signature, type, times and shape. */
export function verifyLeaseToken(jws: string, keys: ReadonlyMap<string, KeyObject>, nowSeconds: number): VerifiedSeat {
  return verifySeat(jws.trim(), LEASE_TYP, 'lease token', keys, nowSeconds)
}

/** Verifies an armored borrow file. */
export function verifyBorrowFile(text: string, keys: ReadonlyMap<string, KeyObject>, nowSeconds: number): VerifiedSeat {
  return verifySeat(dearmor(text, 'BORROW').jws, BORROW_TYP, 'borrow file', keys, nowSeconds)
}

/**
 * The id of a borrow file given back early. With `keys` its signature and type are verified first
 * (not its times: an expired borrow may be returned, which changes nothing); without, its type and
 * shape only, as the server decides what the caller may return.
 */
export function returnedBorrowId(text: string, keys?: ReadonlyMap<string, KeyObject>): string {
  const {jws} = dearmor(text, 'BORROW')
  const label = 'borrow file'
  const {header, payload} = keys ? verifyCompact(jws, {typ: BORROW_TYP, keys, label}) : decodeCompact(jws, label)
  if (!keys) checkType(header, BORROW_TYP, label)
  if (typeof payload.sub !== 'string' || !payload.sub.startsWith('brw_')) throw new VerificationError('malformed', 'the borrow file names no borrow id')
  return payload.sub
}

function verifySeat(jws: string, typ: string, label: string, keys: ReadonlyMap<string, KeyObject>, nowSeconds: number): VerifiedSeat {
  const {header, payload} = verifyCompact(jws, {typ, keys, label})
  checkTimes(payload, nowSeconds, label)
  const p = payload
  const ok = typeof p.sub === 'string' && typeof p.lic === 'string' && typeof p.product === 'number' && typeof p.exp === 'number' && typeof p.user === 'string'
  if (!ok) throw new VerificationError('malformed', `the ${label} is signed but incomplete`)
  return {header, claims: payload as unknown as SeatClaims}
}
