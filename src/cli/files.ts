import {existsSync, mkdirSync, readFileSync, readSync, statSync} from 'node:fs'

import {ConflictError, InvalidValueError, NotFoundError} from '../domain/errors.js'
import {fileError, isFileSystemError, writeFileAtomic} from '../domain/file-errors.js'

/** How standard input is named in errors. */
export const STANDARD_INPUT = 'standard input'

/** A flag ("--from") names itself in errors; an argument's description ("license file") does not. */
const flagOf = (what: string): string | undefined => (what.startsWith('-') ? what : undefined)

/** Reads a file named by a flag or argument; `-` is standard input. */
export function readInput(path: string, what: string): string {
  if (path === '-') return readStandardInput(what)
  if (!existsSync(path)) throw new NotFoundError('file', path, {hint: `Check the path of the ${what}.`})
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    if (isFileSystemError(error)) throw fileError(error, 'read', {path, flag: flagOf(what), what})
    throw new InvalidValueError(what, `cannot read ${path}: ${(error as Error).message}`)
  }
}

/** Milliseconds to wait when standard input has no data yet. */
const STDIN_PAUSE_MS = 5

/**
 * Reads standard input to its end, synchronously (the commands read their input before anything
 * else). A pipe is non-blocking once Node has looked at it, so a read before the writer has written
 * fails with EAGAIN: that is "not yet", not an error, and the loop waits a few milliseconds and
 * reads again until end of file.
 */
export function readStandardInput(what: string): string {
  const chunks: Buffer[] = []
  const buffer = Buffer.allocUnsafe(64 * 1024)
  const pause = new Int32Array(new SharedArrayBuffer(4))
  for (;;) {
    let n: number
    try {
      n = readSync(0, buffer, 0, buffer.length, null)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
        Atomics.wait(pause, 0, 0, STDIN_PAUSE_MS)
        continue
      }
      if (code === 'EOF') break // Windows: the end of a pipe
      if (isFileSystemError(error)) {
        const flag = flagOf(what)
        const hint = flag ? `Pipe or redirect the file into the command, or give its path to ${flag} instead of -.` : `Pipe or redirect the ${what} into the command, or give its path instead of -.`
        throw fileError(error, 'read', {path: STANDARD_INPUT, flag, hint})
      }
      throw error
    }
    if (n === 0) break
    chunks.push(Buffer.from(buffer.subarray(0, n)))
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Writes a whole file or nothing (temporary file, then rename); refuses to overwrite without force. */
export function writeOutput(path: string, text: string, options: {force?: boolean; mode?: number; flag?: string} = {}): void {
  const flag = options.flag ?? '--out'
  // A directory is never overwritten, --force or not: say so before offering --force.
  if (isDirectory(path)) {
    throw new InvalidValueError(flag, `cannot write ${path}: it is a directory`, {hint: `Give the path of a file (in that directory, or elsewhere) to ${flag}.`})
  }
  if (existsSync(path) && !options.force) {
    throw new ConflictError('FILE_EXISTS', `${path} exists already`, {hint: `Pass --force to overwrite it, or choose another ${flag}.`})
  }
  try {
    writeFileAtomic(path, text, options.mode ?? 0o644)
  } catch (error) {
    // A bad --out is the user's to fix (exit 2), not an internal error.
    throw fileError(error as NodeJS.ErrnoException, 'write', {path, flag})
  }
}

/** Whether `path` is a directory (or a link to one); a path that cannot be looked at is left to the write to refuse. */
function isDirectory(path: string): boolean {
  try {
    return statSync(path, {throwIfNoEntry: false})?.isDirectory() ?? false
  } catch {
    return false
  }
}

/** Makes a directory named by a flag (and those above it) when missing; a refusal names the flag. */
export function makeDirectory(path: string, flag: string): void {
  try {
    mkdirSync(path, {recursive: true})
  } catch (error) {
    throw fileError(error as NodeJS.ErrnoException, 'write', {path, flag})
  }
}
