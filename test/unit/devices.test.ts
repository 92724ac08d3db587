import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {compactVerify, importJWK} from 'jose'
import {afterAll, describe, expect, it} from 'vitest'

import {armor, dearmor} from '../../src/crypto/armor.js'
import {DeviceStore} from '../../src/device/state.js'
import {machineFingerprint} from '../../src/device/fingerprint.js'
import {ExitCode, LicadmError, VerificationError} from '../../src/domain/errors.js'
import {DEVICE_TYP, decodeIdentity, encodeIdentity} from '../../src/formats/device.js'
import {tempDir} from './helpers.js'

const tmp = tempDir()
afterAll(tmp.cleanup)
const NOW = Date.UTC(2026, 5, 1, 12)
let n = 0

function newDevice(fingerprint = `SIM-${++n}`): DeviceStore {
  const store = new DeviceStore(join(tmp.dir, `dev-${n}-${Math.random().toString(36).slice(2)}`))
  store.init({fingerprint, name: `dev ${n}`, platform: 'linux-x64', fingerprintSource: 'given'}, new Date(NOW))
  return store
}

describe('DeviceStore', () => {
  it('init writes 0600 private keys and state, a readable identity, in a 0700 directory', () => {
    const d = newDevice('SIM-PERMS')
    expect(statSync(d.dir).mode & 0o777).toBe(0o700)
    for (const f of ['sign.pem', 'enc.pem', 'state.json']) expect(statSync(join(d.dir, f)).mode & 0o777, f).toBe(0o600)
    expect(readFileSync(join(d.dir, 'sign.pem'), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/)
    const device = d.device()
    expect(device).toMatchObject({fingerprint: 'SIM-PERMS', platform: 'linux-x64', fingerprintSource: 'given', createdAt: new Date(NOW).toISOString()})
    expect(Buffer.from(device.signKey, 'base64url')).toHaveLength(32)
    expect(Buffer.from(device.encKey, 'base64url')).toHaveLength(32)
    // No private key material in the public files.
    expect(readFileSync(join(d.dir, 'device.json'), 'utf8')).not.toMatch(/PRIVATE/)
    expect(d.state()).toEqual({credentials: {}, usedSaws: [], trusted: {}})
  })

  it('refuses a second init (4); --force moves the old directory aside with new keys', () => {
    const d = newDevice()
    const before = d.device()
    let e: unknown
    try {
      d.init({fingerprint: 'SIM-AGAIN', name: 'x', platform: 'p', fingerprintSource: 'given'}, new Date(NOW))
    } catch (error) {
      e = error
    }
    expect(e).toBeInstanceOf(LicadmError)
    expect((e as LicadmError).exit).toBe(ExitCode.conflict)
    expect(d.device()).toEqual(before)
    const after = d.init({fingerprint: 'SIM-AGAIN', name: 'x', platform: 'p', fingerprintSource: 'given'}, new Date(NOW + 1000), true)
    expect(after.signKey).not.toBe(before.signKey)
    expect(existsSync(`${d.dir}.replaced-${NOW + 1000}`)).toBe(true)
  })

  it('an empty directory is "not initialized" (3)', () => {
    const d = new DeviceStore(join(tmp.dir, 'nothing-here'))
    expect(d.exists()).toBe(false)
    expect(() => d.device()).toThrow(/no device is initialized/)
    try {
      d.state()
    } catch (error) {
      expect((error as LicadmError).exit).toBe(ExitCode.notFound)
    }
  })

  it('state updates are whole-file writes that leave no temporary files', () => {
    const d = newDevice()
    d.update((s) => {
      s.usedSaws.push('saw_1')
    })
    expect(d.state().usedSaws).toEqual(['saw_1'])
    expect(readdirSync(d.dir).sort()).toEqual(['device.json', 'enc.pem', 'sign.pem', 'state.json'])
  })
})

describe('device identity file', () => {
  it('is signed by the device key and verifies (with licadm and with jose)', async () => {
    const d = newDevice('SIM-IDENTITY')
    const file = encodeIdentity(d.identity(), d.signer(), NOW / 1000)
    expect(file).toMatch(/^-----BEGIN LICADM DEVICE-----\n/)
    expect(decodeIdentity(file, NOW / 1000)).toEqual(d.identity())
    const {jws} = dearmor(file, 'DEVICE')
    const {protectedHeader} = await compactVerify(jws, await importJWK({kty: 'OKP', crv: 'Ed25519', x: d.device().signKey}, 'EdDSA'))
    expect(protectedHeader).toMatchObject({alg: 'EdDSA', typ: DEVICE_TYP})
  })

  it('a changed fingerprint, name or key is refused (signature); garbage is malformed', () => {
    const d = newDevice('SIM-TAMPER')
    const other = newDevice('SIM-OTHER')
    const file = encodeIdentity(d.identity(), d.signer(), NOW / 1000)
    const [h, p, s] = dearmor(file, 'DEVICE').jws.split('.')
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString())
    const variant = (change: object) => armor('DEVICE', `${h}.${Buffer.from(JSON.stringify({...payload, ...change})).toString('base64url')}.${s}`)
    for (const change of [{sub: 'SIM-OTHER'}, {name: 'renamed'}, {keys: {...payload.keys, enc: other.device().encKey}}]) {
      const e = catchErr(() => decodeIdentity(variant(change), NOW / 1000))
      expect(e.exit, JSON.stringify(change)).toBe(ExitCode.signatureInvalid)
    }
    // The other device's signing key with its signature: the key in the file does not match the signature.
    const swapped = variant({keys: {...payload.keys, sig: other.device().signKey}})
    expect([ExitCode.signatureInvalid, ExitCode.unknownKey]).toContain(catchErr(() => decodeIdentity(swapped, NOW / 1000)).exit)
    expect(catchErr(() => decodeIdentity('not a device file', NOW / 1000)).exit).toBe(ExitCode.malformed)
    expect(catchErr(() => decodeIdentity(variant({keys: {sig: 'AAAA', enc: 'AAAA'}}), NOW / 1000)).exit).toBe(ExitCode.malformed)
  })

  it('an identity file dated more than 5 minutes ahead is refused', () => {
    const d = newDevice()
    const file = encodeIdentity(d.identity(), d.signer(), NOW / 1000 + 3600)
    expect(catchErr(() => decodeIdentity(file, NOW / 1000)).reason).toBe('issued-in-future')
  })
})

describe('machine fingerprint', () => {
  it('is stable, formatted, and lists only input names with present flags', () => {
    const a = machineFingerprint()
    const b = machineFingerprint()
    expect(a).toEqual(b)
    expect(a.fingerprint).toMatch(/^[0-9A-F]{8}-[0-9A-F]{8}-[0-9A-F]{8}-[0-9A-F]{8}$/)
    expect(a.inputs.map((i) => i.name)).toEqual(['machine-id', 'product-uuid', 'board-serial', 'platform', 'architecture', 'cpu-model', 'cpu-count', 'memory-gib'])
    for (const input of a.inputs) expect(Object.keys(input).sort()).toEqual(['name', 'present'])
    expect(a.inputs.find((i) => i.name === 'platform')?.present).toBe(true)
    if (existsSync('/etc/machine-id')) {
      const raw = readFileSync('/etc/machine-id', 'utf8').trim()
      if (raw) {
        expect(a.inputs.find((i) => i.name === 'machine-id')?.present).toBe(true)
        expect(JSON.stringify(a)).not.toContain(raw)
      }
    }
  })
})

function catchErr(fn: () => unknown): VerificationError {
  try {
    fn()
  } catch (error) {
    if (error instanceof VerificationError) return error
    throw error
  }
  throw new Error('expected a refusal')
}
