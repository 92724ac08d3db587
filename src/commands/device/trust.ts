import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'

export default class DeviceTrust extends BaseCommand<typeof DeviceTrust> {
  static override summary = "Pin a vendor's public key on this device."

  static override description = 'Files signed by the vendor (SAW files, offline updates) are accepted only with a pinned key. Take the key file from "key export" (PEM, JWK or JWKS; every key in it is pinned).'

  static override examples = ['<%= config.bin %> <%= command.id %> vendor-public.pem']

  static override args = {file: Args.string({description: "The vendor's public key file.", required: true})}

  async run() {
    const {readInput} = await import('../../cli/files.js')
    const {parsePublicKeys} = await import('../../crypto/keys.js')
    const store = await this.deviceStore()
    const keys = parsePublicKeys(readInput(this.args.file, 'key file'), this.args.file)
    const kids = keys.map((k) => store.trust(k.key.export({format: 'pem', type: 'spki'}).toString()))
    for (const kid of kids) this.log(`Trusted vendor key ${kid}`)
    return {trusted: kids}
  }
}
