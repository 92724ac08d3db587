import {Args, Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {epochSeconds} from '../../domain/clock.js'
import {LicadmError, VerificationError} from '../../domain/errors.js'
import type {LicenseClaims} from '../../formats/license.js'

export default class LicenseVerify extends AdminCommand<typeof LicenseVerify> {
  static override summary = 'Verify a license file offline and show what it grants.'

  static override description = `Checks, in order: the armor, the algorithm (only EdDSA), the key (one of the profile's pinned keys, active or retired, or the key given with --public-key), the signature, the file type, the issue time (at most 5 minutes in the future), the validity window and, with a profile, whether the license was revoked. Each refusal has its own exit status (see EXIT STATUS); --json gives its reason code.

With --public-key no profile is needed: this is how a customer or an application checks a file.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> globex.lic',
    '<%= config.bin %> <%= command.id %> globex.lic --public-key vendor.pem --json',
    '<%= config.bin %> <%= command.id %> globex.lic --at 2027-06-01',
  ]

  static override args = {file: Args.string({description: 'License file (- for standard input).', required: true})}

  static override flags = {
    'public-key': Flags.string({summary: "Verify with this public key (PEM or JWK/JWKS file) instead of the profile's keys."}),
    at: Flags.string({summary: 'Check validity at this date or date-time instead of now.'}),
  }

  async run() {
    const {readInput} = await import('../../cli/files.js')
    const text = readInput(this.args.file, 'license file')
    const {LicenseService} = await import('../../services/licenses.js')
    let verdict
    try {
      verdict = this.flags['public-key'] ? await this.withKey(text, this.flags['public-key']) : await (await this.profileBackend()).licenses.verify(text, {at: this.flags.at})
    } catch (error) {
      // Say what the refused file claims, so support can tell whose file it is. Only a refusal of the
      // file has details to add to; other errors (an unreadable --public-key) have none.
      const claims = LicenseService.peek(text)
      if (error instanceof VerificationError && claims) (error.details as Record<string, unknown>).claims = claims
      throw error
    }
    const c = this.color()
    this.log(`${c.green('VALID')} license ${verdict.license.sub} (signed by ${verdict.kid}, ${verdict.keyStatus} key)`)
    this.log(describe(verdict.license))
    return verdict
  }

  /** The profile's store; without one, the refusal tells a customer how to check a file: with the vendor's key. */
  private async profileBackend() {
    try {
      return await this.backend()
    } catch (error) {
      if (!(error instanceof LicadmError) || error.code !== 'PROFILE_NOT_FOUND') throw error
      throw new LicadmError(error.code, error.exit, error.message, {
        hint: `To check a license file without a profile, give the vendor's public key: --public-key vendor.pem. ${error.hint ?? ''}`.trim(),
        details: error.details,
      })
    }
  }

  private async withKey(text: string, keyFile: string) {
    const {readInput} = await import('../../cli/files.js')
    const {parsePublicKeys} = await import('../../crypto/keys.js')
    const {verifyOffline} = await import('../../formats/license.js')
    const {parseInstant} = await import('../../domain/values.js')
    const keys = new Map(parsePublicKeys(readInput(keyFile, '--public-key'), keyFile).map((k) => [k.kid, k.key]))
    const now = epochSeconds(this.clock())
    return verifyOffline(text, keys, this.flags.at === undefined ? now : parseInstant(this.flags.at, '--at', now))
  }
}

function describe(l: LicenseClaims): string {
  const iso = (s?: number) => (s === undefined ? 'never' : new Date(s * 1000).toISOString().replace('.000Z', 'Z'))
  return [
    `  vendor    ${l.iss} (${l.vendor})`,
    `  product   ${l.product}`,
    `  kind      ${l.kind}, quantity ${l.quantity}`,
    `  features  0x${l.features.toString(16).padStart(8, '0')}`,
    ...(l.units === undefined ? [] : [`  units     ${l.units}`]),
    ...(l.customer === undefined ? [] : [`  customer  ${l.customer}`]),
    `  valid     ${iso(l.nbf)} to ${iso(l.exp)}`,
  ].join('\n')
}
