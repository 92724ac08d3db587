/**
 * The licadm library API, for vendors' applications: verify a license file offline with the
 * vendor's pinned public keys; hold a floating seat of the license server with SeatClient.
 *
 *   import {readFileSync} from 'node:fs'
 *   import {loadPublicKeys, verifyLicense} from 'licadm'
 *   const keys = loadPublicKeys(readFileSync('vendor-public.pem', 'utf8'))
 *   const {license} = verifyLicense(readFileSync('customer.lic', 'utf8'), keys)
 */
import type {KeyObject} from 'node:crypto'

import {parsePublicKeys} from './crypto/keys.js'
import {UsageError} from './domain/errors.js'
import {verifyOffline, type VerifyVerdict} from './formats/license.js'

export {LicadmError, VerificationError, ExitCode, type VerifyReason} from './domain/errors.js'
export {LICENSE_TYP, type LicenseClaims} from './formats/license.js'
export type {VerifyVerdict} from './formats/license.js'
export {SeatClient, SeatLease, ClockSkewError, type SeatClientOptions, type SeatState, type CheckoutTarget} from './client/seat-client.js'
export type {Grant, Lease} from './services/seats.js'
export type {SeatReservation, ReservationUsage} from './services/seat-rules.js'
export {ServerClient, type ServerClientOptions, type CheckoutWaitOptions, type PolicySettings} from './client/http.js'
export type {UsageReport, LicenseUsage, UsageDay} from './services/seat-usage.js'
export type {TrustOptions} from './client/transport.js'
export {containerToken} from './domain/tokens.js'
export {LEASE_TYP, BORROW_TYP, verifyLeaseToken, verifyBorrowFile, type SeatClaims} from './formats/lease.js'
export {verifyResponse, requestBinding, SIGNATURE_HEADER, TIME_HEADER, NONCE_HEADER, type RequestBinding} from './formats/response.js'

/** Pinned keys from PEM, JWK or JWKS text, by key id. */
export function loadPublicKeys(text: string): Map<string, KeyObject> {
  return new Map(parsePublicKeys(text).map((k) => [k.kid, k.key]))
}

/**
 * Verifies an armored license file; throws a VerificationError whose `reason` says why it is refused
 * (malformed, signature-invalid, unknown-key, wrong-type, expired, …).
 */
export function verifyLicense(text: string, keys: ReadonlyMap<string, KeyObject>, at: Date = new Date()): VerifyVerdict {
  // An invalid date would pass every time check (comparisons with NaN are false): refused instead.
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new UsageError('verifyLicense: "at" must be a valid Date (the time to verify at)', {details: {at: String(at)}})
  return verifyOffline(text, keys, Math.floor(at.getTime() / 1000))
}
