import {AdminCommand} from '../../cli/admin-command.js'
import {productJson} from '../../cli/views.js'

export default class ProductList extends AdminCommand<typeof ProductList> {
  static override summary = 'List the products with their license counts.'

  static override description =
    'One line per product with how many of its licenses are available, assigned and revoked.'

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']

  async run() {
    const backend = await this.backend()
    const products = await backend.products.list()
    const {table} = await import('../../cli/render.js')
    this.log(
      await table(
        products,
        [
          {header: 'CODE', get: (p) => p.code},
          {header: 'NAME', get: (p) => p.name},
          {header: 'AVAILABLE', get: (p) => p.licenses.available},
          {header: 'ASSIGNED', get: (p) => p.licenses.assigned},
          {header: 'REVOKED', get: (p) => p.licenses.revoked},
        ],
        'no products yet: run "licadm product create"',
      ),
    )
    return {products: products.map(productJson)}
  }
}
