import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {GROUP_ROLES} from '../../domain/container.js'

export default class GroupSetRole extends AdminCommand<typeof GroupSetRole> {
  static override summary = "Change a member's role: member or admin."

  static override description =
    'Admins manage the group\'s enterprise containers; members use them. Setting the role a member has already changes nothing.'

  static override examples = ['<%= config.bin %> <%= command.id %> engineering ada@example.com admin']

  static override args = {
    group: Args.string({description: 'Group name or id.', required: true}),
    user: Args.string({description: 'Email or user id.', required: true}),
    role: Args.string({description: 'New role.', required: true, options: [...GROUP_ROLES]}),
  }

  async run() {
    const backend = await this.backend()
    const {changed} = await backend.directory.setRole(this.args.group, this.args.user, this.args.role as 'member')
    this.log(changed ? `${this.args.user} is now ${this.args.role} of ${this.args.group}` : `${this.args.user} is ${this.args.role} already; nothing changed`)
    return {group: this.args.group, user: this.args.user, role: this.args.role, changed}
  }
}
