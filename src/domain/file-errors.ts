import {randomBytes} from 'node:crypto'
import {closeSync, fchmodSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {basename, dirname, join} from 'node:path'
import {getSystemErrorMap} from 'node:util'

import {ExitCode, InvalidValueError, LicadmError} from './errors.js'

/** Why the system refused a path, in words (Node's error codes). ENOENT depends on the action: see reasonOf. */
const REASONS: Readonly<Record<string, string>> = {
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENAMETOOLONG: 'the name is too long',
  EEXIST: 'it exists already',
  ENOSPC: 'no space left on the disk',
  EDQUOT: 'the disk quota is used up',
  EROFS: 'the file system is read-only',
  EMFILE: 'too many files are open',
  ENFILE: 'too many files are open',
  ELOOP: 'too many symbolic links in the path',
  EBUSY: 'it is in use',
  ETXTBSY: 'it is in use',
  EFBIG: 'the file is too large',
  EIO: 'the device reported an input/output error',
  ENXIO: 'no such device',
  ENODEV: 'no such device',
}

/** The plain words of any other system error ("EPIPE: broken pipe, write" → "broken pipe"). */
function systemWords(error: NodeJS.ErrnoException): string {
  const words = error.errno === undefined ? undefined : getSystemErrorMap().get(error.errno)?.[1]
  if (words) return words
  return /^[A-Z0-9]+: ([^,]+)/.exec(error.message)?.[1] ?? error.message
}

/**
 * Why the system refused `path`, in words. "Does not exist" only for ENOENT, and then only what does
 * not: a write's ENOENT while the directory is there is a file system that creates no files in it
 * (/proc, /sys: the temporary file beside the target is refused), not a missing file.
 */
function reasonOf(error: NodeJS.ErrnoException, action: 'read' | 'write', path: string): string {
  if (error.code !== 'ENOENT') return REASONS[error.code ?? ''] ?? systemWords(error)
  if (path === '' || path === '(unknown path)') return 'it or its directory does not exist'
  let directory
  try {
    directory = statSync(dirname(path), {throwIfNoEntry: false})
  } catch {
    return 'it or its directory does not exist'
  }
  if (directory === undefined) return 'its directory does not exist'
  if (!directory.isDirectory()) return 'a part of the path is not a directory'
  if (action === 'read') return 'it does not exist'
  return 'no new file can be created in its directory (licadm writes a temporary file there, then renames it)'
}

/** An error the file system raised (it carries the system's code and the call that failed). */
export function isFileSystemError(error: unknown): error is NodeJS.ErrnoException & {code: string; syscall: string} {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && typeof (error as NodeJS.ErrnoException).syscall === 'string'
}

/**
 * A file-system error on a path the user chose, as a refusal that says which path and why (exit 2),
 * naming the flag or argument that gave it when known. `path` defaults to the one in the error;
 * `what` (a "license file") and `hint` make the hint of an error without a flag fit what was read.
 */
export function fileError(
  error: NodeJS.ErrnoException,
  action: 'read' | 'write',
  options: {path?: string; flag?: string; what?: string; hint?: string} = {},
): LicadmError {
  const path = options.path ?? error.path ?? '(unknown path)'
  const message = `cannot ${action} ${path === '' ? 'an empty path' : path}: ${reasonOf(error, action, path)}`
  if (options.flag) return new InvalidValueError(options.flag, message, options.hint === undefined ? {} : {hint: options.hint})
  const hint =
    options.hint ??
    (action === 'read' ? `Check the path${options.what ? ` of the ${options.what}` : ''}: it must be a file you can read.` : 'Check the path: its directory must exist and be writable.')
  return new LicadmError('FILE_ERROR', ExitCode.usage, message, {hint, cause: error})
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
