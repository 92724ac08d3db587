import {Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {epochSeconds} from '../../domain/clock.js'
import {LICENSE_STATUSES} from '../../domain/license.js'

export default class LicenseList extends AdminCommand<typeof LicenseList> {
  static override summary = 'List licenses, oldest first, a page at a time.'

  static override description = 'Filters combine. When there are more licenses than --limit, the output ends with the --cursor value for the next page (nextCursor in --json).'

  static override examples = [
    '<%= config.bin %> <%= command.id %> --product 7 --status available',
    '<%= config.bin %> <%= command.id %> --expiring-before 30d',
    '<%= config.bin %> <%= command.id %> --customer Globex --json',
    '<%= config.bin %> <%= command.id %> --limit 100 --cursor lic_01…',
  ]

  static override flags = {
    product: Flags.string({char: 'p', summary: 'Only this product code.'}),
    status: Flags.string({summary: 'Only this status.', options: [...LICENSE_STATUSES]}),
    customer: Flags.string({summary: 'Only this customer (exact match).'}),
    'expiring-before': Flags.string({summary: 'Only licenses that expire before this date or within this duration (e.g. 30d).'}),
    limit: Flags.string({summary: 'Page size (1 to 10000).', default: '50'}),
    cursor: Flags.string({summary: 'Continue after this license id (from the previous page).'}),
  }

  async run() {
    const backend = await this.backend()
    const page = await backend.licenses.list({
      product: this.flags.product,
      status: this.flags.status,
      customer: this.flags.customer,
      expiringBefore: this.flags['expiring-before'],
      limit: this.flags.limit,
      cursor: this.flags.cursor,
    })
    const {licenseColumns, licenseJson} = await import('../../cli/views.js')
    if (!this.jsonEnabled()) {
      // Drawing a table of 10,000 rows takes seconds; under --json it would only be thrown away.
      const {table} = await import('../../cli/render.js')
      this.log(await table(page.licenses, licenseColumns, 'no licenses match'))
      if (page.nextCursor) this.log(`More: ${this.config.bin} license list --cursor ${page.nextCursor} (same filters)`)
    }
    const now = epochSeconds(this.clock())
    return {licenses: page.licenses.map((l) => licenseJson(l, now)), nextCursor: page.nextCursor}
  }
}
