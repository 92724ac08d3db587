import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {yesFlag} from '../../cli/flags.js'

export default class TokenRevoke extends AdminCommand<typeof TokenRevoke> {
  static override summary = 'Revoke an API token: the server refuses it from the next request on.'

  static override description =
    'Give the token by id or by name. Revoking a revoked token changes nothing and succeeds, so scripts can re-run. The record stays (for "token list --all" and the audit trail); its name may be used again.'

  static override examples = ['<%= config.bin %> <%= command.id %> ci-seats --yes', '<%= config.bin %> <%= command.id %> tok_01jx… --yes --json']

  static override args = {token: Args.string({description: 'Token id (tok_…) or name.', required: true})}

  static override flags = {yes: yesFlag}

  async run() {
    const backend = await this.backend()
    const current = await backend.tokens.get(this.args.token)
    if (current.status !== 'revoked') {
      await this.confirm(this.flags.yes, `Revoke ${current.role} token ${current.name} (${current.id})? Clients using it are refused from then on`)
    }
    const {token, changed} = await backend.tokens.revoke(current.id)
    this.log(changed ? `${this.color().green('✓')} Revoked token ${token.name} (${token.id})` : `Token ${token.name} (${token.id}) was already revoked; nothing changed`)
    return {changed, token}
  }
}
