import {randomBytes} from 'node:crypto'
import {closeSync, fchmodSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {basename, dirname, join} from 'node:path'

import {ExitCode, InvalidValueError, LicadmError} from './errors.js'

/** Why the system refused a path, in words (Node's error codes). */
const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'it or its directory does not exist',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENAMETOOLONG: 'the name is too long',
  EEXIST: 'it exists already',
  ENOSPC: 'no space left on the disk',
  EROFS: 'the file system is read-only',
  EMFILE: 'too many files are open',
}

/** An error the file system raised (it carries the system's code and the call that failed). */
export function isFileSystemError(error: unknown): error is NodeJS.ErrnoException & {code: string; syscall: string} {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && typeof (error as NodeJS.ErrnoException).syscall === 'string'
}

/**
 * A file-system error on a path the user chose, as a refusal that says which path and why (exit 2),
 * naming the flag or argument that gave it when known. `path` defaults to the one in the error.
 */
export function fileError(error: NodeJS.ErrnoException, action: 'read' | 'write', options: {path?: string; flag?: string} = {}): LicadmError {
  const path = options.path ?? error.path ?? '(unknown path)'
  const reason = REASONS[error.code ?? ''] ?? error.message
  const message = `cannot ${action} ${path === '' ? 'an empty path' : path}: ${reason}`
  return options.flag ? new InvalidValueError(options.flag, message) : new LicadmError('FILE_ERROR', ExitCode.usage, message, {hint: 'Check the path: its directory must exist and be writable.', cause: error})
}

/**
 * Removes a temporary file after a failed write, if it is there. Its own failure is ignored: the
 * path that could not be written may not be removable either (a name too long), and the error that
 * led here is the one to report.
 */
export function discardTemporary(path: string): void {
  try {
    rmSync(path, {force: true})
  } catch {
    // The write failed already and says why.
  }
}

/**
 * Writes a whole file or nothing: into a new temporary file beside it (an unguessable name, created
 * exclusively, so no file or link already there is written through), flushed to disk, then renamed
 * over `path`. `exact` sets the mode whatever the umask (for files only their owner may read).
 * Errors are the file system's, the temporary file gone.
 */
export function writeFileAtomic(path: string, data: string | Buffer, mode: number, options: {exact?: boolean} = {}): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  let fd: number | undefined
  try {
    fd = openSync(tmp, 'wx', mode)
    if (options.exact) fchmodSync(fd, mode)
    writeFileSync(fd, data)
    // On disk before the rename: after a power cut the file is the old one or the whole new one.
    fsyncSync(fd)
    closeSync(fd)
    fd = undefined
    renameSync(tmp, path)
  } catch (error) {
    if (fd !== undefined) closeSync(fd)
    discardTemporary(tmp)
    throw error
  }
}
