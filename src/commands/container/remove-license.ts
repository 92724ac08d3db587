import {Args, Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class ContainerRemoveLicense extends AdminCommand<typeof ContainerRemoveLicense> {
  static override summary = 'Take a license out of a container; it becomes available again.'

  static override description =
    'The license\'s status goes back to available, so it can be put into another container. The container\'s update counter goes up. A license that an offline update put on a device is refused (LICENSE_ON_OFFLINE_DEVICE, exit 4) until the device returns it ("activation return" there, "activation fulfill" here): --force takes it anyway, and the device keeps a copy that stays valid until the license expires.'

  static override examples = ['<%= config.bin %> <%= command.id %> P-7KQ2-M9XZ-4TBD lic_01jx…']

  static override flags = {
    force: Flags.boolean({summary: 'Take it even from a device that holds it through offline activation (the device keeps its copy).'}),
  }

  static override args = {
    serial: Args.string({description: 'Container serial.', required: true}),
    license: Args.string({description: 'License id or ticket.', required: true}),
  }

  async run() {
    const backend = await this.backend()
    const result = await backend.containers.removeLicense(this.args.serial, this.args.license, {force: this.flags.force})
    this.log(`License ${result.licenseId} was removed from container ${result.serial}${result.offlineDevice ? `; device ${result.offlineDevice} still holds its offline copy` : ''}`)
    return result
  }
}
