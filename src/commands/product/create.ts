import {Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {productJson} from '../../cli/views.js'

export default class ProductCreate extends AdminCommand<typeof ProductCreate> {
  static override summary = 'Create a product: a code (unique for the vendor) and a name.'

  static override description = 'Licenses are issued for a product by its code. In a terminal, a missing code or name is asked for.'

  static override examples = [
    '<%= config.bin %> <%= command.id %> --code 7 --name "Acme CAD"',
    '<%= config.bin %> <%= command.id %> --code 7 --name "Acme CAD" --json',
  ]

  static override flags = {
    code: Flags.string({char: 'c', summary: 'Product code (1 to 4294967295).'}),
    name: Flags.string({char: 'n', summary: 'Product name.'}),
  }

  async run() {
    const {questions} = await import('../../cli/prompts.js')
    const backend = await this.backend()
    const code = await this.need('code', this.flags.code, questions.productCode)
    const name = await this.need('name', this.flags.name, questions.productName)
    const product = await backend.products.create({code, name})
    this.log(`${this.color().green('✓')} Created product ${product.code} (${product.name})`)
    return {product: productJson(product)}
  }
}
