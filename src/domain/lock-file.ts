import {randomBytes} from 'node:crypto'
import {linkSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import {dirname, join} from 'node:path'

import {discardTemporary} from './file-errors.js'

/** What a lock file says about the process that holds it. */
export interface LockOwner {
  pid: number
  host: string
  /** Tells this holding of the lock from any other (a pid can be used again). */
  nonce: string
  since: string
}

/**
 * An exclusive lock held by one process as a file (the device directory's state.lock, a license
 * server's data directory): it exists while held and names its holder. It is created whole (written
 * beside its name, then hard-linked to it, which fails when the name exists), so a reader never sees
 * it half-written; a lock left by a process that is gone (same host, pid no longer running) can be
 * taken over.
 */
export class LockFile {
  constructor(readonly path: string) {}

  /** Takes the lock when nobody holds it: the owner that now holds it, or null. */
  tryAcquire(): LockOwner | null {
    const owner: LockOwner = {pid: process.pid, host: hostname(), nonce: randomBytes(8).toString('hex'), since: new Date().toISOString()}
    const tmp = join(dirname(this.path), `.${owner.nonce}.lock.tmp`)
    writeFileSync(tmp, `${JSON.stringify(owner)}\n`, {mode: 0o600, flag: 'wx'})
    try {
      linkSync(tmp, this.path)
      return owner
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return null
      throw error
    } finally {
      discardTemporary(tmp)
    }
  }

  /**
   * Takes the lock, taking over one whose holder is gone. Returns the owner that now holds it, or
   * the live holder in the way (`held`; null when the file could not be read).
   */
  acquire(): {owner: LockOwner} | {held: LockOwner | null} {
    for (let tries = 0; tries < 3; tries++) {
      const owner = this.tryAcquire()
      if (owner) return {owner}
      const holder = this.holder()
      if (!holder || !isGone(holder)) return {held: holder}
      this.takeOver(holder)
    }
    return {held: this.holder()}
  }

  /** Releases the lock if it is still the one `owner` took. */
  release(owner: LockOwner): void {
    if (this.holder()?.nonce === owner.nonce) rmSync(this.path, {force: true})
  }

  /** Who holds the lock; null when nobody does or the file cannot be read. */
  holder(): LockOwner | null {
    try {
      const owner = JSON.parse(readFileSync(this.path, 'utf8')) as Partial<LockOwner>
      if (typeof owner.pid !== 'number' || typeof owner.nonce !== 'string') return null
      return {pid: owner.pid, nonce: owner.nonce, host: String(owner.host ?? ''), since: String(owner.since ?? '')}
    } catch {
      return null
    }
  }

  /**
   * Removes a lock whose holder is gone. Moved aside first and checked: if another process took the
   * stale lock over and locked again in between, the lock moved is live, and it is put back.
   */
  takeOver(stale: LockOwner): void {
    const aside = join(dirname(this.path), `.${randomBytes(6).toString('hex')}.lock.stale`)
    try {
      renameSync(this.path, aside)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return // released or taken over meanwhile
      throw error
    }
    if (new LockFile(aside).holder()?.nonce !== stale.nonce) {
      try {
        linkSync(aside, this.path)
      } catch {
        // Locked again by a third process: nothing better to do than leave that one.
      }
    }
    discardTemporary(aside)
  }
}

/** True when the lock's holder is a process of this machine that is no longer running. */
export function isGone(owner: LockOwner): boolean {
  if (owner.host !== hostname() || owner.pid === process.pid) return false
  try {
    process.kill(owner.pid, 0)
    return false
  } catch (error) {
    // EPERM: running, under another user.
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

/** Who holds a lock, in words: "another licadm process (pid N[ on HOST], since T)". */
export function describeHolder(holder: LockOwner | null): string {
  return holder ? `another licadm process (pid ${holder.pid}${holder.host === hostname() ? '' : ` on ${holder.host}`}, since ${holder.since})` : 'another licadm process'
}
