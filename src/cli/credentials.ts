import type {Command} from '@oclif/core'

import type {Credentials} from '../services/containers.js'
import {writeOutput} from './files.js'

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
