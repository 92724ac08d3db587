import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'

export default class DeviceTrust extends BaseCommand<typeof DeviceTrust> {
  static override summary = "Pin a vendor's public key on this device."

  static override description = `Files signed by the vendor (SAW files, offline updates, the licenses in them) are accepted only with a pinned key. Take the key file from "key export" (PEM, JWK or JWKS; every key in it is pinned).

--vendor CODE pins the keys for that vendor alone: a file signed with one of them that names another vendor as its issuer is refused (UNKNOWN_KEY), so on a device that trusts several vendors none can sign for another. Trusting a key again without --vendor keeps the vendor it was pinned for.`

  static override examples = ['<%= config.bin %> <%= command.id %> vendor-public.pem --vendor 1001']

  static override args = {file: Args.string({description: "The vendor's public key file.", required: true})}

  static override flags = {
    vendor: Flags.string({summary: "The vendor's code: its keys verify only files it issued."}),
  }

  async run() {
    const {readInput} = await import('../../cli/files.js')
    const {parsePublicKeys} = await import('../../crypto/keys.js')
    const {parseUint} = await import('../../domain/values.js')
    const {LIMITS} = await import('../../domain/license.js')
    const vendor = this.flags.vendor === undefined ? undefined : String(parseUint(this.flags.vendor, '--vendor', LIMITS.code, {required: true}))
    const store = await this.deviceStore()
    const keys = parsePublicKeys(readInput(this.args.file, 'key file'), this.args.file)
    const kids = keys.map((k) => store.trust(k.key.export({format: 'pem', type: 'spki'}).toString(), vendor))
    for (const kid of kids) this.log(`Trusted vendor key ${kid}${vendor === undefined ? '' : ` for vendor ${vendor}`}`)
    return {trusted: kids, vendor: vendor ?? null}
  }
}
