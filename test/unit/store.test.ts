import {spawn} from 'node:child_process'
import {mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'

import SQLite from 'better-sqlite3'
import {Kysely, Migrator, sql, SqliteDialect} from 'kysely'
import ts from 'typescript'
import {afterAll, describe, expect, it} from 'vitest'

import {LATEST_MIGRATION, migrationProvider} from '../../src/store/migrations.js'
import {openStore, type Store} from '../../src/store/store.js'
import {tempDir} from './helpers.js'

const tmp = tempDir()
afterAll(tmp.cleanup)
const ROOT = resolve(import.meta.dirname, '../..')

const product = (code: number) => ({code, name: `P${code}`, created_at: 1})

async function tables(store: Store): Promise<string[]> {
  const {rows} = await sql<{name: string}>`select name from sqlite_master where type = 'table' order by name`.execute(store.db)
  return rows.map((r) => r.name)
}

describe('openStore', () => {
  it('opens an in-memory store with the migrations applied', async () => {
    const store = await openStore({path: ':memory:'})
    try {
      expect(await tables(store)).toEqual(expect.arrayContaining(['vendor', 'vendor_keys', 'products', 'licenses', 'requests']))
      const {rows} = await sql<{name: string}>`select name from kysely_migration order by name`.execute(store.db)
      const defined = Object.keys(await migrationProvider.getMigrations()).sort()
      expect(defined[0]).toBe('0001_foundation')
      expect(rows.map((r) => r.name)).toEqual(defined)
      expect(LATEST_MIGRATION).toBe(defined.at(-1))
      expect(await store.integrityCheck()).toBe('ok')
    } finally {
      await store.close()
    }
  })

  it('creates a file store (and its directory) in WAL mode with foreign keys on, and keeps data across opens', async () => {
    const path = join(tmp.dir, 'nested', 'data', 'licadm.db')
    const first = await openStore({path})
    const {rows: mode} = await sql<{journal_mode: string}>`pragma journal_mode`.execute(first.db)
    expect(mode[0].journal_mode).toBe('wal')
    const {rows: fk} = await sql<{foreign_keys: number}>`pragma foreign_keys`.execute(first.db)
    expect(fk[0].foreign_keys).toBe(1)
    await first.write((tx) => tx.insertInto('products').values(product(1)).execute())
    await first.close()
    // Opening again runs no migration twice and finds the data.
    const second = await openStore({path})
    expect(await second.db.selectFrom('products').select('code').execute()).toEqual([{code: 1}])
    const {rows} = await sql<{n: number}>`select count(*) as n from kysely_migration`.execute(second.db)
    expect(rows[0].n).toBe(Object.keys(await migrationProvider.getMigrations()).length)
    expect(await second.integrityCheck()).toBe('ok')
    await second.close()
  })

  it('enforces the schema: a license for a product that does not exist is refused', async () => {
    const store = await openStore({path: ':memory:'})
    const license = {
      id: 'lic_x', ticket: 'T', product_code: 99, kind: 'single', quantity: 1, features: 0, units: null, not_before: 0, expires_at: null,
      status: 'available', customer: null, metadata: '{}', kid: 'k', jws: 'j', created_at: 0, revoked_at: null, request_key: null, request_seq: null,
    }
    await expect(store.write((tx) => tx.insertInto('licenses').values(license).execute())).rejects.toThrow(/FOREIGN KEY/)
    await expect(store.write((tx) => tx.insertInto('licenses').values({...license, kind: 'floating'}).execute())).rejects.toThrow(/CHECK|FOREIGN/)
    await store.close()
  })
})

describe('seat counters (migration 0006_seat_counts)', () => {
  const license = (id: string) => ({
    id, ticket: `T-${id}`, product_code: 7, kind: 'concurrent', quantity: 100, features: 0, units: null, not_before: 0, expires_at: null,
    status: 'available', customer: null, metadata: '{}', kid: 'k', jws: 'j', created_at: 0, revoked_at: null, request_key: null, request_seq: null,
  })
  const lease = (id: string, licenseId: string, extra: {kind?: 'lease' | 'borrow'; mode?: 'checkout' | 'station' | 'exclusive'; seats?: number} = {}) => ({
    id, license_id: licenseId, product_code: 7, kind: extra.kind ?? 'lease', mode: extra.mode ?? 'checkout', user: 'u', host: 'h',
    process: null, address: null, seats: extra.seats ?? 1, created_at: 0, renewed_at: 0, expires_at: 100,
  })
  /** The counters as the triggers keep them, and as summing the leases gives them. */
  async function counts(store: Store) {
    return store.runSync((q) => ({
      kept: q.all('select license_id, plain, stations from seat_counts where plain != 0 or stations != 0 order by license_id'),
      summed: q.all(`select license_id, sum(case when kind = 'lease' and mode = 'station' then 0 else seats end) as plain,
        sum(case when kind = 'lease' and mode = 'station' then 1 else 0 end) as stations from leases group by license_id order by license_id`),
    }))
  }

  it('counts the leases a store had before the migration', async () => {
    const path = join(tmp.dir, 'counts-before.db')
    const native = new SQLite(path)
    const db = new Kysely<any>({dialect: new SqliteDialect({database: native})})
    const {error} = await new Migrator({db, provider: migrationProvider}).migrateTo('0005_tokens')
    expect(error).toBeUndefined()
    await db.insertInto('products').values(product(7)).execute()
    await db.insertInto('licenses').values([license('lic_a'), license('lic_b')]).execute()
    await db.insertInto('leases').values([lease('l1', 'lic_a'), lease('l2', 'lic_a', {kind: 'borrow'}), lease('l3', 'lic_a', {mode: 'station'}), lease('l4', 'lic_b', {mode: 'exclusive', seats: 100})]).execute()
    await db.destroy()
    const store = await openStore({path})
    const {kept, summed} = await counts(store)
    expect(kept).toEqual([{license_id: 'lic_a', plain: 2, stations: 1}, {license_id: 'lic_b', plain: 100, stations: 0}])
    expect(kept).toEqual(summed)
    // The leases were kept through the rebuild, now keyed by id alone (no rowid).
    expect(await store.runSync((q) => q.all<{id: string}>('select id from leases order by id'))).toEqual([{id: 'l1'}, {id: 'l2'}, {id: 'l3'}, {id: 'l4'}])
    await expect(store.runSync((q) => q.get('select rowid from leases'))).rejects.toThrow(/rowid/)
    await store.close()
  })

  it('follows every insert, delete and change of a lease, and a rolled-back one not at all', async () => {
    const store = await openStore({path: ':memory:'})
    await store.write(async (tx) => {
      await tx.insertInto('products').values(product(7)).execute()
      await tx.insertInto('licenses').values([license('lic_a'), license('lic_b')]).execute()
    })
    await store.write((tx) => tx.insertInto('leases').values([lease('l1', 'lic_a'), lease('l2', 'lic_a', {mode: 'station'}), lease('l3', 'lic_b', {kind: 'borrow'})]).execute())
    await store.write((tx) => tx.updateTable('leases').set({mode: 'station'}).where('id', '=', 'l1').execute())
    await store.write((tx) => tx.updateTable('leases').set({license_id: 'lic_a', expires_at: 500}).where('id', '=', 'l3').execute())
    await expect(store.writeSync((q) => {
      q.run("insert into leases (id, license_id, product_code, kind, mode, \"user\", host, seats, created_at, renewed_at, expires_at) values ('l9', 'lic_b', 7, 'lease', 'exclusive', 'u', 'h', 100, 0, 0, 9)")
      throw new Error('crash')
    })).rejects.toThrow('crash')
    let {kept, summed} = await counts(store)
    expect(kept).toEqual([{license_id: 'lic_a', plain: 1, stations: 2}])
    expect(kept).toEqual(summed)
    await store.write((tx) => tx.deleteFrom('leases').where('id', 'in', ['l1', 'l3']).execute())
    ;({kept, summed} = await counts(store))
    expect(kept).toEqual([{license_id: 'lic_a', plain: 0, stations: 1}])
    await store.write((tx) => tx.deleteFrom('leases').execute())
    expect(await counts(store)).toEqual({kept: [], summed: []})
    await store.close()
  })
})

describe('migrations run in one transaction', () => {
  it('a migration that fails half-way leaves nothing of its first steps: the store is as it was before the open', async () => {
    const path = join(tmp.dir, 'half-way.db')
    const native = new SQLite(path)
    const db = new Kysely<any>({dialect: new SqliteDialect({database: native})})
    expect((await new Migrator({db, provider: migrationProvider}).migrateTo('0010_seat_linger')).error).toBeUndefined()
    // 0011 rebuilds offline_updates: create, copy, drop, rename. A column gone makes the copy fail.
    await sql`alter table offline_updates drop column mismatch`.execute(db)
    await db.destroy()
    await expect(openStore({path})).rejects.toMatchObject({code: 'STORE_MIGRATION_FAILED', message: expect.stringMatching(/0011_offline_device_counters/)})
    const after = new SQLite(path, {readonly: true})
    const tables = (after.prepare("select name from sqlite_master where type = 'table' and name like 'offline_updates%'").all() as Array<{name: string}>).map((t) => t.name)
    const applied = (after.prepare('select name from kysely_migration order by name').all() as Array<{name: string}>).map((m) => m.name)
    after.close()
    // Its first step (the new table) was rolled back with the rest.
    expect(tables).toEqual(['offline_updates'])
    expect(applied.at(-1)).toBe('0010_seat_linger')
  })
})

describe('a store made by a newer licadm', () => {
  it('is refused before any migration runs (STORE_TOO_NEW, exit 4, naming the migration), and left as it was', async () => {
    const path = join(tmp.dir, 'newer.db')
    const native = new SQLite(path)
    const db = new Kysely<any>({dialect: new SqliteDialect({database: native})})
    // An older store (up to 0010) that a newer licadm then updated with a migration this one lacks.
    expect((await new Migrator({db, provider: migrationProvider}).migrateTo('0010_seat_linger')).error).toBeUndefined()
    await sql`insert into kysely_migration (name, timestamp) values ('0099_future', '2030-01-01T00:00:00.000Z')`.execute(db)
    await db.destroy()
    await expect(openStore({path})).rejects.toMatchObject({
      code: 'STORE_TOO_NEW',
      exit: 4,
      message: 'this store was made by a newer licadm (migration 0099_future); install that version or newer',
      details: {unknownMigrations: ['0099_future']},
    })
    const after = new SQLite(path, {readonly: true})
    const applied = (after.prepare('select name from kysely_migration order by name').all() as Array<{name: string}>).map((m) => m.name)
    after.close()
    // Nothing migrated: 0011 and 0012 were not applied to a schema this version does not know.
    expect(applied.slice(-2)).toEqual(['0010_seat_linger', '0099_future'])
  })
})

describe('Store.write', () => {
  it('commits what fn wrote and returns its result', async () => {
    const store = await openStore({path: ':memory:'})
    const result = await store.write(async (tx) => {
      await tx.insertInto('products').values(product(1)).execute()
      return 'done'
    })
    expect(result).toBe('done')
    expect(await store.db.selectFrom('products').select('code').execute()).toEqual([{code: 1}])
    await store.close()
  })

  it('rolls back everything when fn throws, and rethrows the same error', async () => {
    const store = await openStore({path: join(tmp.dir, 'rollback.db')})
    const boom = new Error('boom')
    await expect(
      store.write(async (tx) => {
        await tx.insertInto('products').values(product(1)).execute()
        await tx.insertInto('products').values(product(2)).execute()
        throw boom
      }),
    ).rejects.toBe(boom)
    expect(await store.db.selectFrom('products').selectAll().execute()).toEqual([])
    // A failing statement half-way (duplicate key) undoes the statements before it.
    await store.write((tx) => tx.insertInto('products').values(product(5)).execute())
    await expect(
      store.write(async (tx) => {
        await tx.insertInto('products').values(product(6)).execute()
        await tx.insertInto('products').values(product(5)).execute()
      }),
    ).rejects.toThrow(/UNIQUE/)
    expect(await store.db.selectFrom('products').select('code').execute()).toEqual([{code: 5}])
    // And the store still takes writes afterwards: no transaction was left open.
    await store.write((tx) => tx.insertInto('products').values(product(7)).execute())
    expect((await store.db.selectFrom('products').select('code').orderBy('code').execute()).map((r) => r.code)).toEqual([5, 7])
    expect(await store.integrityCheck()).toBe('ok')
    await store.close()
  })

  it('serializes concurrent writes on one store: no lost update', async () => {
    const store = await openStore({path: join(tmp.dir, 'one.db')})
    await sql`create table counter (n integer not null)`.execute(store.db)
    await sql`insert into counter values (0)`.execute(store.db)
    await Promise.all(Array.from({length: 20}, () => store.write(readThenIncrement)))
    expect(await counter(store)).toBe(20)
    await store.close()
  })

  it('takes the write lock at BEGIN (IMMEDIATE): another connection cannot begin a write meanwhile', async () => {
    const path = join(tmp.dir, 'immediate.db')
    const a = await openStore({path})
    const b = await openStore({path})
    // Fail fast instead of waiting for the lock (better-sqlite3 waits synchronously).
    await sql`pragma busy_timeout = 0`.execute(b.db)
    let inside: unknown = 'not run'
    await a.write(async () => {
      // Nothing written yet by `a`: a deferred BEGIN would not hold any lock here.
      inside = await b.write(async () => 'b ran').catch((error: Error) => error)
    })
    expect(inside).toBeInstanceOf(Error)
    expect(String(inside)).toMatch(/locked|busy/i)
    // Once `a` committed, `b` writes.
    expect(await b.write(async () => 'b ran')).toBe('b ran')
    await a.close()
    await b.close()
  })

  it('serializes read-then-increment writes of two processes on one file: no lost update', async () => {
    const dir = join(tmp.dir, 'procs')
    const script = transpileStore(dir)
    const path = join(dir, 'shared.db')
    const setup = await openStore({path})
    await sql`create table counter (n integer not null)`.execute(setup.db)
    await sql`insert into counter values (0)`.execute(setup.db)
    await setup.close()
    const runs = await Promise.all([runChild(script, path, 25), runChild(script, path, 25)])
    for (const r of runs) expect(r, r.stderr).toMatchObject({code: 0})
    const store = await openStore({path})
    expect(await counter(store)).toBe(50)
    expect(await store.integrityCheck()).toBe('ok')
    await store.close()
  }, 30_000)
})

describe('Store.writeSync and runSync (the seat path)', () => {
  it('commits a synchronous body, and rolls it back whole when it throws', async () => {
    const store = await openStore({path: ':memory:'})
    expect(await store.writeSync((q) => q.run('insert into products (code, name, created_at) values (?, ?, ?)', 1, 'P1', 1))).toBe(1)
    const boom = new Error('boom')
    await expect(
      store.writeSync((q) => {
        q.run('insert into products (code, name, created_at) values (?, ?, ?)', 2, 'P2', 1)
        throw boom
      }),
    ).rejects.toBe(boom)
    expect(await store.runSync((q) => q.all<{code: number}>('select code from products order by code'))).toEqual([{code: 1}])
    // No transaction was left open: a Kysely write still works.
    await store.write((tx) => tx.insertInto('products').values(product(3)).execute())
    expect(await store.runSync((q) => q.get<{n: number}>('select count(*) as n from products'))).toEqual({n: 2})
    await store.close()
  })

  it('waits for an open Kysely transaction instead of running inside it', async () => {
    const store = await openStore({path: ':memory:'})
    await sql`create table counter (n integer not null)`.execute(store.db)
    await sql`insert into counter values (0)`.execute(store.db)
    const boom = new Error('rolled back')
    const order: string[] = []
    // The Kysely transaction yields between its read and its write, then fails: were the
    // synchronous write run inside it, its increment would be rolled back with it.
    const kysely = store
      .write(async (tx) => {
        await sql`update counter set n = n + 100`.execute(tx)
        await new Promise((r) => setTimeout(r, 20))
        order.push('kysely')
        throw boom
      })
      .catch((error: unknown) => error)
    await new Promise((r) => setTimeout(r, 5))
    const sync = store.writeSync((q) => {
      order.push('sync')
      return q.run('update counter set n = n + 1')
    })
    expect(await kysely).toBe(boom)
    expect(await sync).toBe(1)
    expect(order).toEqual(['kysely', 'sync'])
    expect(await counter(store)).toBe(1)
    await store.close()
  })

  it('sees inside a Kysely write what that write did (same connection, same transaction)', async () => {
    const store = await openStore({path: ':memory:'})
    const seen = await store.write(async (tx, now) => {
      await tx.insertInto('products').values(product(9)).execute()
      return now.get<{code: number}>('select code from products where code = ?', 9)
    })
    expect(seen).toEqual({code: 9})
    await store.close()
  })

  it("changes dataVersion when another connection commits, not on the store's own commits", async () => {
    const path = join(tmp.dir, 'version.db')
    const a = await openStore({path})
    const b = await openStore({path})
    const v0 = await a.runSync((q) => q.dataVersion())
    await a.writeSync((q) => q.run('insert into products (code, name, created_at) values (?, ?, ?)', 1, 'P1', 1))
    expect(await a.runSync((q) => q.dataVersion())).toBe(v0)
    await b.write((tx) => tx.insertInto('products').values(product(2)).execute())
    expect(await a.runSync((q) => q.dataVersion())).not.toBe(v0)
    await a.close()
    await b.close()
  })
})

async function readThenIncrement(tx: Parameters<Parameters<Store['write']>[0]>[0]): Promise<void> {
  const {rows} = await sql<{n: number}>`select n from counter`.execute(tx)
  // Yield to the event loop between the read and the write, as real work would.
  await new Promise((r) => setTimeout(r, 1))
  await sql`update counter set n = ${rows[0].n + 1}`.execute(tx)
}

async function counter(store: Store): Promise<number> {
  const {rows} = await sql<{n: number}>`select n from counter`.execute(store.db)
  return rows[0].n
}

/**
 * The store's sources as JavaScript in `dir`, with a child script that increments the counter: the
 * child processes run the real `openStore`/`write`, not a copy of their logic.
 */
function transpileStore(dir: string): string {
  const sources = ['src/store', 'src/domain'].flatMap((d) => readdirSync(join(ROOT, d), {recursive: true}).map(String).filter((f) => f.endsWith('.ts')).map((f) => `${d}/${f}`))
  for (const file of sources) {
    const out = join(dir, file.replace(/\.ts$/, '.js'))
    mkdirSync(dirname(out), {recursive: true})
    const {outputText} = ts.transpileModule(readFileSync(join(ROOT, file), 'utf8'), {
      compilerOptions: {module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022},
    })
    writeFileSync(out, outputText)
  }
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}')
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  const script = join(dir, 'increment.js')
  writeFileSync(
    script,
    `import {sql} from 'kysely'
import {openStore} from './src/store/store.js'
const [path, times] = process.argv.slice(2)
const store = await openStore({path})
for (let i = 0; i < Number(times); i++) {
  await store.write(async (tx) => {
    const {rows} = await sql\`select n from counter\`.execute(tx)
    await new Promise((r) => setTimeout(r, 2))
    await sql\`update counter set n = \${rows[0].n + 1}\`.execute(tx)
  })
}
await store.close()
`,
  )
  return script
}

function runChild(script: string, path: string, times: number): Promise<{code: number | null; stderr: string}> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [script, path, String(times)], {stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('close', (code) => res({code, stderr}))
  })
}
