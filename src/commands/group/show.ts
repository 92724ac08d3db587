import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class GroupShow extends AdminCommand<typeof GroupShow> {
  static override summary = "Show a group: members and roles, its containers, and devices marked for removal."

  static override description = 'Devices of users who left the group stay linked to its enterprise containers until the next credential reset; they are listed under "Pending removal".'

  static override examples = ['<%= config.bin %> <%= command.id %> engineering']

  static override args = {group: Args.string({description: 'Group name or id.', required: true})}

  async run() {
    const backend = await this.backend()
    const group = await backend.directory.groupDetails(this.args.group)
    const {details, table} = await import('../../cli/render.js')
    this.log(details([
      ['Group', `${group.name} (${group.id})`],
      ['Containers', group.containers.join(', ') || '-'],
    ]))
    this.log('')
    this.log(await table(group.members, [
      {header: 'MEMBER', get: (m) => m.email},
      {header: 'NAME', get: (m) => m.name ?? ''},
      {header: 'ROLE', get: (m) => m.role},
    ], 'no members'))
    if (group.pendingRemoval.length > 0) {
      this.log('')
      this.log(`Pending removal at the next credential reset (${group.pendingRemoval.length} device(s)):`)
      for (const p of group.pendingRemoval) this.log(`  ${p.fingerprint} on ${p.serial} (${p.email ?? 'unknown user'})`)
    }
    return {group}
  }
}
