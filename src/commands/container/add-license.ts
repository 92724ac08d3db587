import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class ContainerAddLicense extends AdminCommand<typeof ContainerAddLicense> {
  static override summary = 'Put a license into a container.'

  static override description = 'A license is in one container at a time. Personal containers hold single licenses, enterprise containers concurrent ones, local containers either. Revoked and expired licenses are refused.'

  static override examples = ['<%= config.bin %> <%= command.id %> P-7KQ2-M9XZ-4TBD lic_01jx…', '<%= config.bin %> <%= command.id %> P-7KQ2-M9XZ-4TBD 7K2QH-MC9XZ-…']

  static override args = {
    serial: Args.string({description: 'Container serial.', required: true}),
    license: Args.string({description: 'License id or ticket.', required: true}),
  }

  async run() {
    const backend = await this.backend()
    const result = await backend.containers.addLicense(this.args.serial, this.args.license)
    this.log(`License ${result.licenseId} is in container ${result.serial}`)
    return result
  }
}
