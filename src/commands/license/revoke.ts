import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {yesFlag} from '../../cli/flags.js'
import {epochSeconds} from '../../domain/clock.js'

export default class LicenseRevoke extends AdminCommand<typeof LicenseRevoke> {
  static override summary = 'Revoke a license: it is no longer handed out or verified by this profile.'

  static override description = 'Revoking an already revoked license changes nothing and succeeds, so scripts can re-run. The record is kept.'

  static override examples = ['<%= config.bin %> <%= command.id %> lic_01jx… --yes', '<%= config.bin %> <%= command.id %> 7K2QH-MC9XZ-… --yes --json']

  static override args = {license: Args.string({description: 'License id or ticket.', required: true})}

  static override flags = {yes: yesFlag}

  async run() {
    const backend = await this.backend()
    const license = await backend.licenses.get(this.args.license)
    if (license.status !== 'revoked') await this.confirm(this.flags.yes, `Revoke license ${license.id} (product ${license.productCode}${license.customer ? `, ${license.customer}` : ''})?`)
    const {license: revoked, changed} = await backend.licenses.revoke(license.id)
    this.log(changed ? `Revoked license ${revoked.id}` : `License ${revoked.id} was already revoked; nothing changed`)
    const {licenseJson} = await import('../../cli/views.js')
    return {changed, license: licenseJson(revoked, epochSeconds(this.clock()))}
  }
}
