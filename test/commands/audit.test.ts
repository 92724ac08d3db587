/**
 * audit list and audit verify (in-process over dist/, build first): events appended by commands,
 * nothing appended by a refused command, filters, and verify's exit 5 naming the broken events.
 */
import {copyFileSync, existsSync, rmSync} from 'node:fs'

import SQLite from 'better-sqlite3'
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {lab, refused, type Lab} from '../helpers/lab.js'
import {REMOTE, stopRemoteServers} from '../helpers/remote.js'

let l: Lab
let serial: string
let total: number
const DAY = 86_400_000

beforeAll(async () => {
  l = await lab({prefix: 'licadm-cmd-audit-'})
  // Ten days ago: a user and a group; now: a container and a device.
  const past = {LICADM_NOW: new Date(Date.now() - 10 * DAY).toISOString()}
  await l.json(['user', 'create', '--email', 'ada@example.com'], past)
  await l.json(['group', 'create', '--name', 'eng'], past)
  await l.json(['group', 'add-member', 'eng', 'ada@example.com'], past)
  serial = (await l.json(['container', 'create', '--kind', 'personal', '--user', 'ada@example.com', '--out', l.path('p.cred')])).container.serial
  const d = await l.device('laptop')
  await l.json(['device', 'activate', '--container', serial, '--identity', d.identity])
  await l.json(['device', 'deactivate', d.fingerprint, '--container', serial])
  total = (await l.json(['audit', 'list'])).events.length
  await stopRemoteServers() // its last changes are in the WAL until it closes the store
  copyFileSync(l.storePath(), l.path('clean.db'))
})
afterAll(() => l?.cleanup())

async function restoreClean() {
  await stopRemoteServers() // a store file is replaced only while no server holds it open
  for (const suffix of ['-wal', '-shm']) if (existsSync(l.storePath() + suffix)) rmSync(l.storePath() + suffix)
  copyFileSync(l.path('clean.db'), l.storePath())
}

function edit(sql: string, ...params: unknown[]) {
  const db = new SQLite(l.storePath())
  try {
    db.prepare(sql).run(...params)
  } finally {
    db.close()
  }
}

describe('audit list', () => {
  it('lists every change with its action and subject (text and --json)', async () => {
    const events = (await l.json(['audit', 'list'])).events
    expect(events.map((e: {action: string}) => e.action)).toEqual([
      'vendor.init',
      'product.create',
      'user.create',
      'group.create',
      'group.add-member',
      'container.create',
      'device.activate',
      'device.deactivate',
    ])
    for (const e of events) {
      expect(e.at).toMatch(/^\d{4}-\d\d-\d\dT/)
      expect(e.hash).toMatch(/^[0-9a-f]{64}$/)
      // init makes the profile on this machine; through a server, every later change names its token.
      expect(e.actor).toMatch(REMOTE && e.action !== 'vendor.init' ? /^token:remote-suite$/ : /^local:/)
    }
    const text = await l.admin(['audit', 'list'])
    expect(text.stdout).toMatch(/SEQ\s+TIME\s+ACTOR\s+ACTION\s+SUBJECT\s+CHANGE/)
    expect(text.stdout).toContain(`container:${serial}`)
    expect(text.stdout).not.toMatch(/lcs_/)
  })

  it('a refused command appends nothing', async () => {
    const attempts = [
      ['user', 'create', '--email', 'ada@example.com'],
      ['container', 'create', '--kind', 'personal', '--group', 'eng'],
      ['container', 'create', '--kind', 'personal', '--user', 'nobody@example.com'],
      ['device', 'deactivate', 'SIM-NOBODY', '--container', serial],
      ['group', 'remove-member', 'eng', 'nobody@example.com'],
      ['user', 'delete', 'ada@example.com', '--yes'],
    ]
    for (const args of attempts) expect((await l.admin([...args, '--json'])).code, args.join(' ')).not.toBe(0)
    expect((await l.json(['audit', 'list'])).events.length).toBe(total)
  })

  it('filters: --action exact and with *, --subject, --since (duration and date), --limit and --after', async () => {
    const actions = async (...args: string[]) => (await l.json(['audit', 'list', ...args])).events.map((e: {action: string}) => e.action)
    expect(await actions('--action', 'device.activate')).toEqual(['device.activate'])
    expect(await actions('--action', 'device.*')).toEqual(['device.activate', 'device.deactivate'])
    expect(await actions('--action', 'group.*')).toEqual(['group.create', 'group.add-member'])
    expect(await actions('--subject', serial)).toEqual(['container.create', 'device.activate', 'device.deactivate'])
    expect(await actions('--subject', `container:${serial}`)).toEqual(['container.create', 'device.activate', 'device.deactivate'])
    // The vendor and product were made now too (before the back-dated events).
    expect(await actions('--since', '3d')).toEqual(['vendor.init', 'product.create', 'container.create', 'device.activate', 'device.deactivate'])
    expect(await actions('--since', '3d', '--action', 'user.*')).toEqual([])
    expect(await actions('--since', new Date(Date.now() - 20 * DAY).toISOString().slice(0, 10))).toHaveLength(total)
    const page = await l.json(['audit', 'list', '--limit', '3'])
    expect(page.events.map((e: {seq: number}) => e.seq)).toEqual([1, 2, 3])
    expect(page.nextAfter).toBe(3)
    expect((await l.admin(['audit', 'list', '--limit', '3'])).stdout).toContain('More: licadm audit list --limit 3 --after 3\n')
    expect((await l.admin(['audit', 'list', '--limit', '2'])).stdout).toContain('More: licadm audit list --limit 2 --after 2\n')
    expect((await l.json(['audit', 'list', '--after', '6'])).events.map((e: {seq: number}) => e.seq)).toEqual([7, 8])
    refused(await l.admin(['audit', 'list', '--since', 'whenever', '--json']), 2)
    refused(await l.admin(['audit', 'list', '--limit', '0', '--json']), 2)
  })
})

describe('audit list: the "More:" line', () => {
  it('repeats the filters and the page size, quoted for the shell, so the next page is of the same list', async () => {
    const since = new Date(Date.now() - 20 * DAY).toISOString().slice(0, 10)
    const first = await l.admin(['audit', 'list', '--since', since, '--action', 'device.*', '--limit', '1'])
    expect(first.code).toBe(0)
    const more = /^More: (.*)$/m.exec(first.stdout)?.[1]
    expect(more).toBe(`licadm audit list --action 'device.*' --since ${since} --limit 1 --after ${(await l.json(['audit', 'list', '--action', 'device.*'])).events[0].seq}`)
    // Run as the shell would (unquoted), the line lists the next page of the same filtered list.
    const args = more!.split(' ').slice(1).map((w) => w.replace(/^'(.*)'$/, '$1'))
    expect((await l.json(args)).events.map((e: {action: string}) => e.action)).toEqual(['device.deactivate'])
  })
})

describe('audit verify', () => {
  beforeEach(restoreClean)

  it('a row inserted by hand with a sequence number below 1, which audit list shows: exit 5 naming it', async () => {
    edit(`insert into audit_events values (-5, 1700000000, 'local:ceo', 'license.revoke', 'license:lic_forged', null, '{"note":"forged"}', 'x', 'y')`)
    expect((await l.json(['audit', 'list'])).events[0]).toMatchObject({seq: -5, subject: 'license:lic_forged'})
    const text = await l.admin(['audit', 'verify'])
    refused(text, 5)
    expect(text.stderr).toMatch(/event -5: has a sequence number licadm never gives/)
    const json = refused(await l.admin(['audit', 'verify', '--json']), 5)
    expect(json.details).toMatchObject({events: total + 1, problems: [{seq: -5, problem: expect.stringMatching(/inserted by hand/)}]})
  })

  it('is OK on a clean store (exit 0)', async () => {
    const r = await l.admin(['audit', 'verify'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`^OK: ${total} event\\(s\\), chain intact \\(head [0-9a-f]{64}\\)`))
    expect(await l.json(['audit', 'verify'])).toMatchObject({ok: true, events: total, problems: []})
  })

  it('an edited event: exit 5 naming it (text and --json)', async () => {
    edit(`update audit_events set "after" = ? where seq = 7`, JSON.stringify({device: 'SIM-SOMEONE-ELSE', state: 'active'}))
    const text = await l.admin(['audit', 'verify'])
    refused(text, 5)
    expect(text.stderr).toContain('the audit chain is broken: 1 problem(s)')
    expect(text.stderr).toMatch(/event 7: was edited/)
    const json = refused(await l.admin(['audit', 'verify', '--json']), 5)
    expect(json.code).toBe('AUDIT_CHAIN_BROKEN')
    expect(json.details.problems).toEqual([{seq: 7, problem: expect.stringMatching(/edited/)}])
  })

  it('a deleted middle event: exit 5 naming it', async () => {
    edit('delete from audit_events where seq = 4')
    const text = await l.admin(['audit', 'verify'])
    refused(text, 5)
    expect(text.stderr).toMatch(/event 4: events 4 to 4 are missing \(deleted\)/)
    const json = refused(await l.admin(['audit', 'verify', '--json']), 5)
    expect(json.details.problems.map((p: {seq: number}) => p.seq)).toContain(4)
    expect(json.details.events).toBe(total - 1)
  })

  it('the newest event deleted: exit 5 naming it', async () => {
    edit('delete from audit_events where seq = ?', total)
    const text = await l.admin(['audit', 'verify'])
    refused(text, 5)
    expect(text.stderr).toContain(`event ${total}: the newest events up to ${total} are missing or changed`)
    const json = refused(await l.admin(['audit', 'verify', '--json']), 5)
    expect(json.details.problems).toEqual([{seq: total, problem: expect.stringContaining(`up to ${total}`)}])
  })

  it('a new change after a clean verify keeps the chain intact', async () => {
    await l.json(['user', 'create', '--email', 'late@example.com'])
    expect(await l.json(['audit', 'verify'])).toMatchObject({ok: true, events: total + 1})
  })
})
