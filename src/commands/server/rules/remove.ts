import {Args} from '@oclif/core'

import {BaseCommand} from '../../../cli/base-command.js'
import {serverFlags} from '../../../cli/server-flags.js'

export default class ServerRulesRemove extends BaseCommand<typeof ServerRulesRemove> {
  static override summary = 'Remove an access rule of a license server.'

  static override description = 'Rule ids are shown by "server rules list". Needs a vendor (admin) token.'

  static override examples = ['<%= config.bin %> <%= command.id %> 3 --server http://127.0.0.1:22350', '<%= config.bin %> <%= command.id %> 3 --json']

  static override args = {rule: Args.string({description: 'Rule id.', required: true})}

  static override flags = {...serverFlags}

  async run() {
    const {serverClient} = await import('../../../cli/server-flags.js')
    const client = await serverClient(this.flags, {profiles: () => this.profiles()})
    const rule = await client.removeRule(this.args.rule)
    this.log(`Removed rule ${rule.id}: ${rule.action} ${rule.subject} ${rule.pattern} for product ${rule.productCode}`)
    return {rule}
  }
}
