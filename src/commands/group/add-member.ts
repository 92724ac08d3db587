import {Args, Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class GroupAddMember extends AdminCommand<typeof GroupAddMember> {
  static override summary = 'Add a user to a group, as member or (with --admin) as admin.'

  static override description = "Admins manage the group's enterprise containers. Adding an existing member with the same role changes nothing."

  static override examples = ['<%= config.bin %> <%= command.id %> engineering ada@example.com', '<%= config.bin %> <%= command.id %> engineering bob@example.com --admin']

  static override args = {
    group: Args.string({description: 'Group name or id.', required: true}),
    user: Args.string({description: 'Email or user id.', required: true}),
  }

  static override flags = {admin: Flags.boolean({summary: 'Add as group admin.'})}

  async run() {
    const backend = await this.backend()
    const role = this.flags.admin ? 'admin' : 'member'
    const result = await backend.directory.addMember(this.args.group, this.args.user, role)
    this.log(result.changed ? `Added ${this.args.user} to ${this.args.group} as ${role}` : `${this.args.user} is a ${role} of ${this.args.group} already; nothing changed`)
    return {group: this.args.group, user: this.args.user, role, changed: result.changed}
  }
}
