import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class ContainerRemoveLicense extends AdminCommand<typeof ContainerRemoveLicense> {
  static override summary = 'Take a license out of a container; it becomes available again.'

  static override description =
    'The license\'s status goes back to available, so it can be put into another container. The container\'s update counter goes up.'

  static override examples = ['<%= config.bin %> <%= command.id %> P-7KQ2-M9XZ-4TBD lic_01jx…']

  static override args = {
    serial: Args.string({description: 'Container serial.', required: true}),
    license: Args.string({description: 'License id or ticket.', required: true}),
  }

  async run() {
    const backend = await this.backend()
    const result = await backend.containers.removeLicense(this.args.serial, this.args.license)
    this.log(`License ${result.licenseId} was removed from container ${result.serial}`)
    return result
  }
}
