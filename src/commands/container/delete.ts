import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {yesFlag} from '../../cli/flags.js'

export default class ContainerDelete extends AdminCommand<typeof ContainerDelete> {
  static override summary = 'Delete an empty container (no licenses, no active devices).'

  static override description =
    'Refused while the container holds licenses or is active on a device: remove the licenses and deactivate the devices first. Its SAW records and inactive device links are deleted with it; the audit trail keeps the history.'

  static override examples = ['<%= config.bin %> <%= command.id %> P-7KQ2-M9XZ-4TBD --yes']

  static override args = {serial: Args.string({description: 'Container serial.', required: true})}

  static override flags = {yes: yesFlag}

  async run() {
    const backend = await this.backend()
    const container = await backend.containers.get(this.args.serial)
    await this.confirm(this.flags.yes, `Delete container ${container.serial}?`)
    await backend.containers.delete(container.serial)
    this.log(`Deleted container ${container.serial}`)
    return {deleted: container}
  }
}
