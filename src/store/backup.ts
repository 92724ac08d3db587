/**
 * Online backup and check of a store file. SQLite's backup API copies a consistent snapshot while a
 * license server goes on writing (the copy starts over when another connection changes the source),
 * so nobody has to stop the server. The copy is made beside its destination, checked, and only then
 * renamed into place, 0600: a failed or interrupted backup never leaves a half-written file there.
 */
import {existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import {basename, dirname, join} from 'node:path'

import {ExitCode, LicadmError, NotFoundError} from '../domain/errors.js'
import {discardTemporary, fileError, isFileSystemError} from '../domain/file-errors.js'
import {LATEST_MIGRATION, unknownMigrations} from './migrations.js'

/** Tables whose rows a check counts: what a backup holds, at a glance. */
const COUNTED = ['licenses', 'containers', 'devices', 'leases', 'tokens', 'audit_events'] as const

export interface StoreCheck {
  file: string
  bytes: number
  /** What PRAGMA integrity_check found: ['ok'] when nothing. */
  integrity: string[]
  /** Rows that point at a row that does not exist (PRAGMA foreign_key_check). */
  foreignKeyProblems: number
  rows: Partial<Record<(typeof COUNTED)[number], number>>
  /** The store's schema: its newest migration, and the newest this licadm knows (it updates an older store when it opens it). */
  schema: {version: string; latest: string}
}

/**
 * The tables each migration makes that no later one drops: a file without the first migration's is
 * no licadm store; one that lists a migration done yet lacks its tables is damaged.
 */
const TABLES_OF: Record<string, readonly string[]> = {
  '0001_foundation': ['vendor', 'vendor_keys', 'products', 'licenses'],
  '0002_containers': ['users', 'groups', 'group_members', 'containers', 'container_licenses', 'devices', 'activations', 'saws', 'audit_events', 'audit_head'],
  '0004_seats': ['leases'],
  '0005_tokens': ['tokens'],
}

/** A file that SQLite reads but that is not a licadm store (empty, or another program's database). */
function notAStore(path: string, why: string): LicadmError {
  return new LicadmError('STORE_UNREADABLE', ExitCode.malformed, `${path} is not a licadm store: ${why}`, {
    hint: "Give the store of a profile (--profile), a server's --data DIR, or the path of a backup that \"licadm store backup\" made.",
  })
}

/**
 * Which licadm schema a readable file has: refuses one that is no licadm store (exit 10) and one
 * that a newer licadm made (STORE_TOO_NEW, exit 4, as opening it for work does). Also returns the
 * tables missing from a store whose migrations say they were made.
 */
function schemaOf(db: import('better-sqlite3').Database, path: string): {schema: StoreCheck['schema']; tables: Set<string>; missing: string[]} {
  const tables = new Set(db.prepare("select name from sqlite_master where type = 'table'").pluck().all() as string[])
  if (!tables.has('kysely_migration')) {
    throw notAStore(path, tables.size === 0 ? 'it holds no tables at all (an empty database)' : "it has none of licadm's tables (no kysely_migration)")
  }
  const done = new Set(db.prepare('select name from kysely_migration').pluck().all() as string[])
  if (!done.has('0001_foundation')) throw notAStore(path, 'its kysely_migration table lists no licadm migration')
  const unknown = unknownMigrations(db)
  if (unknown.length > 0) {
    throw new LicadmError('STORE_TOO_NEW', ExitCode.conflict, `${path} was made by a newer licadm (migration ${unknown.join(', ')}); install that version or newer`, {
      hint: 'An older licadm cannot use, check or back up a store that a newer one has updated: run these with the newer licadm.',
      details: {file: path, unknownMigrations: unknown},
    })
  }
  const missing = Object.entries(TABLES_OF).flatMap(([migration, names]) => (done.has(migration) ? names.filter((t) => !tables.has(t)) : []))
  return {schema: {version: [...done].sort().at(-1)!, latest: LATEST_MIGRATION}, tables, missing}
}

/** Opens a store file read-only; refuses one that is missing or not an SQLite database. */
async function openReadOnly(path: string) {
  if (!existsSync(path)) throw new NotFoundError('store', path, {hint: 'Give the store of a profile (--profile), a server\'s --data DIR, or the path of a backup.'})
  const {default: SQLite} = await import('better-sqlite3')
  try {
    const db = new SQLite(path, {readonly: true, fileMustExist: true})
    db.pragma('schema_version') // reads the header: a file that is not a database fails here
    return db
  } catch (error) {
    throw new LicadmError('STORE_UNREADABLE', ExitCode.malformed, `${path} is not a licadm store (SQLite database): ${(error as Error).message}`, {cause: error})
  }
}

/** Checks a store file: SQLite's integrity check, foreign keys, and the rows it holds. Refuses (exit 10) a damaged one. */
export async function checkStore(path: string): Promise<StoreCheck> {
  const db = await openReadOnly(path)
  try {
    let integrity: string[]
    try {
      integrity = (db.pragma('integrity_check') as Array<{integrity_check: string}>).map((r) => r.integrity_check)
    } catch (error) {
      integrity = [(error as Error).message]
    }
    const damaged = (check: Partial<StoreCheck>, problems: string[]) =>
      new LicadmError('STORE_DAMAGED', ExitCode.malformed, `the store ${path} is damaged: ${problems.join('; ')}`, {
        hint: 'Restore the latest good backup ("licadm store backup" makes one; see the README, "Backing up the store").',
        details: check,
      })
    // A damaged file may fail the reads below: what the integrity check found comes first.
    if (integrity.join() !== 'ok') throw damaged({file: path, bytes: statSync(path).size, integrity}, integrity.slice(0, 5))
    let check: StoreCheck
    let missing: string[]
    try {
      const found = schemaOf(db, path)
      missing = found.missing
      const foreignKeyProblems = (db.pragma('foreign_key_check') as unknown[]).length
      const rows: StoreCheck['rows'] = {}
      for (const table of COUNTED) if (found.tables.has(table)) rows[table] = db.prepare(`select count(*) from "${table}"`).pluck().get() as number
      check = {file: path, bytes: statSync(path).size, integrity, foreignKeyProblems, rows, schema: found.schema}
    } catch (error) {
      if (error instanceof LicadmError) throw error
      throw damaged({file: path, bytes: statSync(path).size, integrity}, [(error as Error).message])
    }
    if (missing.length > 0) throw damaged(check, [`its tables ${missing.join(', ')} are missing`])
    if (check.foreignKeyProblems > 0) throw damaged(check, [`${check.foreignKeyProblems} row(s) point at rows that do not exist`])
    return check
  } finally {
    db.close()
  }
}

/**
 * Puts a copy in SQLite's rollback-journal mode: the copy of a WAL store is a WAL database, which a
 * reader (the check) can only open beside a -wal and a -shm file it then leaves behind. A backup is
 * one file; the server puts a restored store back in WAL mode when it opens it.
 */
async function selfContained(path: string): Promise<void> {
  const {default: SQLite} = await import('better-sqlite3')
  const db = new SQLite(path, {fileMustExist: true})
  try {
    db.pragma('journal_mode = DELETE')
  } finally {
    db.close()
  }
}

/** What a backup found of earlier backups that were killed before they finished, in the destination's directory. */
export interface Leftovers {
  /** Removed: made on this host by a process that is gone. */
  removed: string[]
  /** Kept, as their maker may still be at work: made on another host, or by a licadm that did not record its host. */
  kept: string[]
}

/** This host, as a partial copy's name records it (a backup directory may be shared between hosts). */
function thisHost(): string {
  return hostname().replaceAll(/[^\w.-]/g, '_') || 'localhost'
}

/** The partial copies (and SQLite's -journal, -wal, -shm beside them) that a backup writes: ".NAME.partial-HOST-PID". */
const PARTIAL = /^\..+\.partial-(?:(.+)-)?(\d+)(?:-journal|-wal|-shm)?$/

function running(pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Removes what backups killed half-way (kill -9, a crash) left in `dir`: partial copies made on this
 * host by a process that no longer runs. Anything else that looks like one is only reported: a
 * backup on another host sharing the directory, or one whose maker is unknown, may be running.
 */
export function removeLeftovers(dir: string): Leftovers {
  const found: Leftovers = {removed: [], kept: []}
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return found // the backup's own write says what is wrong with the directory
  }
  const host = thisHost()
  for (const name of names) {
    const m = PARTIAL.exec(name)
    if (!m) continue
    const [, madeOn, pid] = m
    if (madeOn === host && !running(Number(pid))) {
      try {
        rmSync(join(dir, name), {force: true})
        found.removed.push(join(dir, name))
      } catch {
        found.kept.push(join(dir, name))
      }
    } else if (madeOn !== host) {
      found.kept.push(join(dir, name))
    }
  }
  return found
}

/** Copies the store at `source` to `destination` while it may be in use, checks the copy, and returns the check. */
export async function backupStore(source: string, destination: string): Promise<StoreCheck & {leftovers: Leftovers}> {
  const db = await openReadOnly(source)
  try {
    schemaOf(db, source) // no licadm store, or a newer licadm's: refused before anything is written
  } catch (error) {
    if (error instanceof LicadmError) {
      db.close()
      throw error
    }
    // A damaged file: the check of the copy names what is wrong.
  }
  const leftovers = removeLeftovers(dirname(destination))
  const partial = join(dirname(destination), `.${basename(destination)}.partial-${thisHost()}-${process.pid}`)
  try {
    // Made 0600 before SQLite opens it: the copy is never readable by others, not even for a moment.
    writeFileSync(partial, '', {mode: 0o600, flag: 'w'})
    // Every page in one step, inside one read transaction: a server writing meanwhile cannot make the
    // copy start over again and again (it would after each step of the default 100 pages).
    await db.backup(partial, {progress: () => 0x7fffffff})
    await selfContained(partial)
  } catch (error) {
    discardTemporary(partial)
    if (isFileSystemError(error)) throw fileError(error, 'write', {path: destination})
    throw new LicadmError('BACKUP_FAILED', ExitCode.internal, `the backup of ${source} failed: ${(error as Error).message}`, {cause: error})
  } finally {
    db.close()
  }
  try {
    const check = await checkStore(partial)
    renameSync(partial, destination)
    return {...check, file: destination, leftovers}
  } finally {
    discardTemporary(partial)
  }
}
