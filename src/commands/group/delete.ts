import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {yesFlag} from '../../cli/flags.js'

export default class GroupDelete extends AdminCommand<typeof GroupDelete> {
  static override summary = 'Delete a group that owns no container.'

  static override description =
    'Refused while the group owns an enterprise container: unassign or delete it first. The memberships end with the group.'

  static override examples = ['<%= config.bin %> <%= command.id %> engineering --yes']

  static override args = {group: Args.string({description: 'Group name or id.', required: true})}

  static override flags = {yes: yesFlag}

  async run() {
    const backend = await this.backend()
    const group = await backend.directory.group(this.args.group)
    await this.confirm(this.flags.yes, `Delete group ${group.name}?`)
    await backend.directory.deleteGroup(group.id)
    this.log(`Deleted group ${group.name}`)
    return {deleted: group}
  }
}
