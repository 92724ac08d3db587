import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'

export default class SawApply extends BaseCommand<typeof SawApply> {
  static override summary = 'Apply a SAW file on this device: store the new credential and restore the link.'

  static override description = `Verifies the file with a vendor key pinned on this device ("device trust"), or --public-key; checks that it is for this device, not expired, not used before and not older than the credential held; decrypts the credential with the device key and stores it. Then, unless --offline, it uses the container once to restore the link (as "device access" does).

Refusals, each with its own exit status: another device (18), an older generation (19), expired (6), already used (16), tampered (5), a key that is not pinned (11).`

  static override examples = ['<%= config.bin %> <%= command.id %> ada.saw', '<%= config.bin %> <%= command.id %> ada.saw --offline --json']

  static override args = {file: Args.string({description: 'SAW file (- for standard input).', required: true})}

  static override flags = {
    'public-key': Flags.string({summary: "Verify with this vendor key file instead of the device's pinned keys."}),
    offline: Flags.boolean({summary: 'Only store the credential; restore the link at the next "device access".'}),
  }

  async run() {
    const {readInput} = await import('../../cli/files.js')
    const {applySaw} = await import('../../device/saw-apply.js')
    const text = readInput(this.args.file, 'SAW file')
    const store = await this.deviceStore()
    const keys = await this.vendorKeys(store)
    const currentGeneration = this.flags.offline ? undefined : await this.currentGeneration(text)
    const applied = applySaw(store, text, keys, Math.floor(this.clock().now() / 1000), {currentGeneration})
    this.log(`${this.color().green('✓')} SAW ${applied.jti} applied: credential of generation ${applied.generation} for ${applied.container} stored`)
    let restored: boolean | null = null
    if (!this.flags.offline) {
      const backend = await this.backend()
      const grant = await backend.devices.access(applied.container, store.device().fingerprint, store.state().credentials[applied.container].secret, {saw: applied.jti})
      restored = grant.restored
      this.log(grant.restored ? `Link to ${applied.container} restored` : `Link to ${applied.container} is active`)
    }
    return {...applied, expiresAt: new Date(applied.expiresAt * 1000).toISOString(), restored}
  }

  /** The container's generation now, when there is a profile that knows the container the file names. */
  private async currentGeneration(text: string): Promise<number | undefined> {
    const {peekSaw} = await import('../../formats/saw.js')
    let container: unknown
    try {
      container = peekSaw(text).container
    } catch {
      return undefined // malformed: applySaw says why
    }
    if (typeof container !== 'string') return undefined
    const {NotFoundError} = await import('../../domain/errors.js')
    try {
      const backend = await this.backend()
      return (await backend.containers.get(container)).generation
    } catch (error) {
      if (error instanceof NotFoundError) return undefined
      throw error
    }
  }

  private async vendorKeys(store: import('../../device/state.js').DeviceStore) {
    if (this.flags['public-key']) {
      const {readInput} = await import('../../cli/files.js')
      const {parsePublicKeys} = await import('../../crypto/keys.js')
      return new Map(parsePublicKeys(readInput(this.flags['public-key'], '--public-key'), this.flags['public-key']).map((k) => [k.kid, k.key]))
    }
    const keys = store.trustedKeys()
    if (keys.size === 0) {
      const {LicadmError, ExitCode} = await import('../../domain/errors.js')
      throw new LicadmError('NO_TRUSTED_KEY', ExitCode.unknownKey, 'this device trusts no vendor key yet', {hint: 'Pin the vendor key first: "licadm device trust vendor-public.pem" (or give --public-key).'})
    }
    return keys
  }
}
