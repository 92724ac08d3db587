import {existsSync, mkdirSync, readFileSync} from 'node:fs'

import {ConflictError, InvalidValueError, NotFoundError} from '../domain/errors.js'
import {fileError, writeFileAtomic} from '../domain/file-errors.js'

/** Reads a file named by a flag or argument; `-` is standard input. */
export function readInput(path: string, what: string): string {
  if (path === '-') return readFileSync(0, 'utf8')
  if (!existsSync(path)) throw new NotFoundError('file', path, {hint: `Check the path of the ${what}.`})
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    throw new InvalidValueError(what, `cannot read ${path}: ${(error as Error).message}`)
  }
}

/** Writes a whole file or nothing (temporary file, then rename); refuses to overwrite without force. */
export function writeOutput(path: string, text: string, options: {force?: boolean; mode?: number; flag?: string} = {}): void {
  if (existsSync(path) && !options.force) {
    throw new ConflictError('FILE_EXISTS', `${path} exists already`, {hint: `Pass --force to overwrite it, or choose another ${options.flag ?? '--out'}.`})
  }
  try {
    writeFileAtomic(path, text, options.mode ?? 0o644)
  } catch (error) {
    // A bad --out is the user's to fix (exit 2), not an internal error.
    throw fileError(error as NodeJS.ErrnoException, 'write', {path, flag: options.flag ?? '--out'})
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
