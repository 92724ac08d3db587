import {Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class GroupCreate extends AdminCommand<typeof GroupCreate> {
  static override summary = 'Create a group of users (for enterprise containers).'

  static override description =
    'Group names are unique. Add members with "group add-member", then hand the group an enterprise container with "container create --kind enterprise --group NAME" or "container assign".'

  static override examples = ['<%= config.bin %> <%= command.id %> --name engineering']

  static override flags = {name: Flags.string({char: 'n', summary: 'Group name (unique).'})}

  async run() {
    const name = await this.need('name', this.flags.name, {message: 'Group name'})
    const backend = await this.backend()
    const group = await backend.directory.createGroup({name})
    this.log(`${this.color().green('✓')} Created group ${group.name} (${group.id})`)
    return {group}
  }
}
