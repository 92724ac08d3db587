import type {KeyObject} from 'node:crypto'

import {LicadmError, ExitCode} from '../domain/errors.js'
import {signerFor, type Signer} from '../crypto/keys.js'
import {KeyRing} from '../services/keyring.js'

/**
 * A key ring that never touches the disk: the ephemeral vendor key of `server start --memory`
 * without a profile. The key lives as long as the process.
 */
export class MemoryKeyRing extends KeyRing {
  private readonly keys = new Map<string, KeyObject>()

  constructor() {
    super('(memory)')
  }

  override save(kid: string, privateKey: KeyObject): string {
    this.keys.set(kid, privateKey)
    return `(memory)/${kid}`
  }

  override has(kid: string): boolean {
    return this.keys.has(kid)
  }

  override async signer(kid: string): Promise<Signer> {
    const key = this.keys.get(kid)
    if (!key) throw new LicadmError('SIGNING_KEY_MISSING', ExitCode.notFound, `the in-memory key ${kid} is missing`)
    return signerFor(key)
  }
}
