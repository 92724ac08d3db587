import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class UserShow extends AdminCommand<typeof UserShow> {
  static override summary = "Show a user: groups, containers and devices."

  static override description =
    'The groups the user belongs to (with role), the personal containers they own, and their devices with the state of each link.'

  static override examples = ['<%= config.bin %> <%= command.id %> ada@example.com']

  static override args = {user: Args.string({description: 'Email or user id.', required: true})}

  async run() {
    const backend = await this.backend()
    const user = await backend.directory.userDetails(this.args.user)
    const {details, date} = await import('../../cli/render.js')
    this.log(details([
      ['User', `${user.email} (${user.id})`],
      ['Name', user.name ?? '-'],
      ['Groups', user.groups.map((g) => `${g.name} (${g.role})`).join(', ') || '-'],
      ['Containers', user.containers.map((c) => `${c.serial} (${c.kind})`).join(', ') || '-'],
      ['Devices', user.devices.map((d) => `${d.fingerprint} on ${d.serial} (${d.state})`).join(', ') || '-'],
      ['Created', date(user.createdAt)],
    ]))
    return {user}
  }
}
