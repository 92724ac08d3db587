import type {KeyObject} from 'node:crypto'

import {VerificationError} from '../domain/errors.js'
import type {License, LicenseKind} from '../domain/license.js'
import {armor, dearmor} from '../crypto/armor.js'
import {decodeCompact, signCompact, verifyCompact, type JwsHeader} from '../crypto/jws.js'
import type {Signer} from '../crypto/keys.js'
import {checkTimes} from './claims.js'

export const LICENSE_TYP = 'licadm-license+jwt'
const LABEL = 'license file'

/** The payload of a license file: registered JWT claims plus the entitlement. */
export interface LicenseClaims {
  iss: string
  sub: string
  jti: string
  iat: number
  nbf: number
  exp?: number
  vendor: string
  product: number
  kind: LicenseKind
  quantity: number
  features: number
  units?: number
  customer?: string
  meta?: Record<string, string>
}

export interface Vendor {
  code: number
  name: string
}

export function licenseClaims(license: Omit<License, 'kid' | 'status' | 'revokedAt' | 'ticket'>, vendor: Vendor): LicenseClaims {
  const claims: LicenseClaims = {
    iss: String(vendor.code),
    sub: license.id,
    jti: license.id,
    iat: license.createdAt,
    nbf: license.notBefore,
    vendor: vendor.name,
    product: license.productCode,
    kind: license.kind,
    quantity: license.quantity,
    features: license.features,
  }
  if (license.expiresAt !== null) claims.exp = license.expiresAt
  if (license.units !== null) claims.units = license.units
  if (license.customer !== null) claims.customer = license.customer
  if (Object.keys(license.metadata).length > 0) claims.meta = license.metadata
  return claims
}

export function signLicense(claims: LicenseClaims, signer: Signer): string {
  return signCompact(LICENSE_TYP, claims, signer)
}

export function armorLicense(jws: string): string {
  return armor('LICENSE', jws)
}

export interface VerifiedLicense {
  header: JwsHeader
  claims: LicenseClaims
}

/** Reads a license file without checking anything: for display of a file that is refused. */
export function peekLicense(text: string): VerifiedLicense {
  const {header, payload} = decodeCompact(dearmor(text, 'LICENSE').jws, 'license file')
  return {header, claims: payload as unknown as LicenseClaims}
}

/**
 * Full verification of an armored license file: armor, algorithm, pinned key, signature, type,
 * times, and the shape of the entitlement.
 */
/** What a verification found: a valid license, the key that signed it and that key's status. */
export interface VerifyVerdict {
  valid: true
  kid: string
  keyStatus: 'active' | 'retired' | 'given'
  license: LicenseClaims
}

/** Verification with given keys only, no store: what a customer or an application does. */
export function verifyOffline(text: string, keys: ReadonlyMap<string, KeyObject>, atSeconds: number): VerifyVerdict {
  const {header, claims} = verifyLicenseFile(text, keys, atSeconds)
  return {valid: true, kid: header.kid as string, keyStatus: 'given', license: claims}
}

export function verifyLicenseFile(text: string, keys: ReadonlyMap<string, KeyObject>, nowSeconds: number): VerifiedLicense {
  const {jws} = dearmor(text, 'LICENSE')
  const {header, payload} = verifyCompact(jws, {typ: LICENSE_TYP, keys, label: LABEL})
  checkTimes(payload, nowSeconds, LABEL)
  checkShape(payload)
  return {header, claims: payload as unknown as LicenseClaims}
}

function checkShape(p: Record<string, unknown>): void {
  const ok =
    typeof p.iss === 'string' &&
    typeof p.sub === 'string' &&
    typeof p.product === 'number' &&
    (p.kind === 'single' || p.kind === 'concurrent') &&
    typeof p.quantity === 'number' &&
    typeof p.features === 'number'
  if (!ok) throw new VerificationError('malformed', 'the license file is signed but its entitlement is incomplete')
}
