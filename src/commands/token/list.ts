import {Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class TokenList extends AdminCommand<typeof TokenList> {
  static override summary = "List the license server's API tokens (never their secrets)."

  static override description = 'One line per token: name, role, group, status, expiry and when it was last used (to the minute). Only tokens that work now are listed, unless --all adds the expired and revoked ones.'

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --all --json']

  static override flags = {all: Flags.boolean({char: 'a', summary: 'Also list expired and revoked tokens.'})}

  async run() {
    const backend = await this.backend()
    const tokens = await backend.tokens.list({all: this.flags.all})
    const {date, table} = await import('../../cli/render.js')
    this.log(
      await table(
        tokens,
        [
          {header: 'NAME', get: (t) => t.name},
          {header: 'ROLE', get: (t) => t.role},
          {header: 'GROUP', get: (t) => t.groupName ?? (t.role === 'group-admin' ? '(deleted)' : '-')},
          {header: 'STATUS', get: (t) => t.status},
          {header: 'EXPIRES', get: (t) => date(t.expiresAt)},
          {header: 'LAST USED', get: (t) => date(t.lastUsedAt)},
          {header: 'ID', get: (t) => t.id},
        ],
        this.flags.all ? 'no tokens yet: run "licadm token create"' : 'no active tokens: run "licadm token create" (or --all for expired and revoked ones)',
      ),
    )
    return {tokens}
  }
}
