import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {ConflictError, UsageError} from '../domain/errors.js'
import {newPassphraseFrom} from '../domain/values.js'

export default class Init extends BaseCommand<typeof Init> {
  static override summary = 'Create a vendor profile: vendor code and name, a signing key and the store.'

  static override description = `Creates an Ed25519 signing key (a 0600 PEM file in the config directory, encrypted with a passphrase when LICADM_KEY_PASSPHRASE is set or --encrypt is given), records its key id, and creates the profile's SQLite store. The new profile becomes the current one when there is none yet (or with --use).

In a terminal, missing values are asked for; without one (or with CI set, or --json), they must be given as flags. An existing profile is never overwritten without --force, and even then its keys and store are moved aside, not deleted.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --vendor-code 1001 --name "Acme Software"',
    'LICADM_KEY_PASSPHRASE=… <%= config.bin %> <%= command.id %> --vendor-code 1001 --name Acme --profile acme-ci',
    '<%= config.bin %> <%= command.id %> --encrypt',
  ]

  static override flags = {
    'vendor-code': Flags.string({summary: 'Vendor code: the number that identifies you as publisher (1 to 4294967295).'}),
    // --vendor-name as server start spells it beside --vendor-code.
    name: Flags.string({summary: 'Vendor name, as shown in license files.', aliases: ['vendor-name']}),
    encrypt: Flags.boolean({summary: 'Encrypt the signing key with a passphrase (from LICADM_KEY_PASSPHRASE or asked).'}),
    use: Flags.boolean({summary: 'Make the new profile the current one even if another is.'}),
    force: Flags.boolean({summary: 'Replace an existing profile (its keys and store are moved aside, not deleted).'}),
  }

  async run() {
    const {questions} = await import('../cli/prompts.js')
    const profiles = await this.profiles()
    const profileName = profiles.resolve(this.flags.profile)
    if (profiles.get(profileName) && !this.flags.force) {
      throw new ConflictError('PROFILE_EXISTS', `profile "${profileName}" exists already`, {
        hint: `Use --profile NAME for another profile, or --force to replace this one (its keys and store are moved aside).`,
        details: {profile: profileName},
      })
    }
    const vendorCode = await this.need('vendor-code', this.flags['vendor-code'], questions.vendorCode)
    const vendorName = await this.need('name', this.flags.name, questions.vendorName)
    // Refuse bad values before anything is touched: with --force, the old profile is moved aside
    // below, and a refusal after that would leave the profile without its keys and store.
    const {vendorIdentity} = await import('../services/vendor.js')
    vendorIdentity(vendorCode, vendorName)
    const passphrase = await this.newPassphrase()

    const clock = this.clock()
    // Leftovers of a replaced profile, or of an init that was interrupted, are kept, not reused.
    const movedAside = profiles.moveAside(profileName, String(clock.now()))
    const paths = profiles.paths(profileName)
    const {localBackend} = await import('../services/backend.js')
    const backend = await localBackend(paths, clock, async () => passphrase)
    try {
      const vendor = await backend.vendor.init({code: vendorCode, name: vendorName, passphrase})
      profiles.save(profileName, {vendorCode: vendor.code, vendorName: vendor.name, createdAt: new Date(clock.now()).toISOString(), encryptedKey: passphrase !== undefined})
      const current = !profiles.current() || this.flags.use || profiles.current() === profileName
      if (current) profiles.use(profileName)
      const result = {
        profile: profileName,
        current,
        vendorCode: vendor.code,
        vendorName: vendor.name,
        kid: vendor.kid,
        keyFile: vendor.keyPath,
        keyEncrypted: passphrase !== undefined,
        store: paths.storePath,
        movedAside,
      }
      const c = this.color()
      this.log(`${c.green('✓')} Created profile ${c.bold(profileName)} for vendor ${vendor.code} (${vendor.name})${current ? ' — now the current profile' : ''}`)
      this.log(`  signing key ${vendor.kid}`)
      this.log(`  key file    ${vendor.keyPath} (0600${passphrase ? ', encrypted' : ', not encrypted: set LICADM_KEY_PASSPHRASE or use --encrypt to protect it'})`)
      this.log(`  store       ${paths.storePath}`)
      for (const m of movedAside) this.log(`  moved aside ${m}`)
      this.log(`Next: ${this.config.bin} product create --code 1 --name "My product"`)
      return result
    } finally {
      await backend.close()
    }
  }

  /** The new key's passphrase: LICADM_KEY_PASSPHRASE, or asked twice with --encrypt. */
  private async newPassphrase(): Promise<string | undefined> {
    const fromEnv = process.env.LICADM_KEY_PASSPHRASE
    if (fromEnv !== undefined && fromEnv !== '') return newPassphraseFrom('LICADM_KEY_PASSPHRASE', fromEnv)
    if (!this.flags.encrypt) return undefined
    if (!this.canPrompt()) {
      throw new UsageError('--encrypt needs a passphrase', {hint: `Set LICADM_KEY_PASSPHRASE: licadm asks no questions ${this.whyNoPrompt()}.`})
    }
    const {questions} = await import('../cli/prompts.js')
    const first = await this.prompter.password(questions.newPassphrase)
    const second = await this.prompter.password(questions.repeatPassphrase)
    if (first !== second) throw new UsageError('the two passphrases differ; nothing was created')
    return first
  }
}
