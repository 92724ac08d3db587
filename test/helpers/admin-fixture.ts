/**
 * Service-level fixture for the tests of containers, devices, SAW files and audit: a vendor profile
 * over a fresh store with a manual clock, and simulated devices (DeviceStore in temp directories).
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {ManualClock} from '../../src/domain/clock.js'
import {DeviceStore} from '../../src/device/state.js'
import {localBackend, type Backend} from '../../src/services/backend.js'

export const T0 = Date.UTC(2026, 5, 1, 12)

export interface AdminFixture {
  backend: Backend
  clock: ManualClock
  dir: string
  storePath: string
  /** A simulated device with its own directory; trusts this vendor's keys. */
  device(name: string, fingerprint?: string): Promise<DeviceStore>
  nowSeconds(): number
  close(): Promise<void>
}

let counter = 0

export async function adminFixture(options: {vendorCode?: number; root?: string} = {}): Promise<AdminFixture> {
  const root = options.root ?? mkdtempSync(join(tmpdir(), 'licadm-admin-'))
  const dir = join(root, `profile-${++counter}`)
  const clock = new ManualClock(T0)
  const storePath = join(dir, 'data', 'licadm.db')
  const backend = await localBackend({keyDir: join(dir, 'keys'), storePath}, clock, async () => undefined, 'test:admin')
  await backend.vendor.init({code: options.vendorCode ?? 1234, name: 'Test Vendor'})
  await backend.products.create({code: 7, name: 'Product Seven'})
  let n = 0
  return {
    backend,
    clock,
    dir,
    storePath,
    async device(name, fingerprint) {
      const store = new DeviceStore(join(dir, 'devices', `${name}-${++n}`))
      store.init({fingerprint: fingerprint ?? `SIM-${name.toUpperCase()}-${n}`, name, platform: 'linux-x64', fingerprintSource: 'given'}, new Date(clock.now()))
      for (const k of await backend.vendor.exportKey()) store.trust(k.pem)
      return store
    },
    nowSeconds: () => Math.floor(clock.now() / 1000),
    async close() {
      await backend.close()
      if (!options.root) rmSync(root, {recursive: true, force: true})
    },
  }
}
