import {createPublicKey, type KeyObject} from 'node:crypto'

import {VerificationError} from '../domain/errors.js'
import {armor, dearmor} from '../crypto/armor.js'
import {decodeCompact, signCompact, verifyCompact} from '../crypto/jws.js'
import {keyId, type Signer} from '../crypto/keys.js'
import {checkTimes} from './claims.js'

export const DEVICE_TYP = 'licadm-device+jwt'

/** A device's identity as it hands it to an admin: who it is and its public keys. */
export interface DeviceIdentity {
  fingerprint: string
  name: string
  platform: string
  /** Ed25519 public key, raw 32 bytes in base64url (the JWK "x"). */
  signKey: string
  /** X25519 public key, raw 32 bytes in base64url. */
  encKey: string
}

export function ed25519FromRaw(x: string): KeyObject {
  return createPublicKey({key: {kty: 'OKP', crv: 'Ed25519', x}, format: 'jwk'})
}

/** The identity file is signed by the device's own key: proof that whoever made it holds that key. */
export function encodeIdentity(identity: DeviceIdentity, signer: Signer, nowSeconds: number): string {
  return armor('DEVICE', signCompact(DEVICE_TYP, {sub: identity.fingerprint, iat: nowSeconds, name: identity.name, platform: identity.platform, keys: {sig: identity.signKey, enc: identity.encKey}}, signer))
}

export function decodeIdentity(text: string, nowSeconds: number): DeviceIdentity {
  const {jws} = dearmor(text, 'DEVICE')
  const {payload} = decodeCompact(jws, 'device identity file')
  const keys = payload.keys as {sig?: unknown; enc?: unknown} | undefined
  if (typeof payload.sub !== 'string' || typeof keys?.sig !== 'string' || typeof keys.enc !== 'string') {
    throw new VerificationError('malformed', 'the device identity file has no fingerprint or public keys')
  }
  let signKey: KeyObject
  try {
    signKey = ed25519FromRaw(keys.sig)
    createPublicKey({key: {kty: 'OKP', crv: 'X25519', x: keys.enc}, format: 'jwk'})
  } catch {
    throw new VerificationError('malformed', 'the device identity file holds unreadable public keys')
  }
  verifyCompact(jws, {typ: DEVICE_TYP, keys: new Map([[keyId(signKey), signKey]]), label: 'device identity file'})
  checkTimes(payload, nowSeconds, 'device identity file')
  return {
    fingerprint: payload.sub,
    name: typeof payload.name === 'string' ? payload.name : payload.sub,
    platform: typeof payload.platform === 'string' ? payload.platform : 'unknown',
    signKey: keys.sig,
    encKey: keys.enc,
  }
}
