/**
 * The credential-reset story, as an admin lives it: a group of three users, each with a device on
 * the group's enterprise container; one user leaves the group; the admin resets the container's
 * credentials and hands SAW files to the devices that keep access. The two remaining devices apply
 * them and work; the removed user's device stays locked out, even with the new secret.
 *
 * The reset and everything after it (steps 4 to 7, and the personal container's reset) are spawned
 * `node bin/run.js` processes; preparing the group, the devices and their activations runs
 * in-process over the same directories, for speed. The tests run in order and share one sandbox.
 */
import {readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {describeRun, type RunResult} from '../helpers/cli.js'
import {lab, refused, secretOf, type Device, type Lab} from '../helpers/lab.js'

let l: Lab
let serial: string
let licenseId: string
const dev: Record<'ada' | 'bob' | 'cy', Device> = {} as never
const USERS = ['ada', 'bob', 'cy'] as const
const oldCred = () => l.path('eng-gen1.cred')
const newCred = () => l.path('eng-gen2.cred')
const sawDir = () => l.path('saw-out')

function okRun(r: RunResult): RunResult {
  if (r.code !== 0) throw new Error(`expected exit 0\n${describeRun(r)}`)
  return r
}

beforeAll(async () => {
  l = await lab({prefix: 'licadm-story-', products: [7]})
  for (const u of USERS) await l.json(['user', 'create', '--email', `${u}@example.com`, '--name', u.toUpperCase()])
  await l.json(['group', 'create', '--name', 'engineering'])
  for (const u of USERS) dev[u] = await l.device(`${u}-laptop`)
})
afterAll(() => l?.cleanup())

describe('credential reset story (enterprise container)', () => {
  it('1. the admin puts three users in the group (ada as admin) and creates the enterprise container with a credentials file', async () => {
    okRun(await l.admin(['group', 'add-member', 'engineering', 'ada@example.com', '--admin']))
    for (const u of ['bob', 'cy']) okRun(await l.admin(['group', 'add-member', 'engineering', `${u}@example.com`]))
    const created = okRun(await l.admin(['container', 'create', '--kind', 'enterprise', '--group', 'engineering', '--out', oldCred(), '--json']))
    serial = created.json.result.container.serial
    expect(serial).toMatch(/^E-/)
    expect(created.stdout).not.toContain(secretOf(oldCred()))
    expect(statSync(oldCred()).mode & 0o777).toBe(0o600)
    licenseId = (await l.json(['license', 'create', '--product', '7', '--kind', 'concurrent', '--quantity', '10'])).licenses[0].id
    okRun(await l.admin(['container', 'add-license', serial, licenseId]))
  })

  it('2. each user\'s device is activated with a SAW file (--saw + --credentials); each device applies it and uses the container', async () => {
    for (const u of USERS) {
      const saw = l.path(`${u}-activation.saw`)
      const act = okRun(await l.admin(['device', 'activate', '--container', serial, '--identity', dev[u].identity, '--user', `${u}@example.com`, '--saw', saw, '--credentials', oldCred()]))
      expect(act.stdout).toContain(`Activated ${u}-laptop (${dev[u].fingerprint}) on ${serial}`)
      expect(act.stdout).toContain(`SAW file for the device: ${saw}`)
      const applied = okRun(await dev[u].run(['saw', 'apply', saw]))
      expect(applied.stdout).toContain(`Link to ${serial} is active`)
      const access = okRun(await dev[u].run(['device', 'access', '--container', serial]))
      expect(access.stdout).toContain(`ACCESS GRANTED to ${serial} (generation 1)`)
      expect(access.stdout).toContain(licenseId)
    }
    const shown = (await l.json(['container', 'show', serial])).container
    expect(shown.devices.map((d: {user: string; state: string}) => [d.user, d.state])).toEqual(USERS.map((u) => [`${u}@example.com`, 'active']))
    expect(shown.devices.every((d: {lastSeen: number | null}) => d.lastSeen !== null)).toBe(true)
  })

  it("3. cy leaves the group: cy's device is marked for removal, and group show says so", async () => {
    const removed = okRun(await l.admin(['group', 'remove-member', 'engineering', 'cy@example.com']))
    expect(removed.stdout).toContain(`${dev.cy.fingerprint} on ${serial}`)
    const text = okRun(await l.admin(['group', 'show', 'engineering']))
    expect(text.stdout).toContain('Pending removal at the next credential reset (1 device(s)):')
    expect(text.stdout).toContain(`${dev.cy.fingerprint} on ${serial} (cy@example.com)`)
    const json = okRun(await l.admin(['group', 'show', 'engineering', '--json'])).json.result.group
    expect(json.members.map((m: {email: string}) => m.email)).toEqual(['ada@example.com', 'bob@example.com'])
    expect(json.pendingRemoval).toEqual([{serial, fingerprint: dev.cy.fingerprint, userId: expect.any(String), email: 'cy@example.com'}])
    // Until the reset, cy's device still works: removal happens at the reset.
    okRun(await dev.cy.spawn(['device', 'access', '--container', serial]))
  })

  it('4. reset-credentials --saw-dir --yes writes exactly two SAW files named by device and reports the left-out device and why', async () => {
    const r = okRun(await l.spawn(['container', 'reset-credentials', serial, '--saw-dir', sawDir(), '--yes', '--out', newCred()]))
    expect(r.stdout).toContain(`Credentials of ${serial} reset: generation 2; 2 device link(s) now stale`)
    expect(r.stdout).toContain(`Left out cy-laptop (${dev.cy.fingerprint}, cy@example.com): its user left the container's group`)
    expect(r.stdout + r.stderr).not.toContain(secretOf(newCred()))
    expect(secretOf(newCred())).not.toBe(secretOf(oldCred()))
    const files = readdirSync(sawDir()).sort()
    expect(files).toHaveLength(2)
    for (const u of ['ada', 'bob'] as const) {
      const file = files.find((f) => f.includes(dev[u].fingerprint))
      expect(file, `${u}: ${files.join(', ')}`).toBeDefined()
      expect(file).toContain(`${u}-laptop`)
      expect(r.stdout).toContain(`SAW for ${u}-laptop (${dev[u].fingerprint}): ${join(sawDir(), file!)}`)
      expect(statSync(join(sawDir(), file!)).mode & 0o777).toBe(0o600)
    }
    expect(files.some((f) => f.includes(dev.cy.fingerprint))).toBe(false)
    const shown = (await l.json(['container', 'show', serial])).container
    expect(shown.generation).toBe(2)
    expect(Object.fromEntries(shown.devices.map((d: {user: string; state: string}) => [d.user, d.state]))).toEqual({
      'ada@example.com': 'stale',
      'bob@example.com': 'stale',
      'cy@example.com': 'inactive',
    })
    expect((await l.json(['group', 'show', 'engineering'])).group.pendingRemoval).toEqual([])
    const text = okRun(await l.spawn(['container', 'show', serial]))
    expect(text.stdout).toMatch(/Generation\s+2/)
    expect(text.stdout).toMatch(/ada-laptop\s+ada@example.com\s+stale/)
  })

  it('5. before applying, all three devices are refused (7): the old secret is refused from the moment of the reset', async () => {
    for (const u of USERS) {
      const r = await dev[u].spawn(['device', 'access', '--container', serial])
      refused(r, 7)
    }
    const ada = await dev.ada.spawn(['device', 'access', '--container', serial, '--json'])
    expect(refused(ada, 7).hint).toMatch(/saw apply/)
  })

  it('6. the two remaining devices apply their SAW files and work again', async () => {
    for (const u of ['ada', 'bob'] as const) {
      const file = join(sawDir(), readdirSync(sawDir()).find((f) => f.includes(dev[u].fingerprint))!)
      const applied = okRun(await dev[u].spawn(['saw', 'apply', file]))
      expect(applied.stdout).toContain(`credential of generation 2 for ${serial} stored`)
      expect(applied.stdout).toContain(`Link to ${serial} restored`)
      const access = okRun(await dev[u].spawn(['device', 'access', '--container', serial]))
      expect(access.stdout).toContain(`ACCESS GRANTED to ${serial} (generation 2)`)
      expect(access.stdout).toContain(licenseId)
      expect(dev[u].state().credentials[serial]).toMatchObject({generation: 2, secret: secretOf(newCred())})
    }
    const shown = (await l.json(['container', 'show', serial])).container
    expect(Object.fromEntries(shown.devices.map((d: {user: string; state: string}) => [d.user, d.state]))).toEqual({
      'ada@example.com': 'active',
      'bob@example.com': 'active',
      'cy@example.com': 'inactive',
    })
  })

  it("7. cy's device stays locked out (7), even holding the new secret (copied from ada's state), and with ada's SAW file (18)", async () => {
    refused(await dev.cy.spawn(['device', 'access', '--container', serial]), 7)
    // Simulate a leaked credential: copy ada's stored credential for the container into cy's state.
    const adaCred = dev.ada.state().credentials[serial]
    const cyState = dev.cy.state()
    cyState.credentials[serial] = {...adaCred}
    writeFileSync(join(dev.cy.dir, 'state.json'), JSON.stringify(cyState, null, 2))
    expect(dev.cy.state().credentials[serial].secret).toBe(secretOf(newCred()))
    const r = await dev.cy.spawn(['device', 'access', '--container', serial])
    refused(r, 7)
    expect(r.stderr).toContain(`device ${dev.cy.fingerprint} is not activated on container ${serial}`)
    const adaFile = join(sawDir(), readdirSync(sawDir()).find((f) => f.includes(dev.ada.fingerprint))!)
    refused(await dev.cy.spawn(['saw', 'apply', adaFile]), 18)
    // No SAW can be made for cy's device either: it is no longer on the container.
    refused(await l.spawn(['saw', 'create', '--container', serial, '--device', dev.cy.fingerprint, '--credentials', newCred(), '--json']), 4)
    // And an admin activating it again needs cy back in the group.
    const again = await l.spawn(['device', 'activate', '--container', serial, '--identity', dev.cy.identity, '--user', 'cy@example.com', '--json'])
    expect(refused(again, 4).code).toBe('NOT_A_MEMBER')
  })

  it('8. the audit trail tells the story and its chain is intact', async () => {
    const events = (await l.json(['audit', 'list', '--subject', serial])).events
    const actions = events.map((e: {action: string}) => e.action)
    expect(actions).toContain('container.reset-credentials')
    expect(actions.filter((a: string) => a === 'saw.restore')).toHaveLength(2)
    const reset = events.find((e: {action: string}) => e.action === 'container.reset-credentials')
    expect(reset.after).toMatchObject({generation: 2, droppedDevices: [dev.cy.fingerprint]})
    expect(reset.after.sawsIssued.sort()).toEqual([dev.ada.fingerprint, dev.bob.fingerprint].sort())
    const removal = (await l.json(['audit', 'list', '--action', 'group.remove-member'])).events
    expect(removal).toHaveLength(1)
    expect(removal[0].after.devicesMarkedForRemoval).toEqual([{serial, fingerprint: dev.cy.fingerprint}])
    const verify = okRun(await l.spawn(['audit', 'verify']))
    expect(verify.stdout).toMatch(/^OK: \d+ event\(s\), chain intact/)
    expect(JSON.stringify(events)).not.toContain(secretOf(newCred()))
  })
})

describe('credential reset story (personal container)', () => {
  it('a personal container reset gives SAW files to its active devices only; they apply them and work', async () => {
    const cred = l.path('ada-personal.cred')
    const p = okRun(await l.admin(['container', 'create', '--kind', 'personal', '--user', 'ada@example.com', '--out', cred, '--json'])).json.result.container.serial
    const phone = await l.device('ada-phone')
    const tablet = await l.device('ada-tablet')
    for (const d of [dev.ada, phone, tablet]) {
      const saw = l.path(`${d.name}-personal.saw`)
      okRun(await l.admin(['device', 'activate', '--container', p, '--identity', d.identity, '--saw', saw, '--credentials', cred]))
      okRun(await d.run(['saw', 'apply', saw]))
    }
    okRun(await l.admin(['device', 'deactivate', tablet.fingerprint, '--container', p]))
    const dir = l.path('personal-saws')
    const r = okRun(await l.spawn(['container', 'reset-credentials', p, '--saw-dir', dir, '--yes', '--out', l.path('ada-personal-2.cred'), '--json']))
    const result = r.json.result
    expect(result).toMatchObject({container: p, generation: 2, staled: 2, leftOut: []})
    expect(result.saws.map((s: {device: string}) => s.device).sort()).toEqual([dev.ada.fingerprint, phone.fingerprint].sort())
    expect(readdirSync(dir)).toHaveLength(2)
    expect(result.credentials).toEqual({file: l.path('ada-personal-2.cred'), generation: 2})
    for (const d of [dev.ada, phone]) {
      refused(await d.spawn(['device', 'access', '--container', p]), 7)
      const file = result.saws.find((s: {device: string}) => s.device === d.fingerprint).file
      expect(okRun(await d.spawn(['saw', 'apply', file, '--json'])).json.result).toMatchObject({generation: 2, restored: true})
      okRun(await d.run(['device', 'access', '--container', p]))
    }
    // The deactivated tablet got nothing and is refused.
    refused(await tablet.run(['device', 'access', '--container', p]), 7)
    expect(readFileSync(l.path('ada-personal-2.cred'), 'utf8')).toContain('"generation": 2')
  })
})
