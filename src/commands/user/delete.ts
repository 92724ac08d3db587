import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {yesFlag} from '../../cli/flags.js'

export default class UserDelete extends AdminCommand<typeof UserDelete> {
  static override summary = 'Delete a user who owns no container.'

  static override description = "The user leaves every group (their devices on those groups' containers are marked for removal at the next credential reset). Refused while the user owns a container."

  static override examples = ['<%= config.bin %> <%= command.id %> ada@example.com --yes']

  static override args = {user: Args.string({description: 'Email or user id.', required: true})}

  static override flags = {yes: yesFlag}

  async run() {
    const backend = await this.backend()
    const user = await backend.directory.user(this.args.user)
    await this.confirm(this.flags.yes, `Delete user ${user.email}?`)
    await backend.directory.deleteUser(user.id)
    this.log(`Deleted user ${user.email}`)
    return {deleted: user}
  }
}
