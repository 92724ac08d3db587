import {Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class UserCreate extends AdminCommand<typeof UserCreate> {
  static override summary = 'Create a user (unique email, optional name).'

  static override description = 'Users own personal containers, belong to groups, and have devices. The email is stored in lower case and must be unique.'

  static override examples = ['<%= config.bin %> <%= command.id %> --email ada@example.com --name "Ada Lovelace"']

  static override flags = {
    email: Flags.string({char: 'e', summary: 'Email address (unique).'}),
    name: Flags.string({char: 'n', summary: 'Display name.'}),
  }

  async run() {
    const email = await this.need('email', this.flags.email, {message: 'Email'})
    const backend = await this.backend()
    const user = await backend.directory.createUser({email, name: this.flags.name})
    this.log(`${this.color().green('✓')} Created user ${user.email} (${user.id})`)
    return {user}
  }
}
