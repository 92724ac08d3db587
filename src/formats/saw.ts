import type {KeyObject} from 'node:crypto'

import {VerificationError} from '../domain/errors.js'
import {armor, dearmor} from '../crypto/armor.js'
import {decryptWith, encryptTo} from '../crypto/jwe.js'
import {decodeCompact, signCompact, verifyCompact} from '../crypto/jws.js'
import type {Signer} from '../crypto/keys.js'
import {checkTimes} from './claims.js'

export const SAW_TYP = 'licadm-saw+jwt'
const LABEL = 'SAW file'

/** What a SAW file says in the clear. The credential itself is encrypted to the device (`cred`). */
export interface SawClaims {
  iss: string
  jti: string
  iat: number
  exp: number
  /** The device's fingerprint. */
  sub: string
  container: string
  containerKind: string
  gen: number
  /** Compact JWE (ECDH-ES X25519, A256GCM) of the credential, readable only with the device's key. */
  cred: string
}

export interface SawCredential {
  credential: string
  container: string
  gen: number
  device: string
}

export function encodeSaw(claims: Omit<SawClaims, 'cred'>, credential: string, deviceEncKey: KeyObject, signer: Signer): string {
  const secret: SawCredential = {credential, container: claims.container, gen: claims.gen, device: claims.sub}
  const cred = encryptTo(deviceEncKey, Buffer.from(JSON.stringify(secret)))
  return armor('SAW', signCompact(SAW_TYP, {...claims, cred}, signer))
}

/** Reads the clear claims without trusting them (for `saw inspect` of a file that is refused). */
export function peekSaw(text: string): SawClaims {
  return decodeCompact(dearmor(text, 'SAW').jws, 'SAW file').payload as unknown as SawClaims
}

/** Signature, type, times; the caller checks device, generation and single use. */
export function verifySaw(text: string, keys: ReadonlyMap<string, KeyObject>, nowSeconds: number): SawClaims {
  const {jws} = dearmor(text, 'SAW')
  const {payload} = verifyCompact(jws, {typ: SAW_TYP, keys, label: LABEL})
  // Every SAW expires (default 7 days): one without an expiry was not made by licadm.
  if (payload.exp === undefined) throw new VerificationError('malformed', 'the SAW file is signed but has no expiry (exp): every SAW file expires')
  checkTimes(payload, nowSeconds, LABEL)
  const p = payload as unknown as SawClaims
  if (typeof p.jti !== 'string' || typeof p.sub !== 'string' || typeof p.container !== 'string' || typeof p.gen !== 'number' || typeof p.cred !== 'string') {
    throw new VerificationError('malformed', 'the SAW file is signed but incomplete')
  }
  return p
}

/** Decrypts the credential with the device's key and checks it is bound to the same claims. */
export function openSawCredential(claims: SawClaims, deviceEncPrivate: KeyObject): SawCredential {
  const secret = JSON.parse(decryptWith(deviceEncPrivate, claims.cred).toString('utf8')) as SawCredential
  if (secret.container !== claims.container || secret.gen !== claims.gen || secret.device !== claims.sub) {
    throw new VerificationError('signature-invalid', 'the SAW file\'s encrypted credential does not match its claims')
  }
  return secret
}
