import {createHash} from 'node:crypto'

import SQLite from 'better-sqlite3'
import type {KyselyPlugin} from 'kysely'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {appendAudit, AuditService} from '../../src/services/audit.js'
import {openStore} from '../../src/store/store.js'
import {ExitCode, LicadmError} from '../../src/domain/errors.js'
import {adminFixture, type AdminFixture} from '../helpers/admin-fixture.js'

let f: AdminFixture
beforeEach(async () => {
  f = await adminFixture()
})
afterEach(async () => {
  await f.close()
})

const events = async (filter = {}) => (await f.backend.audit.list({limit: 10_000, ...filter})).events

function sqlite(): SQLite.Database {
  return new SQLite(f.storePath)
}

/** Some history: users, a group, containers, a device, a reset. */
async function history() {
  await f.backend.directory.createUser({email: 'ada@example.com'})
  await f.backend.directory.createGroup({name: 'eng'})
  await f.backend.directory.addMember('eng', 'ada@example.com', 'admin')
  const {container} = await f.backend.containers.create({kind: 'personal', user: 'ada@example.com'})
  f.clock.advance(3_600_000)
  const d = await f.device('laptop')
  await f.backend.devices.activate(container.serial, d.identity(), {user: 'ada@example.com'})
  await f.backend.containers.resetCredentials(container.serial)
  await f.backend.devices.deactivate(container.serial, d.device().fingerprint)
  return {serial: container.serial, fingerprint: d.device().fingerprint}
}

describe('audit events', () => {
  it('each change appends one event with actor, subject, before and after', async () => {
    const {serial, fingerprint} = await history()
    const list = await events()
    expect(list.map((e) => e.action)).toEqual([
      'vendor.init',
      'product.create',
      'user.create',
      'group.create',
      'group.add-member',
      'container.create',
      'device.activate',
      'saw.issue',
      'container.reset-credentials',
      'device.deactivate',
    ])
    expect(list.map((e) => e.seq)).toEqual(list.map((_, i) => i + 1))
    for (const e of list) expect(e.actor).toBe('test:admin')
    const activate = list.find((e) => e.action === 'device.activate')!
    expect(activate).toMatchObject({subject: `container:${serial}`, after: {device: fingerprint, user: 'ada@example.com', state: 'active'}})
    expect(activate.at).toBe(f.nowSeconds())
    const reset = list.find((e) => e.action === 'container.reset-credentials')!
    expect(reset.before).toEqual({generation: 1})
    expect(reset.after).toMatchObject({generation: 2, staled: 1, sawsIssued: [fingerprint], droppedDevices: []})
    // No secret in the trail.
    expect(JSON.stringify(list)).not.toMatch(/lcs_/)
    expect((await f.backend.audit.verify()).ok).toBe(true)
  })

  it('a refused change appends nothing (same transaction)', async () => {
    const {serial} = await history()
    const before = (await events()).length
    const attempts: Array<() => Promise<unknown>> = [
      () => f.backend.directory.createUser({email: 'ada@example.com'}),
      () => f.backend.directory.deleteUser('ada@example.com'),
      () => f.backend.containers.create({kind: 'personal', user: 'nobody@example.com'}),
      () => f.backend.directory.addMember('eng', 'ada@example.com', 'member'),
      () => f.backend.devices.activate(serial, {fingerprint: 'SIM-X', name: 'x', platform: 'p', signKey: 'bad', encKey: 'bad'}, {user: 'nobody@example.com'}),
      () => f.backend.containers.assign(serial, {user: 'ada@example.com'}),
      () => f.backend.devices.deactivate(serial, 'SIM-NOBODY'),
      () => f.backend.saws.create(serial, 'SIM-NOBODY', 'lcs_wrong'),
    ]
    for (const attempt of attempts) {
      await attempt().then(
        () => {
          throw new Error('expected a refusal')
        },
        (error: unknown) => expect(error).toBeInstanceOf(LicadmError),
      )
    }
    expect((await events()).length).toBe(before)
  })

  it('an event written in a transaction that fails later is rolled back with it', async () => {
    const before = (await events()).length
    // A second connection to the same store: write, append an event, then fail.
    const store = await openStore({path: f.storePath})
    try {
      await expect(
        store.write(async (tx) => {
          await appendAudit(tx, {clock: f.clock, actor: 'test'}, {action: 'test.event', subject: 'test:1'})
          throw new Error('later failure')
        }),
      ).rejects.toThrow('later failure')
    } finally {
      await store.close()
    }
    expect((await events()).length).toBe(before)
    expect((await f.backend.audit.verify()).ok).toBe(true)
  })

  it('license create and revoke append events too (foundation changes)', async () => {
    // The issue: "Every change in this issue and in the foundation (create, revoke, …) appends an
    // audit event". LicenseService.store and .revoke append them in their own transactions.
    const {licenses: [lic]} = await f.backend.licenses.create({product: 7})
    await f.backend.licenses.revoke(lic.id)
    const actions = (await events()).map((e) => e.action)
    expect(actions.some((a) => a.startsWith('license.') && a.includes('create'))).toBe(true)
    expect(actions.some((a) => a.startsWith('license.') && a.includes('revoke'))).toBe(true)
  })
})

describe('audit list filters', () => {
  it('--action exact and with *, --subject with or without its kind, --actor, --since as duration or instant, paging', async () => {
    const {serial, fingerprint} = await history()
    expect((await events({action: 'device.activate'})).map((e) => e.action)).toEqual(['device.activate'])
    expect((await events({action: 'device.*'})).map((e) => e.action)).toEqual(['device.activate', 'device.deactivate'])
    expect((await events({action: '*.create'})).map((e) => e.action)).toEqual(['product.create', 'user.create', 'group.create', 'container.create'])
    expect(await events({action: 'device'})).toEqual([])
    const bySerial = await events({subject: serial})
    expect(bySerial.map((e) => e.action)).toEqual(['container.create', 'device.activate', 'saw.issue', 'container.reset-credentials', 'device.deactivate'])
    expect(await events({subject: `container:${serial}`})).toEqual(bySerial)
    expect(await events({subject: `user:${serial}`})).toEqual([])
    expect((await events({actor: 'test:admin'})).length).toBe(10)
    expect(await events({actor: 'someone-else'})).toEqual([])
    // The device events came an hour after the first ones.
    expect((await events({since: '30m'})).map((e) => e.action)).toEqual(['device.activate', 'saw.issue', 'container.reset-credentials', 'device.deactivate'])
    expect((await events({since: new Date(f.clock.now() - 60_000).toISOString()})).length).toBe(4)
    expect((await events({since: '2d'})).length).toBe(10)
    const page1 = await f.backend.audit.list({limit: 4})
    expect(page1.events.map((e) => e.seq)).toEqual([1, 2, 3, 4])
    expect(page1.nextAfter).toBe(4)
    const page3 = await f.backend.audit.list({limit: 4, after: 8})
    expect(page3.events.map((e) => e.seq)).toEqual([9, 10])
    expect(page3.nextAfter).toBeNull()
    expect(fingerprint).toBeTruthy()
    await expect(f.backend.audit.list({limit: 0})).rejects.toMatchObject({exit: ExitCode.usage})
    await expect(f.backend.audit.list({since: 'yesterday-ish'})).rejects.toMatchObject({exit: ExitCode.usage})
  })
})

describe('audit verify', () => {
  beforeEach(async () => {
    await history()
  })

  it('is OK on a clean store and covers every event', async () => {
    const v = await f.backend.audit.verify()
    expect(v).toMatchObject({ok: true, events: 10, problems: []})
    const db = sqlite()
    try {
      expect(v.head).toBe((db.prepare('select hash from audit_events order by seq desc limit 1').get() as {hash: string}).hash)
    } finally {
      db.close()
    }
  })

  it('detects an edited event and names it', async () => {
    const db = sqlite()
    try {
      db.prepare(`update audit_events set "after" = '{"device":"SIM-FORGED","state":"active"}' where seq = 7`).run()
    } finally {
      db.close()
    }
    const v = await f.backend.audit.verify()
    expect(v.ok).toBe(false)
    expect(v.problems).toEqual([{seq: 7, problem: expect.stringMatching(/edited/)}])
  })

  it('detects an edited event even when its hash is recomputed (the next event no longer follows)', async () => {
    const db = sqlite()
    try {
      const row = db.prepare('select * from audit_events where seq = 5').get() as Record<string, unknown>
      const after = '{"user":"mallory@example.com","role":"admin"}'
      const hash = createHash('sha256').update(JSON.stringify([row.prev_hash, row.seq, row.at, row.actor, row.action, row.subject, row.before, after])).digest('hex')
      db.prepare('update audit_events set "after" = ?, hash = ? where seq = 5').run(after, hash)
    } finally {
      db.close()
    }
    const v = await f.backend.audit.verify()
    expect(v.ok).toBe(false)
    expect(v.problems.map((p) => p.seq)).toEqual([6])
  })

  it('detects a deleted middle event', async () => {
    const db = sqlite()
    try {
      db.prepare('delete from audit_events where seq = 4').run()
    } finally {
      db.close()
    }
    const v = await f.backend.audit.verify()
    expect(v.ok).toBe(false)
    expect(v.events).toBe(9)
    expect(v.problems[0]).toEqual({seq: 4, problem: expect.stringMatching(/missing \(deleted\)/)})
    expect(v.problems.map((p) => p.seq)).toContain(5)
  })

  it('detects a deleted first event', async () => {
    const db = sqlite()
    try {
      db.prepare('delete from audit_events where seq = 1').run()
    } finally {
      db.close()
    }
    const v = await f.backend.audit.verify()
    expect(v.ok).toBe(false)
    expect(v.problems[0].seq).toBe(1)
  })

  it('detects the newest events deleted (the head remembers them)', async () => {
    const db = sqlite()
    try {
      db.prepare('delete from audit_events where seq >= 9').run()
    } finally {
      db.close()
    }
    const v = await f.backend.audit.verify()
    expect(v.ok).toBe(false)
    expect(v.problems).toEqual([{seq: 10, problem: expect.stringMatching(/newest events up to 10 are missing/)}])
  })

  it('detects a deleted head record, and new events after a clean verify keep the chain', async () => {
    await f.backend.directory.createUser({email: 'late@example.com'})
    expect(await f.backend.audit.verify()).toMatchObject({ok: true, events: 11})
    const db = sqlite()
    try {
      db.prepare('delete from audit_head').run()
    } finally {
      db.close()
    }
    const v = await f.backend.audit.verify()
    expect(v.ok).toBe(false)
    expect(v.problems[0].problem).toMatch(/head/)
  })
})

describe('audit verify reads every row', () => {
  beforeEach(async () => {
    await history()
  })

  it('names a row with a sequence number licadm never gives (0 or below), which audit list shows', async () => {
    const db = sqlite()
    try {
      const forge = db.prepare(`insert into audit_events values (?, 1700000000, 'local:ceo', 'license.revoke', 'license:lic_forged', null, '{"note":"forged"}', 'x', 'y')`)
      forge.run(-5)
      forge.run(0)
    } finally {
      db.close()
    }
    expect((await events()).filter((e) => e.seq < 1).map((e) => e.seq)).toEqual([-5, 0])
    const v = await f.backend.audit.verify()
    expect(v.ok).toBe(false)
    expect(v.events).toBe(12)
    expect(v.problems).toEqual([
      {seq: -5, problem: expect.stringMatching(/sequence number licadm never gives/)},
      {seq: 0, problem: expect.stringMatching(/sequence number licadm never gives/)},
    ])
  })
})

describe('audit verify reads one snapshot', () => {
  /**
   * Runs verify while a second process's connection appends events, as a busy server would: after
   * verify's reads (the head, each chunk of events) that `when` picks, one event is committed.
   */
  async function verifyWhileAppending(when: (rows: readonly unknown[]) => boolean) {
    const other = await openStore({path: f.storePath})
    const store = await openStore({path: f.storePath})
    let appended = 0
    const selects = new WeakSet<object>()
    const appendAfterReads: KyselyPlugin = {
      transformQuery(args) {
        if (args.node.kind === 'SelectQueryNode') selects.add(args.queryId)
        return args.node
      },
      async transformResult(args) {
        if (selects.has(args.queryId) && appended < 5 && when(args.result.rows)) {
          await other.write((tx) => appendAudit(tx, {clock: f.clock, actor: 'test:server'}, {action: 'test.concurrent', subject: `test:${appended}`}))
          appended++
        }
        return args.result
      },
    }
    try {
      const service = new AuditService({store: {...store, db: store.db.withPlugin(appendAfterReads)}, clock: f.clock, keys: undefined as never})
      return {verdict: await service.verify(), appended}
    } finally {
      await store.close()
      await other.close()
    }
  }

  beforeEach(async () => {
    await history()
  })

  it('an event appended after its last read of events is not taken for a cut-off chain', async () => {
    const {verdict, appended} = await verifyWhileAppending((rows) => rows.length === 0)
    expect(appended).toBe(1)
    expect(verdict).toMatchObject({ok: true, events: 10, problems: []})
    expect(await f.backend.audit.verify()).toMatchObject({ok: true, events: 11})
  })

  it('events appended after every read are outside this run, and the next run covers them', async () => {
    const {verdict, appended} = await verifyWhileAppending(() => true)
    expect(appended).toBeGreaterThanOrEqual(2)
    expect(verdict).toMatchObject({ok: true, events: 10, problems: []})
    expect(await f.backend.audit.verify()).toMatchObject({ok: true, events: 10 + appended})
  })
})
