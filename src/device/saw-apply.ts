import type {KeyObject} from 'node:crypto'

import {VerificationError} from '../domain/errors.js'
import {openSawCredential, verifySaw, type SawClaims} from '../formats/saw.js'
import type {DeviceStore} from './state.js'

export interface AppliedSaw {
  container: string
  generation: number
  jti: string
  expiresAt: number
}

/**
 * Applies a SAW file on this device: the vendor's signature (a pinned key), the type, the expiry,
 * this device, a generation not older than the one held (nor than the container's current one,
 * when known), single use; then the credential is decrypted with the device key and stored.
 */
export function applySaw(device: DeviceStore, text: string, vendorKeys: ReadonlyMap<string, KeyObject>, nowSeconds: number, options: {currentGeneration?: number} = {}): AppliedSaw {
  const me = device.device()
  const claims: SawClaims = verifySaw(text, vendorKeys, nowSeconds)
  if (claims.sub !== me.fingerprint) {
    throw new VerificationError('wrong-target', `this SAW file is for device ${claims.sub}, not for this device (${me.fingerprint})`, {
      details: {for: claims.sub, device: me.fingerprint},
    })
  }
  const key = device.encryptionKey()
  // The checks against what the device holds run under its lock, on the state as it is now: two
  // processes applying the same file at once cannot both pass "not used yet".
  device.update((state) => {
    if (state.usedSaws.includes(claims.jti)) {
      throw new VerificationError('replayed', `this SAW file (${claims.jti}) was applied on this device already`, {details: {jti: claims.jti}})
    }
    const held = state.credentials[claims.container]
    if (held && held.generation > claims.gen) {
      throw new VerificationError('out-of-order', `this SAW file is for generation ${claims.gen} of container ${claims.container}, older than the generation ${held.generation} this device holds: the credentials were reset after it was made`, {
        hint: 'Ask your administrator for a SAW file of the current generation.',
        details: {generation: claims.gen, held: held.generation},
      })
    }
    // Online, the container's current generation is known: a SAW made before the last reset is refused
    // even when this device never held the newer credential.
    if (options.currentGeneration !== undefined && options.currentGeneration > claims.gen) {
      throw new VerificationError('out-of-order', `this SAW file is for generation ${claims.gen} of container ${claims.container}, but its credentials were reset after it was made (now generation ${options.currentGeneration})`, {
        hint: 'Ask your administrator for a SAW file of the current generation.',
        details: {generation: claims.gen, current: options.currentGeneration},
      })
    }
    const {credential} = openSawCredential(claims, key)
    state.credentials[claims.container] = {secret: credential, generation: claims.gen, kind: claims.containerKind, receivedAt: new Date(nowSeconds * 1000).toISOString(), via: `saw:${claims.jti}`}
    state.usedSaws.push(claims.jti)
  })
  return {container: claims.container, generation: claims.gen, jti: claims.jti, expiresAt: claims.exp}
}
