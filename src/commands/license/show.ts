import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {epochSeconds} from '../../domain/clock.js'

export default class LicenseShow extends AdminCommand<typeof LicenseShow> {
  static override summary = 'Show a license, by id or by activation ticket.'

  static override description = 'A ticket may be typed in lower case, without dashes, or with O for 0; a mistyped ticket is reported as mistyped (its check character does not match), not as unknown.'

  static override examples = ['<%= config.bin %> <%= command.id %> lic_01jx…', '<%= config.bin %> <%= command.id %> 7K2QH-MC9XZ-…']

  static override args = {license: Args.string({description: 'License id or ticket.', required: true})}

  async run() {
    const backend = await this.backend()
    const license = await backend.licenses.get(this.args.license)
    const now = epochSeconds(this.clock())
    const {licenseDetails, licenseJson} = await import('../../cli/views.js')
    this.log(licenseDetails(license, now))
    return {license: licenseJson(license, now)}
  }
}
