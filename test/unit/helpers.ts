/** Shared fixtures for the unit tests: vendor keys, license claims, hand-made JWS. */
import {createHmac, sign, type KeyObject} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {LicadmError, VerificationError, type VerifyReason} from '../../src/domain/errors.js'
import {generateSigningKey, keyId, signerFor, type Signer} from '../../src/crypto/keys.js'
import type {LicenseClaims} from '../../src/formats/license.js'
import {DeviceStore, type DeviceStateFile} from '../../src/device/state.js'

export interface TestKey {
  privateKey: KeyObject
  publicKey: KeyObject
  kid: string
  signer: Signer
  /** The pinned-key map verifiers take. */
  keys: Map<string, KeyObject>
}

export function testKey(): TestKey {
  const {privateKey, publicKey} = generateSigningKey()
  const kid = keyId(publicKey)
  return {privateKey, publicKey, kid, signer: signerFor(privateKey), keys: new Map([[kid, publicKey]])}
}

export const NOW = Date.UTC(2026, 5, 1, 12) / 1000

export function claims(overrides: Partial<LicenseClaims> = {}): LicenseClaims {
  return {
    iss: '1234',
    sub: 'lic_test',
    jti: 'lic_test',
    iat: NOW,
    nbf: NOW,
    exp: NOW + 365 * 86_400,
    vendor: 'Test Vendor',
    product: 7,
    kind: 'single',
    quantity: 1,
    features: 5,
    customer: 'ACME',
    ...overrides,
  }
}

const b64u = (v: object | string) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')

/** A compact JWS with any header, signed with Ed25519 by `privateKey` (or with no signature). */
export function rawJws(header: Record<string, unknown>, payload: object, privateKey?: KeyObject): string {
  const input = `${b64u(header)}.${b64u(payload)}`
  const signature = privateKey ? sign(null, Buffer.from(input), privateKey).toString('base64url') : ''
  return `${input}.${signature}`
}

/** A compact JWS with alg HS256, the HMAC key being `secret` (the classic key-confusion attack). */
export function hs256Jws(header: Record<string, unknown>, payload: object, secret: Buffer | string): string {
  const input = `${b64u({...header, alg: 'HS256'})}.${b64u(payload)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

/** The raw 32 bytes of an Ed25519 public key. */
export function rawPublicKey(publicKey: KeyObject): Buffer {
  return Buffer.from(publicKey.export({format: 'jwk'}).x!, 'base64url')
}

/** Runs `fn` and returns the VerificationError it throws (fails the test on anything else). */
export function verificationError(fn: () => unknown): VerificationError {
  try {
    fn()
  } catch (error) {
    if (error instanceof VerificationError) return error
    throw new Error(`expected a VerificationError, got ${String(error)}`, {cause: error})
  }
  throw new Error('expected a VerificationError, but it was accepted')
}

export async function rejection(promise: Promise<unknown>): Promise<LicadmError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof LicadmError) return error
    throw new Error(`expected a LicadmError, got ${String(error)}`, {cause: error})
  }
  throw new Error('expected a refusal, but it succeeded')
}

export function expectReason(fn: () => unknown, reason: VerifyReason, exit: number): VerificationError {
  const error = verificationError(fn)
  if (error.reason !== reason || error.exit !== exit || error.details?.reason !== reason) {
    throw new Error(`expected reason ${reason} (exit ${exit}), got ${error.reason} (exit ${error.exit}): ${error.message}`)
  }
  return error
}

export function tempDir(): {dir: string; cleanup: () => void} {
  const dir = mkdtempSync(join(tmpdir(), 'licadm-unit-'))
  return {dir, cleanup: () => rmSync(dir, {recursive: true, force: true})}
}

/**
 * The same device directory as `store`, where `other` (another licadm process) changes the state
 * just before this store's first change: as if it ran between this process's read and its write.
 */
export function racedBy(store: DeviceStore, other: () => void): DeviceStore {
  let raced = false
  return new (class extends DeviceStore {
    override update<T>(fn: (state: DeviceStateFile) => T): T {
      if (!raced) {
        raced = true
        other()
      }
      return super.update(fn)
    }
  })(store.dir)
}
