import {accessSync, constants, existsSync, statSync} from 'node:fs'
import {dirname, resolve} from 'node:path'

import type {Command} from '@oclif/core'

import {ConflictError, InvalidValueError, LicadmError, UsageError} from '../domain/errors.js'

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
