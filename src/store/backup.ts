/**
 * Online backup and check of a store file. SQLite's backup API copies a consistent snapshot while a
 * license server goes on writing (the copy starts over when another connection changes the source),
 * so nobody has to stop the server. The copy is made beside its destination, checked, and only then
 * renamed into place, 0600: a failed or interrupted backup never leaves a half-written file there.
 */
import {existsSync, renameSync, statSync, writeFileSync} from 'node:fs'
import {basename, dirname, join} from 'node:path'

import {ExitCode, LicadmError, NotFoundError} from '../domain/errors.js'
import {discardTemporary, fileError, isFileSystemError} from '../domain/file-errors.js'

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
    const foreignKeyProblems = (db.pragma('foreign_key_check') as unknown[]).length
    const tables = new Set((db.prepare("select name from sqlite_master where type = 'table'").pluck().all() as string[]))
    const rows: StoreCheck['rows'] = {}
    for (const table of COUNTED) if (tables.has(table)) rows[table] = db.prepare(`select count(*) from "${table}"`).pluck().get() as number
    const check = {file: path, bytes: statSync(path).size, integrity, foreignKeyProblems, rows}
    if (integrity.join() !== 'ok' || foreignKeyProblems > 0) {
      throw new LicadmError('STORE_DAMAGED', ExitCode.malformed, `the store ${path} is damaged: ${[...(integrity.join() === 'ok' ? [] : integrity.slice(0, 5)), ...(foreignKeyProblems ? [`${foreignKeyProblems} row(s) point at rows that do not exist`] : [])].join('; ')}`, {
        hint: 'Restore the latest good backup ("licadm store backup" makes one; see the README, "Backing up the store").',
        details: check,
      })
    }
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

/** Copies the store at `source` to `destination` while it may be in use, checks the copy, and returns the check. */
export async function backupStore(source: string, destination: string): Promise<StoreCheck> {
  const db = await openReadOnly(source)
  const partial = join(dirname(destination), `.${basename(destination)}.partial-${process.pid}`)
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
    return {...check, file: destination}
  } finally {
    discardTemporary(partial)
  }
}
