/**
 * store check and store backup on files that are not what they should be (spawned CLI over dist/,
 * build first): an empty file and another program's database are no licadm store (exit 10); a store
 * that a newer licadm migrated is refused clearly by every command (exit 4, never 1); a backup
 * cleans up what a killed backup left; --profile picks the profile whose store is backed up.
 */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import {join} from 'node:path'

import SQLite from 'better-sqlite3'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {fails, initVendor, ok, sandbox, type Sandbox} from '../helpers/cli.js'
import {LATEST_MIGRATION} from '../../src/store/migrations.js'

let sb: Sandbox
beforeAll(async () => {
  sb = sandbox('licadm-store-check-')
  await initVendor(sb, {products: [7]})
  await initVendor(sb, {profile: 'second', vendorCode: 2002, products: [8, 9]})
})
afterAll(() => sb?.cleanup())

function sqlite(path: string, statements: string) {
  const db = new SQLite(path)
  try {
    db.exec(statements)
  } finally {
    db.close()
  }
}

describe('store check', () => {
  it('passes a licadm store and reports its schema version', async () => {
    const check = ok(await sb.run(['store', 'check', '--json']))
    expect(check).toMatchObject({integrity: ['ok'], schema: {version: LATEST_MIGRATION, latest: LATEST_MIGRATION}})
    expect((await sb.run(['store', 'check'])).stdout).toContain(`schema ${LATEST_MIGRATION}`)
  })

  it('refuses an empty file and a database of another program: not a licadm store (exit 10)', async () => {
    writeFileSync(sb.path('empty.db'), '')
    expect(fails(await sb.run(['store', 'check', sb.path('empty.db'), '--json']), 10)).toMatchObject({code: 'STORE_UNREADABLE', message: expect.stringMatching(/is not a licadm store/)})
    sqlite(sb.path('other.db'), 'create table t(x)')
    expect(fails(await sb.run(['store', 'check', sb.path('other.db'), '--json']), 10)).toMatchObject({code: 'STORE_UNREADABLE', message: expect.stringMatching(/none of licadm's tables/)})
    // Licadm's migration table alone does not make a store: its tables must be there.
    sqlite(sb.path('half.db'), "create table kysely_migration(name varchar(255) primary key, timestamp varchar(255)); insert into kysely_migration values ('0001_foundation', 'x')")
    expect(fails(await sb.run(['store', 'check', sb.path('half.db'), '--json']), 10)).toMatchObject({code: 'STORE_DAMAGED', message: expect.stringMatching(/tables vendor, vendor_keys, products, licenses are missing/)})
  })
})

describe('a store made by a newer licadm', () => {
  it('is refused by every command with STORE_TOO_NEW (exit 4, never 1), by store check and store backup too', async () => {
    const other = sandbox('licadm-store-newer-')
    try {
      await initVendor(other, {products: [7]})
      sqlite(other.storePath(), "insert into kysely_migration (name, timestamp) values ('0099_future', '2030-01-01T00:00:00.000Z')")
      for (const args of [['license', 'list'], ['audit', 'verify'], ['product', 'create', '--code', '8', '--name', 'Eight']]) {
        expect(fails(await other.run([...args, '--json']), 4), args.join(' ')).toMatchObject({
          code: 'STORE_TOO_NEW',
          message: 'this store was made by a newer licadm (migration 0099_future); install that version or newer',
        })
      }
      const text = await other.run(['license', 'list'])
      expect(text.code).toBe(4)
      expect(text.stderr).not.toMatch(/a bug|please report/)
      expect(fails(await other.run(['store', 'check', '--json']), 4)).toMatchObject({code: 'STORE_TOO_NEW', details: {unknownMigrations: ['0099_future']}})
      expect(fails(await other.run(['store', 'backup', other.path('b.db'), '--json']), 4).code).toBe('STORE_TOO_NEW')
      expect(existsSync(other.path('b.db'))).toBe(false)
      expect(readdirSync(other.dir).filter((n) => n.includes('partial'))).toEqual([])
    } finally {
      other.cleanup()
    }
  })
})

describe('store backup', () => {
  it("--profile backs up that profile's store", async () => {
    const second = ok(await sb.run(['store', 'backup', sb.path('second.db'), '--profile', 'second', '--json']))
    expect(second.source).toBe(sb.storePath('second'))
    const first = ok(await sb.run(['store', 'backup', sb.path('first.db'), '--json']))
    expect(first.source).toBe(sb.storePath())
    const products = (file: string) => {
      const db = new SQLite(file, {readonly: true})
      try {
        return db.prepare('select code from products order by code').pluck().all()
      } finally {
        db.close()
      }
    }
    expect(products(sb.path('second.db'))).toEqual([8, 9])
    expect(products(sb.path('first.db'))).toEqual([7])
  })

  it('removes what a killed backup left on this host, and only names what it cannot know to be dead', async () => {
    const dir = sb.path('backups')
    mkdirSync(dir)
    const host = hostname().replaceAll(/[^\w.-]/g, '_')
    const dead = spawnSync(process.execPath, ['-e', '']).pid!
    const leftovers = {
      dead: [`.nightly-1.db.partial-${host}-${dead}`, `.nightly-1.db.partial-${host}-${dead}-journal`],
      // This test's own process runs: a backup at work, left alone and not mentioned.
      running: [`.nightly-2.db.partial-${host}-${process.pid}`],
      // Another host sharing the directory, or no host recorded: its maker may be at work.
      unknown: [`.nightly-3.db.partial-elsewhere.example.com-${dead}`, `.nightly-4.db.partial-${dead}`],
    }
    for (const name of Object.values(leftovers).flat()) writeFileSync(join(dir, name), 'half a copy')
    const r = await sb.run(['store', 'backup', join(dir, 'nightly-5.db')])
    ok(r)
    expect(readdirSync(dir).sort()).toEqual([...leftovers.running, ...leftovers.unknown, 'nightly-5.db'].sort())
    expect(r.stderr).toContain(`Removed 2 file(s) that an interrupted backup left: ${leftovers.dead.map((n) => join(dir, n)).join(', ')}`)
    expect(r.stderr).toContain(`Left in place 2 file(s)`)
    for (const name of leftovers.unknown) expect(r.stderr).toContain(join(dir, name))
    expect(r.stderr).not.toContain(leftovers.running[0])
  })
})
