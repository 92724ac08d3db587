import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {productJson} from '../../cli/views.js'

export default class ProductShow extends AdminCommand<typeof ProductShow> {
  static override summary = 'Show a product and how many licenses it has.'

  static override description =
    'The product\'s name and how many of its licenses are available, assigned and revoked.'

  static override examples = ['<%= config.bin %> <%= command.id %> 7']

  static override args = {code: Args.string({description: 'Product code.', required: true})}

  async run() {
    const backend = await this.backend()
    const p = await backend.products.get(this.args.code)
    const {details, date} = await import('../../cli/render.js')
    this.log(
      details([
        ['Product', p.code],
        ['Name', p.name],
        ['Licenses', `${p.licenses.available} available, ${p.licenses.assigned} assigned, ${p.licenses.revoked} revoked`],
        ['Created', date(p.createdAt)],
      ]),
    )
    return {product: productJson(p)}
  }
}
