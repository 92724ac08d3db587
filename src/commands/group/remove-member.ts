import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class GroupRemoveMember extends AdminCommand<typeof GroupRemoveMember> {
  static override summary = "Remove a user from a group; their devices on the group's containers are marked for removal."

  static override description = 'The devices keep working until the next "container reset-credentials", which drops them and gives the remaining devices SAW files.'

  static override examples = ['<%= config.bin %> <%= command.id %> engineering carol@example.com']

  static override args = {
    group: Args.string({description: 'Group name or id.', required: true}),
    user: Args.string({description: 'Email or user id.', required: true}),
  }

  async run() {
    const backend = await this.backend()
    const {markedDevices} = await backend.directory.removeMember(this.args.group, this.args.user)
    this.log(`Removed ${this.args.user} from ${this.args.group}`)
    if (markedDevices.length > 0) {
      this.log(`${markedDevices.length} device(s) marked for removal at the next credential reset:`)
      for (const d of markedDevices) this.log(`  ${d.fingerprint} on ${d.serial}`)
      this.log(`Next: ${this.config.bin} container reset-credentials ${markedDevices[0].serial} --saw-dir DIR`)
    }
    return {group: this.args.group, user: this.args.user, markedDevices}
  }
}
