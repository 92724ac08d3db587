/**
 * Offline activation end to end through bin/run.js, the device's clock: licenses with an expiry
 * expire, a clock set back beyond the tolerance is reported (15), and signed files from the future
 * move the device's clock watermark.
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {fails, ok} from '../helpers/cli.js'
import {offlineLab, setupRunner} from '../helpers/offline.js'

const DAY = 86_400_000
/** Each test spawns licadm many times; give a loaded machine room. */
const SLOW = 240_000
const lab = offlineLab('licadm-offline-clock-')
const {sb, dir1, dev1, vendor, file, license, newDevice} = lab
afterAll(() => sb.cleanup())

let kid: string
let L2: string // expires in 30 days

beforeAll(async () => {
  const ids = await lab.setup({fast: true})
  kid = ids.kid
  L2 = ids.L2
  // Device 1 holds L1 (never expires) and L2.
  const run = setupRunner(sb, true)
  ok(await run(['activation', 'request', '--vendor', '1001', '--out', file('r1.request'), '--json'], {LICADM_DEVICE_DIR: dir1}))
  ok(await run(['activation', 'fulfill', file('r1.request'), '--license', ids.L1, '--license', L2, '--out', file('u1.update'), '--json']))
  ok(await run(['activation', 'apply', file('u1.update'), '--json'], {LICADM_DEVICE_DIR: dir1}))
}, SLOW)

describe('device licenses: expiry and clock rollback', {timeout: SLOW}, () => {
  it('an expiring license is expired after its date (LICADM_NOW)', async () => {
    const later = new Date(Date.now() + 31 * DAY).toISOString()
    const r = ok(await dev1(['device', 'licenses', '--json'], {env: {LICADM_NOW: later}}))
    const byId = Object.fromEntries(r.licenses.map((l: any) => [l.id, l.status]))
    expect(byId[L2]).toBe('expired')
    expect(r.clock.rolledBack).toBe(false)
  })

  it('a clock set back beyond the tolerance is reported (15) and licenses with an expiry are refused until it is fixed', async () => {
    // The watermark is 31 days ahead now (the run above); today is a rollback of a month.
    const text = await dev1(['device', 'licenses'])
    expect(text.code).toBe(15)
    expect(text.stderr).toMatch(/clock .* is .* behind the latest time it has seen/)
    expect(text.stdout).toContain('clock-rolled-back')
    const r = fails(await dev1(['device', 'licenses', '--json']), 15)
    expect(r.code).toBe('CLOCK_ROLLED_BACK')
    const byId = Object.fromEntries(r.details.licenses.map((l: any) => [l.id, l.status]))
    expect(byId[L2]).toBe('clock-rolled-back')
    // Licenses without an expiry are still fine.
    expect(Object.entries(byId).filter(([id]) => id !== L2).every(([, s]) => s === 'valid')).toBe(true)
    // Within the tolerance (given larger), it passes; with the clock right again, too.
    ok(await dev1(['device', 'licenses', '--clock-tolerance', '40d', '--json']))
    ok(await dev1(['device', 'licenses', '--json'], {env: {LICADM_NOW: new Date(Date.now() + 31 * DAY).toISOString()}}))
  })

  it('the watermark also comes from signed files: an update from the future moves it', async () => {
    const dir5 = sb.path('dev5')
    const dev5 = await newDevice(dir5, 'SIM-DEV-0005')
    ok(await dev5(['activation', 'request', '--vendor', '1001', '--out', file('r6.request'), '--json']))
    const lic = await license(['--expires', '365d'])
    const ahead = new Date(Date.now() + 3 * DAY).toISOString()
    ok(await vendor(['activation', 'fulfill', file('r6.request'), '--license', lic, '--out', file('u6.update'), '--json'], {LICADM_NOW: ahead}))
    // Applied with the device clock 3 days behind the vendor's: iat is in the future → 15.
    fails(await dev5(['activation', 'apply', file('u6.update'), '--json']), 15)
    ok(await dev5(['activation', 'apply', file('u6.update'), '--receipt', file('rc6.receipt'), '--json'], {env: {LICADM_NOW: ahead}}))
    // Back at the real time, the device has seen a time 3 days later.
    fails(await dev5(['device', 'licenses', '--json']), 15)
    const state = JSON.parse(readFileSync(join(dir5, 'state.json'), 'utf8'))
    expect(state.watermark).toBeGreaterThanOrEqual(Math.floor(Date.parse(ahead) / 1000) - 5)
    // SAW credentials and trusted keys live on beside the offline state.
    expect(Object.keys(state.trusted)).toEqual([kid])
    expect(state.credentials).toEqual({})
  })
})
