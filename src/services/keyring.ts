import {createPublicKey, type KeyObject} from 'node:crypto'
import {existsSync} from 'node:fs'
import {join} from 'node:path'

import {LicadmError, ExitCode} from '../domain/errors.js'
import {readPrivateKey, signerFor, writePrivateKey, type Signer} from '../crypto/keys.js'

/** Asks for the key passphrase only when a key is encrypted (env var, prompt, or nothing). */
export type PassphraseSource = () => Promise<string | undefined>

/** The vendor's private keys: 0600 PEM files named by key id in the profile's key directory. */
export class KeyRing {
  private signers = new Map<string, Signer>()

  constructor(
    readonly dir: string,
    private readonly passphrase: PassphraseSource = async () => undefined,
  ) {}

  path(kid: string): string {
    return join(this.dir, `${kid}.pem`)
  }

  save(kid: string, privateKey: KeyObject, passphrase?: string): string {
    const path = this.path(kid)
    writePrivateKey(path, privateKey, passphrase)
    return path
  }

  has(kid: string): boolean {
    return existsSync(this.path(kid))
  }

  async signer(kid: string): Promise<Signer> {
    const cached = this.signers.get(kid)
    if (cached) return cached
    const path = this.path(kid)
    if (!existsSync(path)) {
      throw new LicadmError('SIGNING_KEY_MISSING', ExitCode.notFound, `the private key ${kid} is missing (${path})`, {
        hint: 'Restore the key file from your backup, or run "licadm key rotate" to start signing with a new key.',
      })
    }
    let key: KeyObject
    try {
      key = readPrivateKey(path)
    } catch (error) {
      if (!(error instanceof LicadmError) || error.exit !== ExitCode.auth) throw error
      key = readPrivateKey(path, await this.passphrase())
    }
    const signer = signerFor(key)
    if (signer.kid !== kid) {
      throw new LicadmError('SIGNING_KEY_MISMATCH', ExitCode.internal, `the key file ${path} holds key ${signer.kid}, not ${kid}`)
    }
    this.signers.set(kid, signer)
    return signer
  }

  /** The public half of a stored private key (used to check a key file against the store). */
  async publicKey(kid: string): Promise<KeyObject> {
    return createPublicKey(readPrivateKey(this.path(kid), await this.passphrase()))
  }
}
