import {createPublicKey, type KeyObject} from 'node:crypto'

import {InvalidValueError, VerificationError} from '../domain/errors.js'
import {TEXT_MAX} from '../domain/values.js'
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
  const signKey = readKeys(keys.sig, keys.enc)
  if (!signKey) throw new VerificationError('malformed', 'the device identity file holds unreadable public keys')
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

/** The device's signing key, once both public keys read as what they claim to be; else undefined. */
function readKeys(sig: string, enc: string): KeyObject | undefined {
  try {
    const signKey = ed25519FromRaw(sig)
    createPublicKey({key: {kty: 'OKP', crv: 'X25519', x: enc}, format: 'jwk'})
    return signKey
  } catch {
    return undefined
  }
}


/**
 * A device identity handed over as an object (a remote activation sends the one its file held):
 * every field a string of the right size and both keys readable, as decodeIdentity checks a file.
 */
export function checkIdentity(value: unknown): DeviceIdentity {
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>
  const fields = ['fingerprint', 'name', 'platform', 'signKey', 'encKey'] as const
  const bad = fields.filter((f) => typeof v[f] !== 'string' || v[f] === '' || (v[f] as string).length > TEXT_MAX)
  if (bad.length > 0) throw new InvalidValueError('identity', `the device identity needs ${bad.join(', ')} (1 to ${TEXT_MAX} characters each)`)
  const identity = Object.fromEntries(fields.map((f) => [f, v[f]])) as unknown as DeviceIdentity
  if (!readKeys(identity.signKey, identity.encKey)) throw new InvalidValueError('identity', 'the device identity holds unreadable public keys (signKey Ed25519, encKey X25519, raw in base64url)')
  return identity
}
