import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {serverFlags} from '../../cli/server-flags.js'
import {USAGE_DAYS} from '../../services/seat-usage.js'

export default class ServerUsage extends BaseCommand<typeof ServerUsage> {
  static override summary = "A license server's seat usage per license: peak seats in use, checkouts, denials, reclaimed leases."

  static override description = `Per concurrent license over the days asked for (UTC; by default the 30 days to the server's today): the most seats in use at once, the days on which every seat was taken (FULL), checkouts and borrows granted, DENIED (checkout and borrow requests refused because no seat was free; one that waits in line counts if it ends without a seat) and leases RECLAIMED after their clients stopped heartbeating (a sign of crashed clients or too short a lease TTL). Many denials and full days say the license needs more seats; a low peak, fewer. --daily adds a line per day with activity, --by-user a line per user (most checkouts first; --json always has both). The server counts in memory and saves about once a second and when it stops; it keeps ${USAGE_DAYS.max} days. Needs a vendor (admin) token.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --server http://127.0.0.1:22350',
    '<%= config.bin %> <%= command.id %> --license lic_01jx… --days 7 --daily',
    '<%= config.bin %> <%= command.id %> --since 2026-10-01 --until 2026-10-31 --json',
  ]

  static override flags = {
    ...serverFlags,
    license: Flags.string({char: 'l', summary: 'Only this license.'}),
    days: Flags.integer({summary: 'The last N days, today included (default 30).', min: USAGE_DAYS.min, max: USAGE_DAYS.max, exclusive: ['since']}),
    since: Flags.string({summary: 'First day (YYYY-MM-DD, UTC).'}),
    until: Flags.string({summary: 'Last day (YYYY-MM-DD, UTC; default: today).'}),
    daily: Flags.boolean({summary: 'A line per license and day with activity.'}),
    'by-user': Flags.boolean({summary: 'A line per license and user: checkouts and denials.'}),
  }

  async run() {
    const f = this.flags
    const {serverClient} = await import('../../cli/server-flags.js')
    const client = await serverClient(f, {profiles: () => this.profiles()})
    const report = await client.usageReport({license: f.license, days: f.days, since: f.since, until: f.until})
    if (!this.jsonEnabled()) {
      const {table} = await import('../../cli/render.js')
      this.log(`Seat usage from ${report.since} to ${report.until} (UTC)`)
      this.log('')
      this.log(
        await table(
          report.licenses,
          [
            {header: 'LICENSE', get: (l) => l.licenseId},
            {header: 'PRODUCT', get: (l) => l.productCode},
            {header: 'PEAK', get: (l) => `${l.peak}/${l.quantity}`},
            {header: 'FULL', get: (l) => (l.daysFull === 1 ? '1 day' : `${l.daysFull} days`)},
            {header: 'CHECKOUTS', get: (l) => l.checkouts},
            {header: 'DENIED', get: (l) => l.denials},
            {header: 'RECLAIMED', get: (l) => l.reclaimed},
          ],
          'no concurrent licenses on this server',
        ),
      )
      const days = report.licenses.flatMap((l) => l.days.map((d) => ({...d, licenseId: l.licenseId, quantity: l.quantity})))
      if (f.daily && days.length > 0) {
        this.log('')
        this.log(
          await table(days, [
            {header: 'DAY', get: (d) => d.day},
            {header: 'LICENSE', get: (d) => d.licenseId},
            {header: 'PEAK', get: (d) => `${d.peak}/${d.quantity}`},
            {header: 'CHECKOUTS', get: (d) => d.checkouts},
            {header: 'DENIED', get: (d) => d.denials},
            {header: 'RECLAIMED', get: (d) => d.reclaimed},
          ]),
        )
      }
      const users = report.licenses.flatMap((l) => l.users.map((u) => ({...u, licenseId: l.licenseId})))
      if (f['by-user'] && users.length > 0) {
        this.log('')
        this.log(
          await table(users, [
            {header: 'USER', get: (u) => u.user},
            {header: 'LICENSE', get: (u) => u.licenseId},
            {header: 'CHECKOUTS', get: (u) => u.checkouts},
            {header: 'DENIED', get: (u) => u.denials},
          ]),
        )
      }
    }
    return report
  }
}
