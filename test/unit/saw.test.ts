import {createPrivateKey, generateKeyPairSync} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {compactDecrypt, decodeProtectedHeader, importSPKI, jwtVerify} from 'jose'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {dearmor, armor} from '../../src/crypto/armor.js'
import {signCompact} from '../../src/crypto/jws.js'
import {keyId, signerFor} from '../../src/crypto/keys.js'
import {x25519PublicFromRaw} from '../../src/crypto/jwe.js'
import {applySaw} from '../../src/device/saw-apply.js'
import type {DeviceStore} from '../../src/device/state.js'
import {AuthError, ConflictError, ExitCode, LicadmError, VerificationError} from '../../src/domain/errors.js'
import {SAW_TYP, encodeSaw, peekSaw, verifySaw} from '../../src/formats/saw.js'
import {adminFixture, type AdminFixture} from '../helpers/admin-fixture.js'
import {racedBy} from './helpers.js'

const DAY = 86_400

let f: AdminFixture
beforeEach(async () => {
  f = await adminFixture()
})
afterEach(async () => {
  await f.close()
})

/** A personal container with `n` devices activated, each given a SAW at activation. */
async function personal(n = 1) {
  await f.backend.directory.createUser({email: 'ada@example.com'})
  const {container, credentials} = await f.backend.containers.create({kind: 'personal', user: 'ada@example.com'})
  const devices: DeviceStore[] = []
  const saws: string[] = []
  for (let i = 0; i < n; i++) {
    const d = await f.device(`dev${i + 1}`)
    const act = await f.backend.devices.activate(container.serial, d.identity(), {user: 'ada@example.com', secret: credentials!.secret})
    devices.push(d)
    saws.push(act.saw!.file)
  }
  return {serial: container.serial, secret: credentials!.secret, devices, saws}
}

async function refusal(fn: () => unknown): Promise<LicadmError> {
  try {
    await fn()
  } catch (error) {
    if (error instanceof LicadmError) return error
    throw error
  }
  throw new Error('expected a refusal, but it was accepted')
}

function b64json(part: string) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
}

describe('SAW files read with jose, independently of licadm', () => {
  it('the JWS verifies with the vendor public key (EdDSA, typ licadm-saw+jwt), and the cred claim decrypts with the device X25519 key', async () => {
    const {serial, secret, devices, saws} = await personal(1)
    const {jws} = dearmor(saws[0], 'SAW')
    const [{pem, kid}] = await f.backend.vendor.exportKey()
    const header = decodeProtectedHeader(jws)
    expect(header).toMatchObject({alg: 'EdDSA', typ: SAW_TYP, kid})
    const {payload} = await jwtVerify(jws, await importSPKI(pem, 'EdDSA'), {typ: SAW_TYP, algorithms: ['EdDSA'], currentDate: new Date(f.clock.now())})
    expect(payload).toMatchObject({iss: '1234', sub: devices[0].device().fingerprint, container: serial, containerKind: 'personal', gen: 1})
    expect(payload.exp! - payload.iat!).toBe(7 * DAY)
    // Never the secret in the clear.
    expect(Buffer.from(jws.split('.')[1], 'base64url').toString()).not.toContain(secret)
    expect(saws[0]).not.toContain(secret)
    const encPem = readFileSync(join(devices[0].dir, 'enc.pem'), 'utf8')
    const {plaintext, protectedHeader} = await compactDecrypt(payload.cred as string, createPrivateKey(encPem))
    expect(protectedHeader).toMatchObject({alg: 'ECDH-ES', enc: 'A256GCM'})
    expect(JSON.parse(Buffer.from(plaintext).toString())).toEqual({credential: secret, container: serial, gen: 1, device: devices[0].device().fingerprint})
  })

  it("another device's key cannot decrypt the credential", async () => {
    const {saws} = await personal(1)
    const other = await f.device('other')
    const {payload} = await jwtVerify(dearmor(saws[0], 'SAW').jws, await importSPKI((await f.backend.vendor.exportKey())[0].pem, 'EdDSA'), {currentDate: new Date(f.clock.now())})
    await expect(compactDecrypt(payload.cred as string, other.encryptionKey())).rejects.toThrow()
  })
})

describe('applySaw on the device: each refusal with its own reason and exit status', () => {
  it('applies, stores the credential and records the SAW as used', async () => {
    const {serial, secret, devices, saws} = await personal(1)
    const d = devices[0]
    const applied = applySaw(d, saws[0], d.trustedKeys(), f.nowSeconds())
    expect(applied).toMatchObject({container: serial, generation: 1})
    const state = d.state()
    expect(state.credentials[serial]).toMatchObject({secret, generation: 1, kind: 'personal', via: `saw:${applied.jti}`})
    expect(state.usedSaws).toEqual([applied.jti])
  })

  it('another device (18)', async () => {
    const {devices, saws} = await personal(2)
    const e = await refusal(() => applySaw(devices[1], saws[0], devices[1].trustedKeys(), f.nowSeconds()))
    expect(e).toMatchObject({reason: 'wrong-target', exit: ExitCode.wrongTarget})
    expect(e.message).toContain(devices[0].device().fingerprint)
    expect(devices[1].state().credentials).toEqual({})
  })

  it('already used (16)', async () => {
    const {devices, saws} = await personal(1)
    applySaw(devices[0], saws[0], devices[0].trustedKeys(), f.nowSeconds())
    const e = await refusal(() => applySaw(devices[0], saws[0], devices[0].trustedKeys(), f.nowSeconds()))
    expect(e).toMatchObject({reason: 'replayed', exit: ExitCode.replayed})
  })

  it('the checks run on the state as it is when the change is made: another process applying in between is seen (16, 19)', async () => {
    const {serial, devices, saws} = await personal(1)
    const d = devices[0]
    const keys = d.trustedKeys()
    // The same SAW applied by another process between this one's read and write: used once only.
    const e = await refusal(() => applySaw(racedBy(d, () => applySaw(d, saws[0], keys, f.nowSeconds())), saws[0], keys, f.nowSeconds()))
    expect(e).toMatchObject({reason: 'replayed', exit: ExitCode.replayed})
    expect(d.state().usedSaws).toEqual([peekSaw(saws[0]).jti])
    // A newer generation applied in between: the older one is refused and the newer one is kept.
    const r1 = await f.backend.containers.resetCredentials(serial)
    const r2 = await f.backend.containers.resetCredentials(serial)
    const older = await refusal(() => applySaw(racedBy(d, () => applySaw(d, r2.saws[0].file, keys, f.nowSeconds())), r1.saws[0].file, keys, f.nowSeconds()))
    expect(older).toMatchObject({reason: 'out-of-order', exit: ExitCode.outOfOrder})
    expect(d.state().credentials[serial]).toMatchObject({generation: 3, secret: r2.credentials.secret})
  })

  it('an older generation than the credential held (19), and the held one is kept', async () => {
    const {serial, devices, saws} = await personal(1)
    const d = devices[0]
    applySaw(d, saws[0], d.trustedKeys(), f.nowSeconds())
    const r1 = await f.backend.containers.resetCredentials(serial)
    const r2 = await f.backend.containers.resetCredentials(serial)
    applySaw(d, r2.saws[0].file, d.trustedKeys(), f.nowSeconds())
    const e = await refusal(() => applySaw(d, r1.saws[0].file, d.trustedKeys(), f.nowSeconds()))
    expect(e).toMatchObject({reason: 'out-of-order', exit: ExitCode.outOfOrder})
    expect(d.state().credentials[serial]).toMatchObject({generation: 3, secret: r2.credentials.secret})
  })

  it('online, a SAW made before the last reset is refused (19) even when the device never held the newer credential', async () => {
    const {serial, devices} = await personal(1)
    const d = devices[0]
    const r1 = await f.backend.containers.resetCredentials(serial)
    await f.backend.containers.resetCredentials(serial)
    const current = (await f.backend.containers.get(serial)).generation
    const e = await refusal(() => applySaw(d, r1.saws[0].file, d.trustedKeys(), f.nowSeconds(), {currentGeneration: current}))
    expect(e).toMatchObject({reason: 'out-of-order', exit: ExitCode.outOfOrder})
    expect(e.message).toMatch(/reset after it was made \(now generation 3\)/)
    expect(d.state()).toMatchObject({credentials: {}, usedSaws: []})
    // Offline (generation unknown) it is stored; the next use with the container then fails.
    expect(applySaw(d, r1.saws[0].file, d.trustedKeys(), f.nowSeconds()).generation).toBe(2)
    expect((await refusal(() => f.backend.devices.access(serial, d.device().fingerprint, d.state().credentials[serial].secret))).exit).toBe(ExitCode.auth)
  })

  it('expired (6), one second after its expiry; accepted one second before', async () => {
    const {devices, saws} = await personal(1)
    const exp = peekSaw(saws[0]).exp
    const e = await refusal(() => applySaw(devices[0], saws[0], devices[0].trustedKeys(), exp + 1))
    expect(e).toMatchObject({reason: 'expired', exit: ExitCode.expired})
    expect(applySaw(devices[0], saws[0], devices[0].trustedKeys(), exp - 1).generation).toBe(1)
  })

  it('tampered: a changed claim (5); a truncated file (10)', async () => {
    const {devices, saws} = await personal(1)
    const {jws} = dearmor(saws[0], 'SAW')
    const [h, p, s] = jws.split('.')
    const payload = b64json(p)
    const changed = armor('SAW', `${h}.${Buffer.from(JSON.stringify({...payload, gen: 9})).toString('base64url')}.${s}`)
    expect(await refusal(() => applySaw(devices[0], changed, devices[0].trustedKeys(), f.nowSeconds()))).toMatchObject({exit: ExitCode.signatureInvalid})
    const truncated = armor('SAW', `${h}.${p}`)
    expect(await refusal(() => applySaw(devices[0], truncated, devices[0].trustedKeys(), f.nowSeconds()))).toMatchObject({exit: ExitCode.malformed})
    expect(devices[0].state().usedSaws).toEqual([])
  })

  it("the credential of another device's SAW pasted into this one is refused (5)", async () => {
    const {devices, saws} = await personal(2)
    const mine = dearmor(saws[1], 'SAW').jws.split('.')
    const theirs = b64json(dearmor(saws[0], 'SAW').jws.split('.')[1])
    const payload = {...b64json(mine[1]), cred: theirs.cred}
    const forged = armor('SAW', `${mine[0]}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${mine[2]}`)
    expect(await refusal(() => applySaw(devices[1], forged, devices[1].trustedKeys(), f.nowSeconds()))).toMatchObject({exit: ExitCode.signatureInvalid})
  })

  /** A genuine SAW for the one device of a new personal container, and the vendor's signer to forge others with. */
  async function vendorSaw() {
    const {serial, secret, devices} = await personal(1)
    const d = devices[0]
    const signer = await f.backend.vendor.signer()
    const now = f.nowSeconds()
    const good = encodeSaw({iss: '1234', jti: 'saw_x', iat: now, exp: now + DAY, sub: d.device().fingerprint, container: serial, containerKind: 'personal', gen: 1}, secret, x25519PublicFromRaw(d.device().encKey), signer)
    return {d, signer, now, good}
  }

  it('a vendor-signed SAW whose encrypted credential is bound to other claims is refused (5)', async () => {
    // The credential says generation 1; the clear claims say 2.
    const {d, signer, now, good} = await vendorSaw()
    const cred = peekSaw(good).cred
    const forged = armor('SAW', signCompact(SAW_TYP, {...peekSaw(good), gen: 2, jti: 'saw_y', cred}, signer))
    const e = await refusal(() => applySaw(d, forged, d.trustedKeys(), now))
    expect(e).toMatchObject({exit: ExitCode.signatureInvalid})
    expect(e.message).toMatch(/does not match its claims/)
  })

  it('a vendor-signed SAW without an expiry is refused (10): every SAW expires', async () => {
    const {d, signer, now, good} = await vendorSaw()
    const {exp: _exp, ...forever} = peekSaw(good)
    const e = await refusal(() => applySaw(d, armor('SAW', signCompact(SAW_TYP, forever, signer)), d.trustedKeys(), now))
    expect(e).toMatchObject({exit: ExitCode.malformed, message: expect.stringMatching(/has no expiry/)})
  })

  it('a foreign vendor key (11): signed by a key this device does not trust', async () => {
    const other = await adminFixture({vendorCode: 999})
    try {
      await other.backend.directory.createUser({email: 'eve@example.com'})
      const {container, credentials} = await other.backend.containers.create({kind: 'personal', user: 'eve@example.com'})
      const d = await f.device('victim')
      const act = await other.backend.devices.activate(container.serial, d.identity(), {user: 'eve@example.com', secret: credentials!.secret})
      const e = await refusal(() => applySaw(d, act.saw!.file, d.trustedKeys(), f.nowSeconds()))
      expect(e).toMatchObject({reason: 'unknown-key', exit: ExitCode.unknownKey})
      expect(d.state().credentials).toEqual({})
    } finally {
      await other.close()
    }
  })

  it("a key pinned for one vendor verifies only that vendor's SAWs (11): on a device that trusts two vendors, one cannot sign for the other", async () => {
    const other = await adminFixture({vendorCode: 999})
    try {
      const {d, now, good} = await vendorSaw()
      const mine = String(peekSaw(good).iss)
      const otherKey = (await other.backend.vendor.exportKey())[0]
      const ownKid = (await f.backend.vendor.exportKey())[0]
      d.trust(otherKey.pem, '999')
      d.trust(ownKid.pem, mine)
      // Vendor 999 signs a SAW that names this device's vendor as its issuer.
      const forged = armor('SAW', signCompact(SAW_TYP, {...peekSaw(good), jti: 'saw_forged'}, await other.backend.vendor.signer()))
      const e = await refusal(() => applySaw(d, forged, d.trustedKeys(), now))
      expect(e).toMatchObject({reason: 'unknown-key', exit: ExitCode.unknownKey, details: {kid: otherKey.kid, pinnedFor: '999', iss: mine}})
      expect(e.message).toMatch(/is pinned for vendor 999/)
      expect(d.state().usedSaws).not.toContain('saw_forged')
      // The vendor's own SAW still applies; trusting its key again without a vendor keeps the pin.
      expect(applySaw(d, good, d.trustedKeys(), now)).toMatchObject({jti: 'saw_x'})
      d.trust(otherKey.pem)
      expect(d.state().trusted[otherKey.kid].vendor).toBe('999')
    } finally {
      await other.close()
    }
  })

  it('a license or other artifact is not a SAW (wrong armor or typ)', async () => {
    const {devices} = await personal(1)
    const {licenses: [lic]} = await f.backend.licenses.create({product: 7})
    const licenseFile = (await f.backend.licenses.export(lic.id)).file
    const e1 = await refusal(() => applySaw(devices[0], licenseFile, devices[0].trustedKeys(), f.nowSeconds()))
    expect(e1).toBeInstanceOf(VerificationError)
    // Same JWS body under SAW armor: typ decides.
    const rearmored = armor('SAW', dearmor(licenseFile, 'LICENSE').jws)
    expect(await refusal(() => applySaw(devices[0], rearmored, devices[0].trustedKeys(), f.nowSeconds()))).toMatchObject({reason: 'wrong-type', exit: ExitCode.wrongType})
  })

  it('verifySaw refuses alg none and a key it was not given', async () => {
    const {saws} = await personal(1)
    const {jws} = dearmor(saws[0], 'SAW')
    const [h, p] = jws.split('.')
    const keys = await f.backend.vendor.verificationKeys()
    const none = armor('SAW', `${Buffer.from(JSON.stringify({...b64json(h), alg: 'none'})).toString('base64url')}.${p}.`)
    expect(await refusal(() => verifySaw(none, keys, f.nowSeconds()))).toBeInstanceOf(VerificationError)
    const stranger = generateKeyPairSync('ed25519')
    const e = await refusal(() => verifySaw(saws[0], new Map([[keyId(stranger.publicKey), stranger.publicKey]]), f.nowSeconds()))
    expect(e.exit).toBe(ExitCode.unknownKey)
    // And a SAW signed by that stranger with the vendor's kid does not verify.
    const forged = armor('SAW', signCompact(SAW_TYP, peekSaw(saws[0]) as unknown as Record<string, unknown>, {...signerFor(stranger.privateKey), kid: (await f.backend.vendor.exportKey())[0].kid}))
    expect((await refusal(() => verifySaw(forged, keys, f.nowSeconds()))).exit).toBe(ExitCode.signatureInvalid)
  })
})

describe('SawService', () => {
  it('create needs the current secret: an old one is refused (7) after a reset', async () => {
    const {serial, secret, devices} = await personal(1)
    const fp = devices[0].device().fingerprint
    const saw = await f.backend.saws.create(serial, fp, secret)
    expect(saw).toMatchObject({serial, fingerprint: fp, generation: 1, expiresAt: f.nowSeconds() + 7 * DAY})
    const reset = await f.backend.containers.resetCredentials(serial, {writeSaws: false})
    const e = await refusal(() => f.backend.saws.create(serial, fp, secret))
    expect(e).toBeInstanceOf(AuthError)
    expect(e.exit).toBe(ExitCode.auth)
    expect((await f.backend.saws.create(serial, fp, reset.credentials.secret, 3600)).expiresAt).toBe(f.nowSeconds() + 3600)
  })

  it('create refuses a local container, an unknown or inactive device, and a device pending removal', async () => {
    const {serial, secret, devices} = await personal(1)
    const {container: local} = await f.backend.containers.create({kind: 'local', device: 'SIM-LOCAL-1'})
    expect((await refusal(() => f.backend.saws.create(local.serial, 'SIM-LOCAL-1', secret))).code).toBe('NOT_A_CLOUD_CONTAINER')
    expect((await refusal(() => f.backend.saws.create(serial, 'SIM-NOBODY', secret))).code).toBe('DEVICE_NOT_ACTIVE')
    const fp = devices[0].device().fingerprint
    await f.backend.containers.unassign(serial)
    const pending = await refusal(() => f.backend.saws.create(serial, fp, secret))
    expect(pending).toBeInstanceOf(ConflictError)
    expect(pending.code).toBe('DEVICE_PENDING_REMOVAL')
    await f.backend.devices.deactivate(serial, fp)
    expect((await refusal(() => f.backend.saws.create(serial, fp, secret))).code).toBe('DEVICE_NOT_ACTIVE')
  })

  it('inspect: valid, then used once it restored a link, superseded after another reset, refused when tampered, unknown from another profile', async () => {
    const {serial, secret, devices} = await personal(1)
    const d = devices[0]
    const fp = d.device().fingerprint
    const r1 = await f.backend.containers.resetCredentials(serial)
    const file = r1.saws[0].file
    const v = await f.backend.saws.inspect(file)
    expect(v).toMatchObject({status: 'valid', claims: {container: serial, gen: 2, sub: fp}})
    expect(JSON.stringify(v)).not.toContain(r1.credentials.secret)
    expect(JSON.stringify(v)).not.toContain(secret)
    expect('cred' in v.claims).toBe(false)
    applySaw(d, file, d.trustedKeys(), f.nowSeconds())
    const grant = await f.backend.devices.access(serial, fp, d.state().credentials[serial].secret)
    expect(grant.restored).toBe(true)
    expect(await f.backend.saws.inspect(file)).toMatchObject({status: 'used', usedAt: f.nowSeconds()})
    // A second SAW of generation 2, superseded by another reset.
    const second = await f.backend.saws.create(serial, fp, r1.credentials.secret)
    await f.backend.containers.resetCredentials(serial, {writeSaws: false})
    const s = await f.backend.saws.inspect(second.file)
    expect(s.status).toBe('superseded')
    expect(s.reason).toMatch(/generation 3/)
    const [h, p, sig] = dearmor(second.file, 'SAW').jws.split('.')
    const tampered = armor('SAW', `${h}.${Buffer.from(JSON.stringify({...b64json(p), sub: 'SIM-OTHER'})).toString('base64url')}.${sig}`)
    expect(await f.backend.saws.inspect(tampered)).toMatchObject({status: 'refused', exitCode: ExitCode.signatureInvalid})
    const expiredAt = f.clock.now()
    f.clock.advance(8 * DAY * 1000)
    expect(await f.backend.saws.inspect(second.file)).toMatchObject({status: 'refused', exitCode: ExitCode.expired})
    f.clock.set(expiredAt)
    const other = await adminFixture({vendorCode: 1234})
    try {
      // Same vendor code, different keys: refused as an unknown key.
      expect(await other.backend.saws.inspect(second.file)).toMatchObject({status: 'refused', exitCode: ExitCode.unknownKey})
    } finally {
      await other.close()
    }
  })

  it('a SAW applied while the link is active (one given at activation) is marked used when the device reports it', async () => {
    const {serial, secret, devices, saws} = await personal(1)
    const d = devices[0]
    const fp = d.device().fingerprint
    expect((await f.backend.saws.inspect(saws[0])).status).toBe('valid')
    const applied = applySaw(d, saws[0], d.trustedKeys(), f.nowSeconds())
    const n = (await f.backend.audit.list({limit: 1000})).events.length
    await f.backend.devices.access(serial, fp, secret, {saw: applied.jti})
    expect(await f.backend.saws.inspect(saws[0])).toMatchObject({status: 'used', usedAt: f.nowSeconds()})
    expect((await f.backend.audit.list({action: 'saw.use'})).events).toEqual([expect.objectContaining({subject: `container:${serial}`, after: {device: fp, saw: applied.jti, generation: 1}})])
    // Reporting it again changes nothing.
    await f.backend.devices.access(serial, fp, secret, {saw: applied.jti})
    expect((await f.backend.audit.list({limit: 1000})).events.length).toBe(n + 1)
    // Another device's SAW id does not mark anything.
    const other = await f.device('other')
    await f.backend.devices.activate(serial, other.identity())
    const hers = await f.backend.saws.create(serial, other.device().fingerprint, secret)
    await f.backend.devices.access(serial, fp, secret, {saw: hers.jti})
    expect((await f.backend.saws.inspect(hers.file)).status).toBe('valid')
  })

  it('a stale link is restored only by the SAW the device names, when it names one', async () => {
    const {serial, devices} = await personal(2)
    const [a, b] = devices
    const r = await f.backend.containers.resetCredentials(serial)
    const sawOf = (d: DeviceStore) => r.saws.find((s) => s.fingerprint === d.device().fingerprint)!
    // Device a holds the new secret but names b's SAW: refused, and b's SAW is not consumed.
    const e = await refusal(() => f.backend.devices.access(serial, a.device().fingerprint, r.credentials.secret, {saw: sawOf(b).jti}))
    expect(e.exit).toBe(ExitCode.auth)
    expect((await f.backend.saws.inspect(sawOf(b).file)).status).toBe('valid')
    expect((await f.backend.devices.access(serial, a.device().fingerprint, r.credentials.secret, {saw: sawOf(a).jti})).restored).toBe(true)
    expect((await f.backend.saws.inspect(sawOf(a).file)).status).toBe('used')
  })

  it('a SAW that expired before it was used does not restore the link (7)', async () => {
    const {serial, devices} = await personal(1)
    const d = devices[0]
    const r = await f.backend.containers.resetCredentials(serial, {sawTtlSeconds: 3600})
    applySaw(d, r.saws[0].file, d.trustedKeys(), f.nowSeconds())
    f.clock.advance(3601 * 1000)
    const e = await refusal(() => f.backend.devices.access(serial, d.device().fingerprint, r.credentials.secret))
    expect(e).toBeInstanceOf(AuthError)
    expect(e.message).toMatch(/expired/)
  })

  it('the same SAW restores a link once: a stale link needs a SAW for the current generation', async () => {
    const {serial, devices} = await personal(1)
    const d = devices[0]
    const fp = d.device().fingerprint
    const r = await f.backend.containers.resetCredentials(serial, {writeSaws: false})
    // The new secret alone does not restore a stale link: the device was given no SAW.
    const e = await refusal(() => f.backend.devices.access(serial, fp, r.credentials.secret))
    expect(e.exit).toBe(ExitCode.auth)
    expect(e.message).toMatch(/not given access/)
  })
})
