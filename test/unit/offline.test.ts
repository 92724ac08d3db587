/**
 * Offline activation in-process: the formats, the vendor's OfflineService (fulfill, confirm,
 * inspect, list) over a real store with a manual clock, and the device side (request, apply, return,
 * licenses, clock watermark) over temporary device directories.
 */
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, afterEach, beforeEach, describe, expect, it} from 'vitest'

import {ManualClock} from '../../src/domain/clock.js'
import {ExitCode, LicadmError, VerificationError} from '../../src/domain/errors.js'
import {signCompact} from '../../src/crypto/jws.js'
import {armor} from '../../src/crypto/armor.js'
import {keyId} from '../../src/crypto/keys.js'
import {ed25519FromRaw} from '../../src/formats/device.js'
import {
  describeOffline,
  encodeReceipt,
  encodeRequest,
  peekOffline,
  RECEIPT_TYP,
  verifyReceipt,
  verifyUpdate,
  type RequestClaims,
} from '../../src/formats/offline.js'
import {localBackend, type Backend} from '../../src/services/backend.js'
import {applyUpdate, checkClock, deviceLicenses, makeRequest, makeReturn, roughDuration} from '../../src/device/offline.js'
import {DeviceStore} from '../../src/device/state.js'
import {racedBy, rejection, tempDir, testKey} from './helpers.js'

const T0 = Date.UTC(2026, 5, 1, 12)
const DAY = 86_400
const tmp = tempDir()
afterAll(tmp.cleanup)
let n = 0

interface World {
  backend: Backend
  clock: ManualClock
  now: () => number
  device: (fingerprint?: string) => DeviceStore
  license: (options?: {expires?: string; product?: number}) => Promise<string>
}

let w: World

beforeEach(async () => {
  const dir = join(tmp.dir, `w-${++n}`)
  const clock = new ManualClock(T0)
  const backend = await localBackend({keyDir: join(dir, 'keys'), storePath: join(dir, 'licadm.db')}, clock, async () => undefined)
  await backend.vendor.init({code: 1001, name: 'Acme'})
  await backend.products.create({code: 7, name: 'Seven'})
  await backend.products.create({code: 8, name: 'Eight'})
  const [{pem}] = await backend.vendor.exportKey()
  let d = 0
  w = {
    backend,
    clock,
    now: () => Math.floor(clock.now() / 1000),
    device: (fingerprint = `SIM-${n}-${++d}`) => {
      const store = new DeviceStore(join(dir, `dev-${fingerprint}`))
      store.init({fingerprint, name: fingerprint, platform: 'test', fingerprintSource: 'given'}, new Date(clock.now()))
      store.trust(pem)
      return store
    },
    license: async (options = {}) => (await backend.licenses.create({product: options.product ?? 7, expires: options.expires})).licenses[0].id,
  }
})
afterEach(async () => {
  await w.backend.close()
})

/** A device with a new local container holding `licenses`, confirmed. */
async function activated(licenses: string[]) {
  const store = w.device()
  const req = makeRequest(store, {vendor: 1001}, w.now())
  const update = await w.backend.offline.fulfill(req.file, {licenses})
  const applied = applyUpdate(store, update.file, store.trustedKeys(), w.now())
  await w.backend.offline.confirm(applied.receipt)
  return {store, serial: update.container, update, applied}
}

describe('formats', () => {
  it('each kind has its own typ: an update is not a receipt even when signed by the right key', async () => {
    const {store, update, applied} = await activated([await w.license()])
    const vendorKeys = await w.backend.vendor.verificationKeys()
    expect(verifyUpdate(update.file, vendorKeys, w.now()).claims.counter).toBe(1)
    const jws = peekOffline(update.file).jws
    const e = await rejection(Promise.resolve().then(() => verifyReceipt(armor('RECEIPT', jws), vendorKeys, w.now())))
    expect(e).toBeInstanceOf(VerificationError)
    expect((e as VerificationError).reason).toBe('wrong-type')
    const deviceKey = ed25519FromRaw(store.identity().signKey)
    expect(verifyReceipt(applied.receipt, new Map([[keyId(deviceKey), deviceKey]]), w.now()).counter).toBe(1)
  })

  it('peekOffline names a return request; describeOffline says what each file is', async () => {
    const lic = await w.license()
    const {store, serial, update, applied} = await activated([lic])
    const ret = makeReturn(store, lic, w.now())
    expect(peekOffline(ret.file).kind).toBe('return')
    expect(describeOffline(peekOffline(ret.file)).summary).toBe(`A return request from device ${store.device().fingerprint} (${store.device().fingerprint}, test): it gives back license ${lic} from container ${serial}, at counter 1. Fulfilling it frees the license for another device.`)
    const u = describeOffline(peekOffline(update.file))
    expect(u).toMatchObject({kind: 'update', counter: 1, container: serial, licenses: [lic], added: [lic], removed: [], from: 'vendor 1001'})
    expect(describeOffline(peekOffline(applied.receipt)).summary).toContain(`applied update ${update.jti} from vendor 1001 to container ${serial}, is now at counter 1 and holds 1 license(s)`)
    // A request whose payload was changed no longer matches the key it carries.
    const forged = describeOffline({...peekOffline(ret.file), jws: peekOffline(ret.file).jws.replace(/\.[^.]+\./, `.${Buffer.from('{"sub":"x"}').toString('base64url')}.`)})
    expect(forged.selfSigned).toBe(false)
    expect(describeOffline(peekOffline(ret.file)).selfSigned).toBe(true)
  })

  it('peekOffline refuses other armored kinds (12) and text that is not armored (10)', async () => {
    const lic = await w.license()
    const {file} = await w.backend.licenses.export(lic)
    expect(() => peekOffline(file)).toThrow(/LICENSE file, not an offline activation file/)
    try {
      peekOffline('nothing here')
    } catch (error) {
      expect((error as LicadmError).exit).toBe(ExitCode.malformed)
    }
  })
})

describe('OfflineService.fulfill', () => {
  it('a new local container: bound to the device, the device registered and active, licenses assigned, audited', async () => {
    const a = await w.license()
    const b = await w.license()
    const {store, serial, update} = await activated([a, b])
    const fp = store.device().fingerprint
    expect(update).toMatchObject({containerCreated: true, counter: 1, device: fp, purpose: 'activate', state: 'pending'})
    const details = await w.backend.containers.details(serial)
    expect(details).toMatchObject({kind: 'local', owner: {fingerprint: fp}})
    expect(details.licenses.map((l) => [l.id, l.status]).sort()).toEqual([[a, 'assigned'], [b, 'assigned']].sort())
    expect(details.devices).toEqual([expect.objectContaining({fingerprint: fp, state: 'active'})])
    expect((await w.backend.devices.show(fp)).activations).toHaveLength(1)
    const actions = (await w.backend.audit.list()).events.map((e) => e.action)
    expect(actions).toEqual(expect.arrayContaining(['container.create', 'device.activate', 'offline.fulfill', 'offline.confirm']))
    expect((await w.backend.audit.verify()).ok).toBe(true)
    expect((await w.backend.offline.list({state: 'confirmed'})).map((u) => u.jti)).toEqual([update.jti])
  })

  it('re-fulfilling returns the same update whatever the order of the flags; other licenses are a conflict', async () => {
    const a = await w.license()
    const b = await w.license()
    const store = w.device()
    const req = makeRequest(store, {vendor: 1001}, w.now())
    const first = await w.backend.offline.fulfill(req.file, {licenses: [a, b]})
    w.clock.advance(20 * DAY * 1000)
    // Even past its max age: it was fulfilled, so the same update comes back.
    const again = await w.backend.offline.fulfill(req.file, {licenses: [b, a]})
    expect(again).toMatchObject({jti: first.jti, file: first.file, replayed: true})
    expect((await w.backend.offline.fulfill(req.file)).file).toBe(first.file)
    const e = await rejection(w.backend.offline.fulfill(req.file, {licenses: [a]}))
    expect(e).toMatchObject({code: 'REQUEST_FULFILLED', exit: ExitCode.conflict})
    expect(await w.backend.offline.list()).toHaveLength(1)
  })

  it("a request id is no secret: another device's request under the same id gets nothing (16), and its holder's update is still its own", async () => {
    const lic = await w.license()
    const victim = w.device()
    const req = makeRequest(victim, {vendor: 1001}, w.now())
    const issued = await w.backend.offline.fulfill(req.file, {licenses: [lic]})
    // A new device signs a request of its own that reuses the victim's request id.
    const thief = w.device()
    const own = peekOffline(makeRequest(thief, {vendor: 1001}, w.now()).file).claims as unknown as RequestClaims
    const forged = encodeRequest({...own, jti: req.jti}, thief.signer())
    const e = await rejection(w.backend.offline.fulfill(forged))
    expect(e).toMatchObject({code: 'REPLAYED', exit: ExitCode.replayed, message: expect.stringMatching(`fulfilled for device ${victim.identity().fingerprint}, not for device ${thief.identity().fingerprint}`)})
    expect((await w.backend.offline.inspect(forged)).status).toBe('refused')
    expect(await w.backend.devices.list()).toHaveLength(1)
    expect((await w.backend.offline.fulfill(req.file)).file).toBe(issued.file)
  })

  it('--product picks the oldest usable license of the product; none left is a conflict (4)', async () => {
    // Made a second apart: the oldest is the first by creation time.
    const expired = await w.license({expires: '1d'})
    w.clock.advance(1000)
    const first = await w.license()
    w.clock.advance(1000)
    const second = await w.license()
    await w.license({product: 8})
    w.clock.advance(2 * DAY * 1000)
    const store = w.device()
    const up = await w.backend.offline.fulfill(makeRequest(store, {vendor: 1001}, w.now()).file, {products: ['7']})
    expect(up.added).toEqual([first])
    expect(up.added).not.toContain(expired)
    const other = w.device()
    const up2 = await w.backend.offline.fulfill(makeRequest(other, {vendor: 1001}, w.now()).file, {products: [7]})
    expect(up2.added).toEqual([second])
    const e = await rejection(w.backend.offline.fulfill(makeRequest(w.device(), {vendor: 1001}, w.now()).file, {products: [7]}))
    expect(e).toMatchObject({code: 'NO_AVAILABLE_LICENSE', exit: ExitCode.conflict})
  })

  it('the container rule is the same as container add-license: revoked, expired, in another container (4)', async () => {
    const revoked = await w.license()
    await w.backend.licenses.revoke(revoked)
    const soon = await w.license({expires: '1h'})
    const held = await w.license()
    await activated([held])
    w.clock.advance(2 * 3600 * 1000)
    const req = () => makeRequest(w.device(), {vendor: 1001}, w.now()).file
    expect(await rejection(w.backend.offline.fulfill(req(), {licenses: [revoked]}))).toMatchObject({code: 'LICENSE_REVOKED', exit: 4})
    expect(await rejection(w.backend.offline.fulfill(req(), {licenses: [soon]}))).toMatchObject({code: 'LICENSE_EXPIRED', exit: 4})
    expect(await rejection(w.backend.offline.fulfill(req(), {licenses: [held]}))).toMatchObject({code: 'LICENSE_IN_OTHER_CONTAINER', exit: 4})
    // Nothing was left behind by the refused requests: no container, no device.
    expect((await w.backend.containers.list()).length).toBe(1)
    expect((await w.backend.devices.list()).length).toBe(1)
  })

  it('by ticket', async () => {
    const id = await w.license()
    const {ticket} = await w.backend.licenses.get(id)
    const up = await w.backend.offline.fulfill(makeRequest(w.device(), {vendor: 1001}, w.now()).file, {tickets: [ticket.toLowerCase()]})
    expect(up.added).toEqual([id])
  })

  it('usage: an activation request needs licenses; a return request takes none (2)', async () => {
    const lic = await w.license()
    const e = await rejection(w.backend.offline.fulfill(makeRequest(w.device(), {vendor: 1001}, w.now()).file))
    expect(e.exit).toBe(ExitCode.usage)
    const {store} = await activated([lic])
    const ret = makeReturn(store, lic, w.now())
    expect((await rejection(w.backend.offline.fulfill(ret.file, {licenses: [lic]}))).exit).toBe(ExitCode.usage)
  })

  it('refuses: another vendor (18), container of another device (18), counter ahead or behind (19), too old (6), license not in the container (3)', async () => {
    const lic = await w.license()
    const spare = await w.license()
    const {store, serial} = await activated([lic])
    const wrongVendor = makeRequest(w.device(), {vendor: 9999}, w.now())
    expect((await rejection(w.backend.offline.fulfill(wrongVendor.file, {licenses: [spare]}))).exit).toBe(ExitCode.wrongTarget)

    // Device B is known (it has its own container) but asks for A's container.
    const {store: b} = await activated([await w.license()])
    const forB = makeRequest(b, {container: serial}, w.now())
    const e = await rejection(w.backend.offline.fulfill(forB.file, {licenses: [spare]}))
    expect(e.exit).toBe(ExitCode.wrongTarget)
    expect(e.message).toContain(`is bound to device ${store.device().fingerprint}`)

    const ahead = encodeRequest({...(peekOffline(makeRequest(store, {container: serial}, w.now()).file).claims as unknown as RequestClaims), counter: 5}, store.signer())
    expect(await rejection(w.backend.offline.fulfill(ahead, {licenses: [spare]}))).toMatchObject({exit: ExitCode.outOfOrder})
    const behind = makeRequest(store, {container: serial}, w.now())
    const current = makeRequest(store, {container: serial}, w.now())
    await w.backend.offline.fulfill(current.file, {licenses: [spare]})
    const late = await rejection(w.backend.offline.fulfill(behind.file, {licenses: [await w.license()]}))
    expect(late.exit).toBe(ExitCode.outOfOrder)
    expect(late.details).toMatchObject({counter: 1, issued: 2})

    const old = makeRequest(w.device(), {vendor: 1001}, w.now())
    w.clock.advance(3 * DAY * 1000)
    const fresh = await w.license()
    expect(await rejection(w.backend.offline.fulfill(old.file, {licenses: [fresh]}, {maxAgeSeconds: 2 * DAY}))).toMatchObject({exit: ExitCode.expired, code: 'EXPIRED'})
    expect((await w.backend.offline.fulfill(old.file, {licenses: [fresh]})).counter).toBe(1)

  })

  it('a return of a license the container does not hold: 3', async () => {
    const lic = await w.license()
    const {store, serial} = await activated([lic])
    const claims = peekOffline(makeRequest(store, {container: serial}, w.now()).file).claims as unknown as RequestClaims
    const file = encodeRequest({...claims, purpose: 'return', license: 'lic_not_here'}, store.signer())
    const e = await rejection(w.backend.offline.fulfill(file))
    expect(e.exit).toBe(ExitCode.notFound)
    expect(e.hint).toContain(`not in container ${serial}`)
  })

  it('a request from a device that re-initialized with new keys under the same fingerprint: 11', async () => {
    const {store} = await activated([await w.license()])
    const fp = store.device().fingerprint
    const clone = new DeviceStore(join(tmp.dir, `clone-${n}`))
    clone.init({fingerprint: fp, name: 'clone', platform: 'test', fingerprintSource: 'given'}, new Date(w.clock.now()))
    const e = await rejection(w.backend.offline.fulfill(makeRequest(clone, {vendor: 1001}, w.now()).file, {licenses: [await w.license()]}))
    expect(e.exit).toBe(ExitCode.unknownKey)
    expect(e.message).toContain(`device ${fp} is registered with another key`)
  })

  it('a request from a device deactivated on its container: 17', async () => {
    const {store, serial} = await activated([await w.license()])
    await w.backend.devices.deactivate(serial, store.device().fingerprint)
    const e = await rejection(w.backend.offline.fulfill(makeRequest(store, {container: serial}, w.now()).file, {licenses: [await w.license()]}))
    expect(e).toMatchObject({exit: ExitCode.revoked, code: 'REVOKED'})
  })

  it('a request for a cloud container the device is activated on (offline update of a personal container)', async () => {
    await w.backend.directory.createUser({email: 'ada@example.com'})
    const {container} = await w.backend.containers.create({kind: 'personal', user: 'ada@example.com'})
    const store = w.device()
    await w.backend.devices.activate(container.serial, store.identity(), {user: 'ada@example.com'})
    const lic = await w.license()
    const up = await w.backend.offline.fulfill(makeRequest(store, {container: container.serial}, w.now()).file, {licenses: [lic]})
    expect(up).toMatchObject({container: container.serial, counter: 1, containerCreated: false})
    const applied = applyUpdate(store, up.file, store.trustedKeys(), w.now())
    expect(applied.licenses).toEqual([lic])
    // A device not activated on it: 18.
    const stranger = w.device()
    await w.backend.devices.activate(container.serial, stranger.identity(), {user: 'ada@example.com'})
    await w.backend.devices.deactivate(container.serial, stranger.identity().fingerprint)
    expect((await rejection(w.backend.offline.fulfill(makeRequest(stranger, {container: container.serial}, w.now()).file, {licenses: [await w.license()]}))).exit).toBe(ExitCode.revoked)
    // A second device linked to the container keeps its own counter: the first device's update
    // (which it cannot apply) does not stand in its way.
    const second = w.device()
    await w.backend.devices.activate(container.serial, second.identity(), {user: 'ada@example.com'})
    const lic2 = await w.license()
    const up2 = await w.backend.offline.fulfill(makeRequest(second, {container: container.serial}, w.now()).file, {licenses: [lic2]})
    expect(up2).toMatchObject({container: container.serial, counter: 1, device: second.identity().fingerprint})
    expect(applyUpdate(second, up2.file, second.trustedKeys(), w.now()).licenses.sort()).toEqual([lic, lic2].sort())
    await w.backend.offline.confirm(applyUpdate(store, (await w.backend.offline.fulfill(makeRequest(store, {container: container.serial}, w.now()).file, {licenses: [lic]})).file, store.trustedKeys(), w.now()).receipt)
    expect(store.state().containers?.[container.serial]).toMatchObject({counter: 2})
  })
})

describe('OfflineService.confirm and inspect', () => {
  it('a receipt for an update never issued (3), from another device (18), not matching (4, recorded)', async () => {
    const lic = await w.license()
    const {store, update, applied} = await activated([lic])
    const claims = peekOffline(applied.receipt).claims as any
    const never = encodeReceipt({...claims, jti: 'rcp_x', update: 'upd_never'}, store.signer())
    expect(await rejection(w.backend.offline.confirm(never))).toMatchObject({code: 'UPDATE_NOT_ISSUED', exit: ExitCode.notFound})
    const {store: other} = await activated([await w.license()])
    const fromOther = encodeReceipt({...claims, jti: 'rcp_o', iss: other.device().fingerprint, sub: other.device().fingerprint}, other.signer())
    expect((await rejection(w.backend.offline.confirm(fromOther))).exit).toBe(ExitCode.wrongTarget)
    const wrongHash = encodeReceipt({...claims, jti: 'rcp_h', updateHash: 'AAAA'}, store.signer())
    const e = await rejection(w.backend.offline.confirm(wrongHash))
    expect(e).toMatchObject({code: 'RECEIPT_MISMATCH', exit: ExitCode.conflict})
    expect(e.details?.problems).toEqual(['the update it applied is not the one issued (its content differs)'])
    const row = (await w.backend.offline.list()).find((u) => u.jti === update.jti)!
    expect(row).toMatchObject({state: 'confirmed', mismatch: 'the update it applied is not the one issued (its content differs)'})
    expect((await w.backend.offline.inspect(wrongHash)).status).toBe('mismatch')
    expect((await w.backend.offline.inspect(applied.receipt)).status).toBe('confirmed')
    // From a device the vendor never saw: 11.
    const unknown = w.device('SIM-UNKNOWN')
    const e11 = await rejection(w.backend.offline.confirm(encodeReceipt({...claims, jti: 'rcp_u', iss: 'SIM-UNKNOWN', sub: 'SIM-UNKNOWN'}, unknown.signer())))
    expect(e11).toMatchObject({code: 'UNKNOWN_DEVICE', exit: ExitCode.unknownKey})
    expect((await w.backend.audit.verify()).ok).toBe(true)
  })

  it('inspect gives each kind a verdict without changing anything', async () => {
    const lic = await w.license()
    const store = w.device()
    const req = makeRequest(store, {vendor: 1001}, w.now())
    expect(await w.backend.offline.inspect(req.file)).toMatchObject({status: 'acceptable'})
    const up = await w.backend.offline.fulfill(req.file, {licenses: [lic]})
    expect((await w.backend.offline.inspect(req.file)).status).toBe('fulfilled')
    expect((await w.backend.offline.inspect(up.file)).status).toBe('pending')
    const applied = applyUpdate(store, up.file, store.trustedKeys(), w.now())
    expect((await w.backend.offline.inspect(applied.receipt)).status).toBe('acceptable')
    expect((await w.backend.offline.list({state: 'pending'})).length).toBe(1)
    // A foreign key's update.
    const foreign = testKey()
    const jws = signCompact('licadm-update+jwt', peekOffline(up.file).claims, foreign.signer)
    expect(await w.backend.offline.inspect(armor('UPDATE', jws))).toMatchObject({status: 'refused', exitCode: ExitCode.unknownKey})
    await expect(w.backend.offline.list({state: 'bogus'})).rejects.toMatchObject({exit: ExitCode.usage})
  })
})

describe('device side', () => {
  it('makeRequest needs exactly one of --container and --vendor (2)', () => {
    const store = w.device()
    expect(() => makeRequest(store, {}, w.now())).toThrow(/either --container/)
    expect(() => makeRequest(store, {vendor: 1, container: 'L-1'}, w.now())).toThrow(/either --container/)
  })

  it('an update carrying a license signed by another key is refused whole (11), and nothing changes', async () => {
    const lic = await w.license()
    const store = w.device()
    const req = makeRequest(store, {vendor: 1001}, w.now())
    const up = await w.backend.offline.fulfill(req.file, {licenses: [lic]})
    const claims = peekOffline(up.file).claims as any
    const foreign = testKey()
    const bogusLicense = signCompact('licadm-license+jwt', {iss: '1001', sub: 'lic_fake', product: 7}, foreign.signer)
    const signer = await w.backend.vendor.signer()
    const crafted = armor('UPDATE', signCompact('licadm-update+jwt', {...claims, jti: 'upd_crafted', licenses: [...claims.licenses, bogusLicense]}, signer))
    const before = JSON.stringify(store.state())
    const e = await rejection(Promise.resolve().then(() => applyUpdate(store, crafted, store.trustedKeys(), w.now())))
    expect(e.exit).toBe(ExitCode.unknownKey)
    expect(JSON.stringify(store.state())).toBe(before)
  })

  it('the receipt is signed by the device, names the update and its hash, and lists what the device holds', async () => {
    const a = await w.license()
    const {store, update, applied} = await activated([a])
    const claims = peekOffline(applied.receipt).claims as any
    expect(claims).toMatchObject({iss: store.device().fingerprint, update: update.jti, counter: 1, holds: [a], vendor: '1001'})
    expect(peekOffline(applied.receipt).header).toMatchObject({alg: 'EdDSA', typ: RECEIPT_TYP, kid: store.signer().kid})
    expect(store.state().containers![update.container].lastReceipt).toBe(applied.receipt)
  })

  it('the counter and replay checks run on the state as it is when the update is applied: another process applying it in between is seen (16)', async () => {
    const lic = await w.license()
    const store = w.device()
    const req = makeRequest(store, {vendor: 1001}, w.now())
    const update = await w.backend.offline.fulfill(req.file, {licenses: [lic]})
    const keys = store.trustedKeys()
    const e = await rejection(Promise.resolve().then(() => applyUpdate(racedBy(store, () => applyUpdate(store, update.file, keys, w.now())), update.file, keys, w.now())))
    expect(e).toMatchObject({reason: 'replayed', exit: ExitCode.replayed})
    expect(store.state().containers![update.container]).toMatchObject({counter: 1, applied: [update.jti]})
  })

  it('a return made by another process in between is seen: one request for the license, handed out again', async () => {
    const lic = await w.license()
    const {store} = await activated([lic])
    let first: ReturnType<typeof makeReturn> | undefined
    const second = makeReturn(racedBy(store, () => (first = makeReturn(store, lic, w.now()))), lic, w.now())
    expect(second).toMatchObject({repeated: true, jti: first!.jti, file: first!.file})
    expect(Object.values(store.state().requests ?? {}).filter((r) => r.purpose === 'return')).toHaveLength(1)
  })

  it('makeReturn: unknown license (3); asked twice, the same file; the license leaves the device at once', async () => {
    const lic = await w.license()
    const {store} = await activated([lic])
    expect(() => makeReturn(store, 'lic_nope', w.now())).toThrow(/license lic_nope not found/)
    const first = makeReturn(store, lic, w.now())
    const second = makeReturn(store, lic, w.now())
    expect(second).toMatchObject({repeated: true, file: first.file, jti: first.jti})
    const listed = deviceLicenses(store, store.trustedKeys(), w.now())
    expect(listed.licenses).toEqual([])
    expect(listed.containers[0].pendingReturns).toEqual([lic])
  })

  it('a license an offline update put on a device is not taken out of its container (4) until the device returns it, or with force', async () => {
    const [kept, other] = [await w.license(), await w.license()]
    const {store, serial} = await activated([kept, other])
    const e = await rejection(w.backend.containers.removeLicense(serial, kept))
    expect(e).toMatchObject({code: 'LICENSE_ON_OFFLINE_DEVICE', exit: ExitCode.conflict, details: {license: kept, device: store.identity().fingerprint}})
    expect((await w.backend.licenses.get(kept)).status).toBe('assigned')
    // Returned by the device: the license is free, and the other one is still held offline.
    const returned = await w.backend.offline.fulfill(makeReturn(store, kept, w.now()).file)
    expect(returned.removed).toEqual([kept])
    expect((await w.backend.licenses.get(kept)).status).toBe('available')
    expect((await rejection(w.backend.containers.removeLicense(serial, other))).code).toBe('LICENSE_ON_OFFLINE_DEVICE')
    // With force it goes, and the audit event says whose copy stays.
    expect(await w.backend.containers.removeLicense(serial, other, {force: true})).toEqual({serial, licenseId: other, offlineDevice: store.identity().fingerprint})
    const {events} = await w.backend.audit.list({action: 'container.remove-license'})
    expect(events.at(-1)?.after).toMatchObject({forced: true, offlineDevice: store.identity().fingerprint})
  })

  it('clock: the watermark only moves forward; a clock behind it by more than the tolerance is a rollback', async () => {
    const store = w.device()
    const t = w.now()
    expect(checkClock(store.state(), t)).toMatchObject({watermark: null, rolledBack: false})
    makeRequest(store, {vendor: 1001}, t + 1000)
    expect(store.state().watermark).toBe(t + 1000)
    makeRequest(store, {vendor: 1001}, t)
    expect(store.state().watermark).toBe(t + 1000)
    expect(checkClock(store.state(), t + 1000 - 3600)).toMatchObject({rolledBack: false, behindSeconds: 3600})
    expect(checkClock(store.state(), t + 1000 - 3601)).toMatchObject({rolledBack: true})
    expect(checkClock(store.state(), t + 1000 - 3601, 7200).rolledBack).toBe(false)
    expect(roughDuration(31 * DAY + 7200)).toBe('31d 2h')
    expect(roughDuration(3 * 3600 + 300)).toBe('3h 5m')
  })

  it('deviceLicenses: with the clock rolled back, licenses with an expiry are refused, the others stay valid', async () => {
    const forever = await w.license()
    const yearly = await w.license({expires: '365d'})
    const {store} = await activated([forever, yearly])
    const t = w.now()
    const ok = deviceLicenses(store, store.trustedKeys(), t + 10 * DAY)
    expect(ok.clock.rolledBack).toBe(false)
    expect(ok.licenses.every((l) => l.status === 'valid')).toBe(true)
    const back = deviceLicenses(store, store.trustedKeys(), t)
    expect(back.clock).toMatchObject({rolledBack: true})
    const status = Object.fromEntries(back.licenses.map((l) => [l.id, l.status]))
    expect(status).toEqual({[forever]: 'valid', [yearly]: 'clock-rolled-back'})
    // The rollback does not lower the watermark.
    expect(store.state().watermark).toBe(t + 10 * DAY)
    const later = deviceLicenses(store, store.trustedKeys(), t + 400 * DAY)
    expect(Object.fromEntries(later.licenses.map((l) => [l.id, l.status]))).toEqual({[forever]: 'valid', [yearly]: 'expired'})
    // A license file changed in the device directory is reported invalid.
    store.update((s) => {
      const c = Object.values(s.containers!)[0]
      c.licenses[forever].file = c.licenses[forever].file.replace(/\n[A-Za-z0-9+/]{10}/, (m) => `\n${m.slice(1, 2) === 'A' ? 'B' : 'A'}${m.slice(2)}`)
    })
    const tampered = deviceLicenses(store, store.trustedKeys(), t + 400 * DAY)
    expect(tampered.licenses.find((l) => l.id === forever)!.status).toBe('invalid')
  })

  it('an older device state file (SAW credentials only) keeps working', async () => {
    const store = w.device()
    writeFileSync(join(store.dir, 'state.json'), JSON.stringify({credentials: {'P-1': {secret: 's', generation: 1, kind: 'personal', receivedAt: 'x', via: 'saw:1'}}, usedSaws: ['saw_1'], trusted: store.state().trusted}))
    const lic = await w.license()
    const up = await w.backend.offline.fulfill(makeRequest(store, {vendor: 1001}, w.now()).file, {licenses: [lic]})
    applyUpdate(store, up.file, store.trustedKeys(), w.now())
    const state = store.state()
    expect(state.credentials['P-1'].secret).toBe('s')
    expect(state.usedSaws).toEqual(['saw_1'])
    expect(Object.keys(state.containers!)).toEqual([up.container])
  })

})
