import {Flags} from '@oclif/core'

import {BaseCommand} from '../../../cli/base-command.js'
import {serverFlags} from '../../../cli/server-flags.js'

export default class ServerRulesAdd extends BaseCommand<typeof ServerRulesAdd> {
  static override summary = 'Allow or deny a user, host or client address the seats of a product.'

  static override description = 'Users and hosts match case-insensitively, with * and ? wildcards; addresses are one address or a CIDR block (10.0.0.0/8, fd00::/8). Deny rules win over allow rules. Needs a vendor (admin) token.'

  static override examples = [
    '<%= config.bin %> <%= command.id %> --product 7 --deny --user mallory',
    '<%= config.bin %> <%= command.id %> --product 7 --allow --address 10.1.0.0/16 --json',
    '<%= config.bin %> <%= command.id %> --product 7 --deny --host "kiosk-*"',
  ]

  static override flags = {
    ...serverFlags,
    product: Flags.string({char: 'p', summary: 'Product code.', required: true}),
    allow: Flags.boolean({summary: 'An allow rule.', exclusive: ['deny']}),
    deny: Flags.boolean({summary: 'A deny rule.'}),
    user: Flags.string({summary: 'User name pattern.', exclusive: ['host', 'address']}),
    host: Flags.string({summary: 'Host name pattern.', exclusive: ['address']}),
    address: Flags.string({summary: 'Client address or CIDR block.'}),
  }

  async run() {
    const {UsageError} = await import('../../../domain/errors.js')
    const f = this.flags
    if (!f.allow && !f.deny) throw new UsageError('give --allow or --deny', {details: {flag: '--deny'}})
    const subject = f.user !== undefined ? 'user' : f.host !== undefined ? 'host' : f.address !== undefined ? 'address' : undefined
    if (!subject) throw new UsageError('give --user, --host or --address', {details: {flag: '--user'}})
    const product = Number(f.product)
    if (!Number.isSafeInteger(product) || product < 1 || product > 0xffff_ffff) throw new UsageError(`--product: "${f.product}" is not a product code`, {details: {flag: '--product'}})
    const {serverClient} = await import('../../../cli/server-flags.js')
    const client = await serverClient(f, {profiles: () => this.profiles()})
    const rule = await client.addRule({product, action: f.allow ? 'allow' : 'deny', subject, pattern: (f.user ?? f.host ?? f.address)!})
    this.log(`Added rule ${rule.id}: ${rule.action} ${rule.subject} ${rule.pattern} for product ${rule.productCode}`)
    return {rule}
  }
}
