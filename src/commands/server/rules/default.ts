import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../../cli/base-command.js'
import {serverFlags} from '../../../cli/server-flags.js'

export default class ServerRulesDefault extends BaseCommand<typeof ServerRulesDefault> {
  static override summary = 'Set what a product does for clients that no access rule matches: allow or deny.'

  static override description = 'With deny, only clients that an allow rule matches get seats. Needs a vendor (admin) token.'

  static override examples = ['<%= config.bin %> <%= command.id %> deny --product 7', '<%= config.bin %> <%= command.id %> allow --product 7 --json']

  static override args = {action: Args.string({description: 'allow or deny', required: true, options: ['allow', 'deny']})}

  static override flags = {...serverFlags, product: Flags.string({char: 'p', summary: 'Product code.', required: true})}

  async run() {
    const {UsageError} = await import('../../../domain/errors.js')
    const product = Number(this.flags.product)
    if (!Number.isSafeInteger(product) || product < 1 || product > 0xffff_ffff) throw new UsageError(`--product: "${this.flags.product}" is not a product code`, {details: {flag: '--product'}})
    const {serverClient} = await import('../../../cli/server-flags.js')
    const client = await serverClient(this.flags, {profiles: () => this.profiles()})
    const result = await client.setDefaultAction(product, this.args.action as 'allow' | 'deny')
    this.log(`Product ${result.productCode}: clients no rule matches are ${result.defaultAction === 'allow' ? 'allowed' : 'denied'}`)
    return result
  }
}
