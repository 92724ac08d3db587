import {AdminCommand} from '../../cli/admin-command.js'

export default class GroupList extends AdminCommand<typeof GroupList> {
  static override summary = 'List the groups with their member counts.'

  static override description =
    'One line per group with its number of members.'

  static override examples = ['<%= config.bin %> <%= command.id %>']

  async run() {
    const backend = await this.backend()
    const groups = await backend.directory.listGroups()
    const {table} = await import('../../cli/render.js')
    this.log(await table(groups, [
      {header: 'NAME', get: (g) => g.name},
      {header: 'MEMBERS', get: (g) => g.members},
      {header: 'ID', get: (g) => g.id},
    ], 'no groups yet: run "licadm group create"'))
    return {groups}
  }
}
