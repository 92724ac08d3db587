import {AdminCommand} from '../../cli/admin-command.js'

export default class UserList extends AdminCommand<typeof UserList> {
  static override summary = 'List the users.'

  static override description =
    'One line per user: email, name, id and when the user was created.'

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']

  async run() {
    const backend = await this.backend()
    const users = await backend.directory.listUsers()
    const {table, date} = await import('../../cli/render.js')
    this.log(await table(users, [
      {header: 'EMAIL', get: (u) => u.email},
      {header: 'NAME', get: (u) => u.name ?? ''},
      {header: 'ID', get: (u) => u.id},
      {header: 'CREATED', get: (u) => date(u.createdAt)},
    ], 'no users yet: run "licadm user create"'))
    return {users}
  }
}
