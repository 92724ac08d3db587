import {mkdirSync} from 'node:fs'
import {dirname} from 'node:path'

import {Kysely, Migrator, SqliteDialect, SqliteDriver, sql, type DatabaseConnection, type Insertable, type Transaction} from 'kysely'

import {LicadmError, ExitCode} from '../domain/errors.js'
import {migrationProvider, unknownMigrations} from './migrations.js'
import type {Database} from './schema.js'

export type Db = Kysely<Database>
export type Tx = Transaction<Database> | Kysely<Database>

/** A value SQLite binds: what the store's columns hold. */
export type SqlValue = string | number | bigint | null

/**
 * SQL run at once on the store's connection through prepared statements (cached by their text),
 * with no query builder and no promise per statement: the license server's seat path, where those
 * cost more than SQLite's own work. Only valid inside `write`, `writeSync` or `runSync`, which hold
 * the connection.
 */
export interface SyncSql {
  /** The first row, or undefined. */
  get<R>(text: string, ...params: SqlValue[]): R | undefined
  all<R>(text: string, ...params: SqlValue[]): R[]
  /** Runs a statement that returns no rows; the number of rows it changed. */
  run(text: string, ...params: SqlValue[]): number
  /**
   * SQLite's `data_version`: it changes when another connection (another licadm process on the
   * same store) commits, so a cache of stored rows knows it must be read again. Read once per
   * `write`, `writeSync` or `runSync`: inside a write transaction no other connection commits, and
   * the caches asked within one call see one version.
   */
  dataVersion(): number
}

export interface Store {
  readonly db: Db
  readonly path: string
  /**
   * Runs `fn` in one write transaction. SQLite takes the write lock up front (BEGIN IMMEDIATE), so
   * two processes never both read and then both write: checks and writes inside `fn` are atomic.
   * `now` runs statements in the same transaction without the query builder.
   */
  write<T>(fn: (tx: Tx, now: SyncSql) => Promise<T>): Promise<T>
  /** `write` with a synchronous body: the transaction never waits on the event loop. */
  writeSync<T>(fn: (now: SyncSql) => T): Promise<T>
  /** Runs `fn` with the connection to itself and no transaction (each statement commits alone). */
  runSync<T>(fn: (now: SyncSql) => T): Promise<T>
  /**
   * Inserts rows into one table, inside the transaction `tx` of `write`: the same as
   * `tx.insertInto(table).values(rows)`, only cheaper per row (bulk issuance inserts 10,000 licenses
   * at a time). Every row must have the same columns as the first.
   */
  insertMany<T extends keyof Database & string>(tx: Tx, table: T, rows: ReadonlyArray<Insertable<Database[T]>>): Promise<void>
  integrityCheck(): Promise<string>
  close(): Promise<void>
}

export interface OpenOptions {
  /** A file path, or ':memory:' for a throwaway store. */
  path: string
}

/** Opens (creating if needed) an SQLite store and brings its schema up to date. */
export async function openStore({path}: OpenOptions): Promise<Store> {
  const {default: SQLite} = await import('better-sqlite3')
  if (path !== ':memory:') mkdirSync(dirname(path), {recursive: true, mode: 0o700})
  let native: InstanceType<typeof SQLite>
  try {
    native = new SQLite(path)
  } catch (error) {
    throw new LicadmError('STORE_UNAVAILABLE', ExitCode.internal, `cannot open the store at ${path}: ${(error as Error).message}`, {cause: error})
  }
  native.pragma('journal_mode = WAL')
  // FULL: a committed transaction survives a crash of the process and of the machine. It costs an
  // fsync of the WAL per commit: measured with bulk issuance, 10-15 ms per transaction of 1,000
  // licenses, about a tenth of the run (NORMAL saves a quarter of that, OFF two thirds; checkpointing
  // the WAL less often only moves its cost to close). Kept: nothing committed may be lost.
  native.pragma('synchronous = FULL')
  native.pragma('foreign_keys = ON')
  native.pragma('busy_timeout = 10000')
  const statements = withStatementCache(native)
  const driver = new TrackedSqliteDriver({database: statements})
  const db = new Kysely<Database>({dialect: new (class extends SqliteDialect {
    override createDriver() {
      return driver
    }
  })({database: statements})})
  try {
    await migrate(db, native)
  } catch (error) {
    await db.destroy().catch(() => undefined)
    throw error
  }
  const now = syncSql(native, statements.prepare)
  // better-sqlite3's transaction wrapper: BEGIN IMMEDIATE, COMMIT, and ROLLBACK when fn throws.
  const immediate = native.transaction((fn: (q: SyncSql) => unknown) => fn(now.fresh())).immediate
  // A synchronous body never yields, so it may run at once whenever Kysely does not hold the
  // connection (no Kysely transaction is open around it); else it waits its turn for the connection.
  // Waiting on Kysely's lock every time cost more than the statements under load: each release
  // wakes every waiter.
  const whenFree = async <T>(run: () => T): Promise<T> => (driver.held ? db.connection().execute(async () => run()) : run())

  return {
    db,
    path,
    async write(fn) {
      return db.connection().execute(async (conn) => {
        await sql`begin immediate`.execute(conn)
        try {
          const result = await fn(conn, now.fresh())
          await sql`commit`.execute(conn)
          return result
        } catch (error) {
          await sql`rollback`.execute(conn)
          throw error
        }
      })
    },
    writeSync(fn) {
      return whenFree(() => immediate(fn) as ReturnType<typeof fn>)
    },
    runSync(fn) {
      return whenFree(() => fn(now.fresh()))
    },
    async insertMany(_tx, table, rows) {
      if (rows.length === 0) return
      // Kysely builds a query tree and SQLite compiles a new statement for every multi-row insert; for
      // thousands of rows that cost as much as SQLite's own work. One prepared single-row statement
      // per table and column list (from the statement cache), run once a row, skips both. It runs on
      // the same (only) connection as Kysely, so inside `write` it is part of the open transaction.
      const columns = Object.keys(rows[0])
      const statement = statements.prepare(`insert into ${quote(table)} (${columns.map(quote).join(', ')}) values (${columns.map(() => '?').join(', ')})`)
      // Positional parameters bind faster than named ones (no lookup by name a value); one array
      // serves every row, as binding copies the values.
      const values: unknown[] = new Array(columns.length)
      for (const row of rows) {
        // A missing column fails to bind (undefined); an extra one would be dropped without a word.
        if (Object.keys(row).length !== columns.length) throw new Error(`insertMany(${table}): every row must have the columns ${columns.join(', ')}`)
        for (let i = 0; i < columns.length; i++) values[i] = (row as Record<string, unknown>)[columns[i]]
        statement.run(values)
      }
    },
    async integrityCheck() {
      const rows = native.pragma('integrity_check') as Array<{integrity_check: string}>
      return rows.map((r) => r.integrity_check).join('\n')
    },
    async close() {
      await db.destroy()
    },
  }
}

/** An SQL identifier in double quotes (names come from code, but a quote must never end one early). */
function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/**
 * Brings the schema up to date in one transaction: Kysely runs SQLite migrations statement by
 * statement, each committed apart, so a process killed between two (a table rebuilt in four steps)
 * left a store that no later open could migrate. BEGIN IMMEDIATE also makes a second process that
 * opens the same new store wait, then find the schema done, instead of migrating it twice at once.
 * Every open takes the write lock for that moment: beside a busy server, a command waits its turn
 * (busy_timeout), as for any write.
 */
async function migrate(db: Db, native: import('better-sqlite3').Database): Promise<void> {
  native.exec('begin immediate')
  let outcome: Awaited<ReturnType<Migrator['migrateToLatest']>>
  try {
    refuseNewerSchema(native)
    outcome = await new Migrator({db, provider: migrationProvider}).migrateToLatest()
  } catch (error) {
    native.exec('rollback')
    throw error
  }
  const {error, results} = outcome
  if (error) {
    native.exec('rollback')
    const failed = results?.find((r) => r.status === 'Error')?.migrationName
    throw new LicadmError('STORE_MIGRATION_FAILED', ExitCode.internal, `the store's schema could not be updated${failed ? ` (migration ${failed})` : ''}: ${(error as Error).message}`, {cause: error})
  }
  native.exec('commit')
}

/**
 * Refuses a store that a newer licadm migrated: a migration this version does not know would make
 * Kysely's migrator fail ("corrupted migrations"), and this version could not read the store right.
 */
function refuseNewerSchema(native: import('better-sqlite3').Database): void {
  const unknown = unknownMigrations(native)
  if (unknown.length === 0) return
  throw new LicadmError('STORE_TOO_NEW', ExitCode.conflict, `this store was made by a newer licadm (migration ${unknown.join(', ')}); install that version or newer`, {
    hint: 'This licadm leaves the store as it is. An older licadm cannot use a store that a newer one has updated: use the newer licadm, or restore a backup made before the update.',
    details: {unknownMigrations: unknown},
  })
}

/** Kysely's SQLite driver, telling whether a query or transaction holds the (single) connection. */
class TrackedSqliteDriver extends SqliteDriver {
  held = false

  override async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await super.acquireConnection()
    this.held = true
    return connection
  }

  override async releaseConnection(): Promise<void> {
    this.held = false
    await super.releaseConnection()
  }
}

/** SyncSql, and `fresh()`: what each store call runs its body with (the data version read anew). */
function syncSql(native: import('better-sqlite3').Database, prepare: (text: string) => import('better-sqlite3').Statement): {fresh(): SyncSql} {
  // Its own statement: pluck() changes how a statement returns rows, so it is not shared via the cache.
  const version = native.prepare('pragma data_version').pluck()
  let known: number | undefined
  const sql: SyncSql = {
    get: <R>(text: string, ...params: SqlValue[]) => prepare(text).get(...params) as R | undefined,
    all: <R>(text: string, ...params: SqlValue[]) => prepare(text).all(...params) as R[],
    run: (text: string, ...params: SqlValue[]) => prepare(text).run(...params).changes,
    dataVersion: () => (known ??= version.get() as number),
  }
  return {
    fresh() {
      known = undefined
      return sql
    },
  }
}

/** Statements kept compiled at most; a server runs a few dozen distinct queries. */
const STATEMENT_CACHE_SIZE = 500

/**
 * Kysely's SQLite driver prepares every query anew, and SQLite's compile step was a fifth of the
 * license server's time per seat checkout. The same SQL text gets the same prepared statement back.
 * Safe because licadm uses one connection and never streams rows (a statement is never busy when
 * it is handed out again).
 */
function withStatementCache(native: import('better-sqlite3').Database) {
  const cache = new Map<string, import('better-sqlite3').Statement>()
  return {
    close: () => native.close(),
    prepare(text: string) {
      let statement = cache.get(text)
      if (!statement) {
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.clear()
        statement = native.prepare(text)
        cache.set(text, statement)
      }
      return statement
    },
  }
}
