/**
 * The device limit under a race: many `licadm device activate` processes at once against one
 * personal container. The limit is checked and the link written in one write transaction, so exactly
 * max-devices of them win, whatever the interleaving.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {describeRun, licadm, type RunResult} from '../helpers/cli.js'
import {lab, type Device, type Lab} from '../helpers/lab.js'

const ROUNDS = 3
const RACERS = 8
const LIMIT = 3

let l: Lab
let devices: Device[]
beforeAll(async () => {
  // Setup in-process (fast); the race itself is spawned processes.
  l = await lab({prefix: 'licadm-race-'})
  await l.json(['user', 'create', '--email', 'ada@example.com'])
  devices = []
  for (let i = 0; i < RACERS; i++) devices.push(await l.device(`racer${i}`))
})
afterAll(() => l?.cleanup())

function spawnAll(argsOf: (d: Device, i: number) => string[]): Promise<RunResult[]> {
  return Promise.all(devices.map((d, i) => licadm(argsOf(d, i), {env: l.env, timeoutMs: 60_000})))
}

describe(`${RACERS} concurrent device activate processes against a personal container of ${LIMIT}`, () => {
  for (let round = 1; round <= ROUNDS; round++) {
    it(`round ${round}: exactly ${LIMIT} succeed, the others exit 4, and the container shows exactly ${LIMIT} active`, async () => {
      const serial = (await l.json(['container', 'create', '--kind', 'personal', '--user', 'ada@example.com', '--max-devices', String(LIMIT), '--out', l.path(`race-${round}.cred`)])).container.serial
      const results = await spawnAll((d) => ['device', 'activate', '--container', serial, '--identity', d.identity, '--json'])
      const codes = results.map((r) => r.code)
      const winners = results.filter((r) => r.code === 0)
      const losers = results.filter((r) => r.code !== 0)
      expect(winners.length, codes.join(',')).toBe(LIMIT)
      for (const r of losers) {
        expect(r.code, describeRun(r)).toBe(4)
        expect(r.json.error.code).toBe('DEVICE_LIMIT_REACHED')
        expect(r.json.error.details.devices).toHaveLength(LIMIT)
      }
      for (const r of winners) expect(r.json.result).toMatchObject({serial, state: 'active', changed: true})
      const shown = (await l.json(['container', 'show', serial])).container
      const active = shown.devices.filter((d: {state: string}) => d.state === 'active')
      expect(active).toHaveLength(LIMIT)
      expect(active.map((d: {fingerprint: string}) => d.fingerprint).sort()).toEqual(winners.map((r) => r.json.result.fingerprint).sort())
      // Every refusal listed exactly the winners.
      for (const r of losers) {
        expect(r.json.error.details.devices.map((d: {fingerprint: string}) => d.fingerprint).sort()).toEqual(active.map((d: {fingerprint: string}) => d.fingerprint).sort())
      }
      expect((await l.json(['audit', 'list', '--action', 'device.activate', '--subject', serial])).events).toHaveLength(LIMIT)
    })
  }

  it('the same device activated by many processes at once takes one slot: one changed, the others unchanged', async () => {
    const serial = (await l.json(['container', 'create', '--kind', 'personal', '--user', 'ada@example.com', '--max-devices', '2', '--out', l.path('same.cred')])).container.serial
    const d = devices[0]
    const results = await Promise.all(Array.from({length: 4}, () => licadm(['device', 'activate', '--container', serial, '--identity', d.identity, '--json'], {env: l.env, timeoutMs: 60_000})))
    for (const r of results) expect(r.code, describeRun(r)).toBe(0)
    expect(results.filter((r) => r.json.result.changed === true)).toHaveLength(1)
    const shown = (await l.json(['container', 'show', serial])).container
    expect(shown.devices).toHaveLength(1)
    // One slot left.
    expect((await l.json(['device', 'activate', '--container', serial, '--identity', devices[1].identity])).changed).toBe(true)
    expect((await l.admin(['device', 'activate', '--container', serial, '--identity', devices[2].identity, '--json'])).code).toBe(4)
  })

  it('the audit chain is intact after the races', async () => {
    const r = await licadm(['audit', 'verify', '--json'], {env: l.env})
    expect(r.code, describeRun(r)).toBe(0)
    expect(r.json.result.ok).toBe(true)
  })
})
