import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {forceFlag, outFlag} from '../../cli/flags.js'

export default class LicenseExport extends AdminCommand<typeof LicenseExport> {
  static override summary = 'Write the signed license file (armored JWS) of a license.'

  static override description = 'The file is a JWS (EdDSA) between "-----BEGIN LICADM LICENSE-----" lines: it survives mail and tickets, and any JOSE library verifies it with the key from "key export". Revoked licenses are not exported.'

  static override examples = [
    '<%= config.bin %> <%= command.id %> lic_01jx… --out globex.lic',
    '<%= config.bin %> <%= command.id %> 7K2QH-MC9XZ-… > globex.lic',
  ]

  static override args = {license: Args.string({description: 'License id or ticket.', required: true})}

  static override flags = {out: outFlag, force: forceFlag}

  async run() {
    const backend = await this.backend()
    const {license, file} = await backend.licenses.export(this.args.license)
    if (this.flags.out) {
      const {writeOutput} = await import('../../cli/files.js')
      writeOutput(this.flags.out, file, {force: this.flags.force})
      this.logToStderr(`Wrote license ${license.id} to ${this.flags.out}`)
    } else if (!this.jsonEnabled()) {
      process.stdout.write(file)
    }
    return {licenseId: license.id, file, ...(this.flags.out ? {path: this.flags.out} : {})}
  }
}
