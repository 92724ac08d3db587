import {BaseCommand} from '../../cli/base-command.js'
import {yesFlag} from '../../cli/flags.js'

export default class KeyRotate extends BaseCommand<typeof KeyRotate> {
  static override summary = 'Start signing with a new key; the old one is kept as retired.'

  static override description = `Licenses signed by the old key still verify while it is kept as retired (see "key list"). Export the new public key ("key export --all") and ship it in your application before you hand out files signed with it. The new key is encrypted with LICADM_KEY_PASSPHRASE when that is set. A license server running on this store signs lease tokens, borrow files and responses with the new key from its next sweep (within a second).`

  static override examples = ['<%= config.bin %> <%= command.id %> --yes', '<%= config.bin %> <%= command.id %> --json --yes']

  static override flags = {yes: yesFlag}

  async run() {
    const backend = await this.backend()
    await backend.vendor.get()
    await this.confirm(this.flags.yes, 'Start signing with a new key?')
    const profiles = await this.profiles()
    const name = profiles.resolve(this.flags.profile)
    const info = profiles.require(name)
    let passphrase = process.env.LICADM_KEY_PASSPHRASE || undefined
    // A first passphrase for this profile's keys is a new one; an encrypted profile's is the one it has.
    if (passphrase !== undefined && !info.encryptedKey) {
      const {newPassphraseFrom} = await import('../../domain/values.js')
      newPassphraseFrom('LICADM_KEY_PASSPHRASE', passphrase)
    }
    if (info.encryptedKey) {
      // The new key is protected like the current one, never silently written unencrypted: unlocking
      // the current key checks the passphrase (from the environment or asked; exit 7 without it).
      await backend.vendor.signer()
      passphrase = await this.passphrase()
    }
    const {kid, retired} = await backend.vendor.rotate(passphrase)
    if (passphrase !== undefined && !info.encryptedKey) profiles.save(name, {...info, encryptedKey: true})
    this.log(`New signing key ${kid}${passphrase ? ' (encrypted)' : ''}`)
    for (const old of retired) this.log(`Retired ${old}: licenses it signed still verify while it is kept`)
    this.log(`Next: ${this.config.bin} key export --all   (ship the new public key with your application)`)
    return {kid, retired, encrypted: passphrase !== undefined}
  }
}
