import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {yesFlag} from '../../cli/flags.js'
import {productJson} from '../../cli/views.js'

export default class ProductDelete extends AdminCommand<typeof ProductDelete> {
  static override summary = 'Delete a product that no license references.'

  static override description = 'Refused while any license (revoked ones too) references the product: licenses are kept for the record.'

  static override examples = ['<%= config.bin %> <%= command.id %> 7 --yes']

  static override args = {code: Args.string({description: 'Product code.', required: true})}

  static override flags = {yes: yesFlag}

  async run() {
    const backend = await this.backend()
    const product = await backend.products.get(this.args.code)
    await this.confirm(this.flags.yes, `Delete product ${product.code} (${product.name})?`)
    const deleted = await backend.products.delete(product.code)
    this.log(`Deleted product ${deleted.code} (${deleted.name})`)
    return {deleted: productJson(deleted)}
  }
}
