import {Flags} from '@oclif/core'

import {BaseCommand} from '../../../cli/base-command.js'
import {serverFlags} from '../../../cli/server-flags.js'

export default class ServerRulesList extends BaseCommand<typeof ServerRulesList> {
  static override summary = "List a license server's access rules per product."

  static override description = 'Deny rules win over allow rules; a client that no rule matches gets the product\'s default action (allow unless set with "server rules default"). Needs a vendor (admin) token.'

  static override examples = ['<%= config.bin %> <%= command.id %> --server http://127.0.0.1:22350', '<%= config.bin %> <%= command.id %> --product 7 --json']

  static override flags = {...serverFlags, product: Flags.string({char: 'p', summary: 'Only this product.'})}

  async run() {
    const {serverClient} = await import('../../../cli/server-flags.js')
    const client = await serverClient(this.flags, {profiles: () => this.profiles()})
    const products = await client.listRules(this.flags.product)
    if (!this.jsonEnabled()) {
      const {table} = await import('../../../cli/render.js')
      const rows = products.flatMap((p) => [
        {product: p.productCode, id: '-', rule: `default ${p.defaultAction}`},
        ...p.rules.map((r) => ({product: p.productCode, id: String(r.id), rule: `${r.action} ${r.subject} ${r.pattern}`})),
      ])
      this.log(await table(rows, [
        {header: 'PRODUCT', get: (r) => r.product},
        {header: 'RULE', get: (r) => r.id},
        {header: 'ACTION', get: (r) => r.rule},
      ], 'no access rules: every client is allowed'))
    }
    return {products}
  }
}
