import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {yesFlag} from '../../cli/flags.js'

export default class ContainerUnassign extends AdminCommand<typeof ContainerUnassign> {
  static override summary = 'Take a container back from its user or group.'

  static override description = 'Its devices are marked for removal: they keep working until the next credential reset, which drops them.'

  static override examples = ['<%= config.bin %> <%= command.id %> P-7KQ2-M9XZ-4TBD --yes']

  static override args = {serial: Args.string({description: 'Container serial.', required: true})}

  static override flags = {yes: yesFlag}

  async run() {
    const backend = await this.backend()
    await this.confirm(this.flags.yes, `Take container ${this.args.serial} back from its owner?`)
    const {container, markedDevices} = await backend.containers.unassign(this.args.serial)
    this.log(`Unassigned ${container.serial}${markedDevices > 0 ? `; ${markedDevices} device(s) marked for removal at the next credential reset` : ''}`)
    return {container, markedDevices}
  }
}
