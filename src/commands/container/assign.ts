import {Args, Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class ContainerAssign extends AdminCommand<typeof ContainerAssign> {
  static override summary = 'Hand a personal container to a user, or an enterprise container to a group.'

  static override description =
    'A personal container is handed to a user and an enterprise container to a group; a local container is bound to its device and cannot be assigned. A container that is assigned already must be unassigned first.'

  static override examples = ['<%= config.bin %> <%= command.id %> P-7KQ2-M9XZ-4TBD --user ada@example.com', '<%= config.bin %> <%= command.id %> E-7KQ2-M9XZ-4TBD --group engineering']

  static override args = {serial: Args.string({description: 'Container serial.', required: true})}

  static override flags = {
    user: Flags.string({char: 'u', summary: 'User (email or id), for a personal container.', exactlyOne: ['user', 'group']}),
    group: Flags.string({char: 'g', summary: 'Group (name or id), for an enterprise container.', exactlyOne: ['user', 'group']}),
  }

  async run() {
    const backend = await this.backend()
    const container = await backend.containers.assign(this.args.serial, {user: this.flags.user, group: this.flags.group})
    this.log(`Assigned ${container.serial} to ${container.owner.user ? `user ${container.owner.user.email}` : `group ${container.owner.group!.name}`}`)
    return {container}
  }
}
