import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {ManualClock} from '../../src/domain/clock.js'
import {startServer, type ServerOptions} from '../../src/server/runtime.js'
import {keyDirIn, storeFileIn} from '../../src/store/layout.js'
import {tempDir} from '../unit/helpers.js'
import {refusal, T0} from './helpers.js'

const tmp = tempDir()
afterAll(() => tmp.cleanup())

const TOKENS: ServerOptions['tokens'] = [{token: 'client-token-for-tests', role: 'client', name: 'tests'}]

async function vendorOf(options: Partial<ServerOptions> & Pick<ServerOptions, 'data'>) {
  const server = await startServer({port: 0, clock: new ManualClock(T0), tokens: TOKENS, ...options})
  try {
    return server.vendor
  } finally {
    await server.close()
  }
}

describe("the server's vendor", () => {
  it('a new data directory takes the vendor of --vendor-code/--vendor-name and keeps it; another one is refused (VENDOR_MISMATCH, exit 4), the store untouched', async () => {
    const data = {kind: 'dir' as const, dir: join(tmp.dir, 'acme')}
    expect(await vendorOf({data, vendor: {code: '1001', name: ' Acme Software '}})).toEqual({code: 1001, name: 'Acme Software'})
    // Later starts need not name it, and may name the same one again.
    expect(await vendorOf({data})).toEqual({code: 1001, name: 'Acme Software'})
    expect(await vendorOf({data, vendor: {code: '1001', name: 'Acme Software'}})).toEqual({code: 1001, name: 'Acme Software'})

    const other = await refusal(vendorOf({data, vendor: {code: '1002', name: 'Acme Software'}}))
    expect(other).toMatchObject({code: 'VENDOR_MISMATCH', exit: 4, message: `the store in ${data.dir} belongs to vendor 1001 (Acme Software), not 1002 (Acme Software), named by --vendor-code/--vendor-name`})
    expect(other.details).toEqual({store: {code: 1001, name: 'Acme Software'}, wanted: {code: 1002, name: 'Acme Software'}})
    expect((await refusal(vendorOf({data, vendor: {code: '1001', name: 'Acme'}}))).code).toBe('VENDOR_MISMATCH')
    // A seed naming another vendor was once ignored on an existing store: now refused too.
    const bySeed = await refusal(vendorOf({data, seed: JSON.stringify({vendor: {code: 7, name: 'Seven'}})}))
    expect(bySeed).toMatchObject({code: 'VENDOR_MISMATCH', message: expect.stringMatching(/not 7 \(Seven\), named by the --seed file's "vendor"$/)})
    expect(await vendorOf({data})).toEqual({code: 1001, name: 'Acme Software'})
  })

  it("a profile's store is checked against the vendor named, and one without a vendor is not given one", async () => {
    const dir = join(tmp.dir, 'profile-like')
    await vendorOf({data: {kind: 'dir', dir}, vendor: {code: '55', name: 'Profile Vendor'}})
    const profile = {kind: 'profile' as const, storePath: storeFileIn(dir), keyDir: keyDirIn(dir)}
    expect(await vendorOf({data: profile, vendor: {code: '55', name: 'Profile Vendor'}})).toEqual({code: 55, name: 'Profile Vendor'})
    expect(await refusal(vendorOf({data: profile, vendor: {code: '56', name: 'Profile Vendor'}}))).toMatchObject({
      code: 'VENDOR_MISMATCH',
      message: expect.stringMatching(/^the profile's store belongs to vendor 55/),
    })
    const empty = join(tmp.dir, 'empty-profile')
    const none = {kind: 'profile' as const, storePath: storeFileIn(empty), keyDir: keyDirIn(empty)}
    expect((await refusal(vendorOf({data: none, vendor: {code: '57', name: 'New'}}))).code).toBe('PROFILE_NOT_INITIALIZED')
  })

  it('--memory runs take the vendor named; flags and seed naming two vendors, a bad code or an empty name are refused (exit 2)', async () => {
    const memory = {kind: 'memory' as const}
    expect(await vendorOf({data: memory, vendor: {code: '0x10', name: 'Hex'}}).catch((e: Error) => e.message)).toMatch(/--vendor-code: "0x10" is not a whole number/)
    expect(await vendorOf({data: memory, vendor: {code: '4294967295', name: 'Top'}})).toEqual({code: 4_294_967_295, name: 'Top'})
    const seed = JSON.stringify({vendor: {code: 9, name: 'Nine'}})
    expect(await vendorOf({data: memory, seed, vendor: {code: '9', name: 'Nine'}})).toEqual({code: 9, name: 'Nine'})
    const both = await refusal(vendorOf({data: memory, seed, vendor: {code: '10', name: 'Ten'}}))
    expect(both).toMatchObject({exit: 2, message: '--vendor-code/--vendor-name name vendor 10 (Ten), the --seed file vendor 9 (Nine)'})
    expect(await refusal(vendorOf({data: memory, vendor: {code: '0', name: 'Zero'}}))).toMatchObject({exit: 2, message: expect.stringMatching(/^--vendor-code: 0 is out of range/)})
    expect(await refusal(vendorOf({data: memory, vendor: {code: '5', name: '  '}}))).toMatchObject({exit: 2, message: '--vendor-name: is required (1 to 200 characters)'})
    expect(await refusal(vendorOf({data: memory, seed: JSON.stringify({vendor: {code: 'x', name: 'X'}})}))).toMatchObject({
      exit: 2,
      message: expect.stringMatching(/^--seed: vendor "code": "x" is not a whole number/),
    })
  })

  it('a new data directory without a vendor named gets the placeholder vendor', async () => {
    expect(await vendorOf({data: {kind: 'dir', dir: join(tmp.dir, 'plain')}})).toEqual({code: 1, name: 'licadm test vendor'})
  })
})
