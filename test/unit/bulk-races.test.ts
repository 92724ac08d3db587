/**
 * Another process acting on the profile while licadm signs and stores. Signing keys rotated
 * meanwhile: nothing is stored under a key that is no longer the vendor's active key (licenses, bulk
 * chunks, SAW files, offline updates), and a bulk run goes on with the new key. An idempotency key
 * used meanwhile: the refusal says what the run had stored. The other process is a second store
 * connection to the same profile; it acts right before a chosen write transaction of this one, so
 * the race is deterministic.
 */
import {join} from 'node:path'

import {afterAll, afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import {ManualClock} from '../../src/domain/clock.js'
import {DeviceStore} from '../../src/device/state.js'
import {makeRequest} from '../../src/device/offline.js'
import {verifyUpdate} from '../../src/formats/offline.js'
import {verifySaw} from '../../src/formats/saw.js'
import {localBackend, servicesOver, type Backend, type Services} from '../../src/services/backend.js'
import {KeyRing} from '../../src/services/keyring.js'
import {CHUNK_SIZE} from '../../src/services/licenses.js'
import {openStore, type Store} from '../../src/store/store.js'
import {rejection, tempDir} from './helpers.js'

const T0 = Date.UTC(2026, 5, 1, 12)
const tmp = tempDir()
afterAll(tmp.cleanup)
let n = 0

let dir: string
let clock: ManualClock
let store: Store
/** This process: the services whose transactions the other process races. */
let me: Services
/** Another process on the same profile (its own store connection). */
let other: Backend

beforeEach(async () => {
  dir = join(tmp.dir, `rot-${++n}`)
  const paths = {keyDir: join(dir, 'keys'), storePath: join(dir, 'licadm.db')}
  clock = new ManualClock(T0)
  store = await openStore({path: paths.storePath})
  me = servicesOver({store, keys: new KeyRing(paths.keyDir), clock, actor: 'test:me'})
  await me.vendor.init({code: 1234, name: 'Vendor'})
  await me.products.create({code: 7, name: 'Seven'})
  other = await localBackend(paths, clock, async () => undefined, 'test:other')
})
afterEach(async () => {
  await other.close()
  await store.close()
})

/** Runs `action` right before this process's `nth` write transaction from now (1 is the next one). */
function beforeWrite(nth: number, action: () => Promise<void>): void {
  const write = store.write.bind(store)
  let calls = 0
  vi.spyOn(store, 'write').mockImplementation(async (fn) => {
    if (++calls === nth) await action()
    return write(fn)
  })
}

/** `key rotate` in the other process, then `key remove OLD` unless `keep`; the old kid. */
async function rotate(options: {keep?: boolean} = {}): Promise<string> {
  const old = await other.vendor.activeKid()
  await other.vendor.rotate()
  if (!options.keep) await other.vendor.removeKey(old)
  return old
}

const all = async () => (await other.licenses.list({limit: 10_000})).licenses

/** A CSV of `rows` rows of product 7; line i + 2 is row i. */
const csv = (rows: number) => ['product,customer', ...Array.from({length: rows}, (_, i) => `7,c${i}`)].join('\n')

describe('a signing key rotated while licenses are issued', () => {
  // 2,500 rows: signing threads (from 2,000 licenses); 1,005 rows: signed on this thread. Either way
  // the chunks after the first were laid out and signed ahead with the old key.
  for (const [rows, how] of [
    [2 * CHUNK_SIZE + 500, 'signing threads'],
    [CHUNK_SIZE + 5, 'this thread'],
  ] as const) {
    for (const keep of [false, true]) {
      it(`bulk (${how}): chunks stored after "key rotate"${keep ? '' : ' and "key remove OLD"'} are signed with the new key, and the run completes`, async () => {
        let old = ''
        let storedBefore = -1
        beforeWrite(2, async () => {
          storedBefore = (await all()).length
          old = await rotate({keep})
        })
        const summary = await me.bulk.run(csv(rows), 'csv')
        expect(summary).toMatchObject({rows, issued: rows, alreadyIssued: 0})
        expect(storedBefore).toBe(CHUNK_SIZE)
        const active = await other.vendor.activeKid()
        const licenses = await all()
        expect(licenses).toHaveLength(rows)
        // Only what was committed before the rotation carries the old key.
        expect(licenses.filter((l) => l.kid === old)).toHaveLength(storedBefore)
        expect(licenses.filter((l) => l.kid === active)).toHaveLength(rows - storedBefore)
        // And they verify with the profile's keys (the last row was in the last chunk).
        const last = summary.licenses.at(-1)!
        expect(last.line).toBe(rows + 1)
        expect((await other.licenses.verify((await other.licenses.export(last.id)).file)).kid).toBe(active)
      })
    }
  }

  it('a rotation before the first chunk is stored: every license is signed with the new key', async () => {
    beforeWrite(1, async () => void (await rotate()))
    const summary = await me.bulk.run(csv(2 * CHUNK_SIZE + 500), 'csv')
    const active = await other.vendor.activeKid()
    expect(summary.issued).toBe(2 * CHUNK_SIZE + 500)
    expect(new Set((await all()).map((l) => l.kid))).toEqual(new Set([active]))
  })

  it('license create: a license signed with the old key is signed again with the new key before it is stored', async () => {
    beforeWrite(1, async () => void (await rotate()))
    const {licenses} = await me.licenses.create({product: 7, customer: 'ACME'}, {idempotencyKey: 'order-1'})
    const active = await other.vendor.activeKid()
    expect(licenses[0].kid).toBe(active)
    expect((await other.licenses.verify((await other.licenses.export(licenses[0].id)).file)).kid).toBe(active)
    expect(await all()).toHaveLength(1)
  })
})

/** A personal container of ada with one device activated (given its SAW). */
async function activated(): Promise<{serial: string; secret: string; device: DeviceStore}> {
  await me.directory.createUser({email: 'ada@example.com'})
  const {container, credentials} = await me.containers.create({kind: 'personal', user: 'ada@example.com'})
  const device = new DeviceStore(join(dir, 'dev-1'))
  device.init({fingerprint: 'SIM-DEV-1', name: 'dev1', platform: 'linux-x64', fingerprintSource: 'given'}, new Date(clock.now()))
  await me.devices.activate(container.serial, device.identity(), {user: 'ada@example.com', secret: credentials!.secret})
  return {serial: container.serial, secret: credentials!.secret, device}
}

describe('a signing key rotated while a SAW file or an offline update is made', () => {
  const now = () => Math.floor(clock.now() / 1000)

  it('saw create: the SAW is signed with the new key', async () => {
    const {serial, secret, device} = await activated()
    beforeWrite(1, async () => void (await rotate()))
    const saw = await me.saws.create(serial, device.device().fingerprint, secret)
    // Verifies with the keys the profile has now (the old one was removed).
    expect(verifySaw(saw.file, await other.vendor.verificationKeys(), now()).jti).toBe(saw.jti)
  })

  it('container reset-credentials: its SAWs are signed with the new key, and the generation moves once', async () => {
    const {serial} = await activated()
    const before = await other.containers.get(serial)
    beforeWrite(1, async () => void (await rotate()))
    const reset = await me.containers.resetCredentials(serial)
    expect(reset.credentials.generation).toBe(before.generation + 1)
    expect((await other.containers.get(serial)).generation).toBe(before.generation + 1)
    expect(verifySaw(reset.saws[0].file, await other.vendor.verificationKeys(), now()).container).toBe(serial)
  })

  it('activation fulfill: the update is signed with the new key', async () => {
    const license = (await me.licenses.create({product: 7})).licenses[0].id
    const device = new DeviceStore(join(dir, 'dev-offline'))
    device.init({fingerprint: 'SIM-OFF-1', name: 'off1', platform: 'test', fingerprintSource: 'given'}, new Date(clock.now()))
    for (const k of await me.vendor.exportKey()) device.trust(k.pem)
    const request = makeRequest(device, {vendor: 1234}, now())
    beforeWrite(1, async () => void (await rotate()))
    const update = await me.offline.fulfill(request.file, {licenses: [license]})
    expect(update).toMatchObject({added: [license], replayed: false, containerCreated: true})
    expect(verifyUpdate(update.file, await other.vendor.verificationKeys(), now()).claims.jti).toBe(update.jti)
  })
})

describe('an idempotency key used by another process during a bulk run', () => {
  it('is refused when its chunk is stored (exit 4), and the refusal says what the run had stored already', async () => {
    const rows = ['product,customer,idempotency_key', ...Array.from({length: CHUNK_SIZE + 500}, (_, i) => `7,c${i},K-${i}`)]
    // Row K-1200 (line 1202, in the second chunk) is taken for other input before that chunk is stored.
    beforeWrite(2, async () => void (await other.licenses.create({product: 7, customer: 'Other'}, {idempotencyKey: 'K-1200'})))
    const e = await rejection(me.bulk.run(rows.join('\n'), 'csv'))
    expect(e).toMatchObject({code: 'IDEMPOTENCY_KEY_REUSED', exit: 4})
    expect(e.details).toMatchObject({key: 'K-1200', line: 1202, committed: {issued: CHUNK_SIZE, alreadyIssued: 0, notIssuedFromLine: CHUNK_SIZE + 2}})
    expect(e.message).toMatch(/line 1202/)
    expect(e.message).toMatch(new RegExp(`stored ${CHUNK_SIZE} new license\\(s\\).*up to line ${CHUNK_SIZE + 1}.*from line ${CHUNK_SIZE + 2} on were not issued`))
    expect(await all()).toHaveLength(CHUNK_SIZE + 1)
  })
})
