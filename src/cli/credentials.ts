import {accessSync, constants, existsSync, statSync} from 'node:fs'
import {dirname, resolve} from 'node:path'

import type {Command} from '@oclif/core'

import {ConflictError, InvalidValueError, LicadmError, UsageError} from '../domain/errors.js'
import {fileError, isFileSystemError} from '../domain/file-errors.js'

import type {Credentials} from '../services/containers.js'
import {readInput, writeOutput} from './files.js'

/**
 * A container's credentials file (as "container create --out" and "reset-credentials --out" write
 * it): its serial and secret. With `serial`, the file must be that container's.
 */
export function readCredentialsFile(file: string, serial?: string): {container: string; secret: string} {
  let parsed: {container?: unknown; secret?: unknown}
  try {
    parsed = JSON.parse(readInput(file, '--credentials'))
  } catch (error) {
    if (error instanceof LicadmError) throw error
    throw new UsageError(`--credentials: ${file} is not a licadm credentials file (JSON)`, {details: {flag: '--credentials'}})
  }
  if (typeof parsed.secret !== 'string') throw new UsageError(`--credentials: ${file} holds no secret`, {details: {flag: '--credentials'}})
  if (typeof parsed.container !== 'string') throw new UsageError(`--credentials: ${file} names no container`, {details: {flag: '--credentials'}})
  if (serial !== undefined && parsed.container !== serial.trim().toUpperCase()) {
    throw new UsageError(`--credentials: ${file} is for container ${parsed.container}, not ${serial}`, {details: {flag: '--credentials'}})
  }
  return {container: parsed.container, secret: parsed.secret}
}

/**
 * Hands out a container's credentials once: to a 0600 file with --out, else on the terminal (and in
 * --json, where a pipeline asked for them). licadm keeps only a hash, so this is the only copy.
 */
export function emitCredentials(cmd: Command, credentials: Credentials, out: string | undefined, force?: boolean): Credentials | {file: string; generation: number} {
  if (out) {
    writeOutput(out, `${JSON.stringify(credentials, null, 2)}\n`, {force, mode: 0o600})
    cmd.log(`Credentials (generation ${credentials.generation}) written to ${out} (0600). Keep the file safe: licadm stores only a hash.`)
    return {file: out, generation: credentials.generation}
  }
  cmd.log(`Secret (generation ${credentials.generation}), shown only this once: ${credentials.secret}`)
  return credentials
}

/** An output file a command could not write after its change was made, and why. */
export interface NotWritten {
  file: string
  reason: string
}

/**
 * Hands out credentials made by a change that is committed already, and never fails: when the --out
 * file cannot be written now (it was checked before the change, but a disk can fill up), the secret
 * is shown instead (on the terminal, and in --json), since licadm keeps only its hash and it would
 * be lost; `notWritten` says which file and why.
 */
export function handOutCredentials(cmd: Command, credentials: Credentials, out: string | undefined, force?: boolean): {credentials: Credentials | {file: string; generation: number}; notWritten?: NotWritten} {
  try {
    return {credentials: emitCredentials(cmd, credentials, out, force)}
  } catch (error) {
    const reason = error instanceof LicadmError ? error.message : isFileSystemError(error) ? fileError(error, 'write', {flag: '--out'}).message : String(error)
    cmd.logToStderr(`Not written: the credentials file ${out}: ${reason}. The secret is shown below instead: save it now.`)
    cmd.log(`Secret (generation ${credentials.generation}), shown only this once: ${credentials.secret}`)
    return {credentials, notWritten: {file: out!, reason}}
  }
}

/**
 * Checks before a change that a directory to write files into (made when missing) can be written:
 * the directory itself when it exists, else the nearest directory above it that does.
 */
export function checkWritableDir(path: string, flag: string): void {
  if (path.trim() === '') throw new InvalidValueError(flag, 'give the name of the directory to write into')
  let dir = resolve(path)
  if (existsSync(path) && !statSync(path).isDirectory()) throw new InvalidValueError(flag, `${path} is not a directory; nothing was changed`)
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir)
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory')
    accessSync(dir, constants.W_OK | constants.X_OK)
  } catch {
    throw new InvalidValueError(flag, `cannot write into ${dir === resolve(path) ? path : `${path} (${dir} is not a writable directory)`}; nothing was changed`)
  }
}

/**
 * Checks before a change that its output file can be written: a secret that is made and then cannot
 * be saved is lost (licadm keeps only its hash), so the refusal must come before the change.
 */
export function checkWritable(path: string, flag: string, force?: boolean): void {
  if (path.trim() === '') throw new InvalidValueError(flag, 'give the name of the file to write')
  if (existsSync(path)) {
    if (!force) throw new ConflictError('FILE_EXISTS', `${path} exists already; nothing was changed`, {hint: `Pass --force to overwrite it, or choose another ${flag}.`, details: {flag}})
    if (statSync(path).isDirectory()) throw new InvalidValueError(flag, `${path} is a directory`)
  }
  const dir = dirname(resolve(path))
  try {
    accessSync(dir, constants.W_OK)
  } catch {
    throw new InvalidValueError(flag, `cannot write into ${dir} (missing or not writable); nothing was changed`)
  }
}
