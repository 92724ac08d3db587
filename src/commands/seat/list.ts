import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {seatServerFlags} from '../../cli/server-flags.js'

export default class SeatList extends BaseCommand<typeof SeatList> {
  static override summary = 'Who has what: each concurrent license with its seats used and their holders.'

  static override description = 'One line per license (seats used/total, borrowed, counting mode, and the seats reserved when any are: see "server reservations"), then one line per holder: lease, user, host, since and expiry. --user and --host list only that user\'s or host\'s holders (the seats used stay the license\'s): the leases to release after a crash, say. A server started with --hide-holders shows a client token only the holders of the station its --user and --host name; an admin token sees them all.'

  static override examples = [
    '<%= config.bin %> <%= command.id %> --server http://127.0.0.1:22350',
    '<%= config.bin %> <%= command.id %> --product 7 --json',
    '<%= config.bin %> <%= command.id %> --user ann --host build-7',
  ]

  static override flags = {
    ...seatServerFlags,
    license: Flags.string({char: 'l', summary: 'Only this license.'}),
    product: Flags.string({char: 'p', summary: 'Only licenses of this product.'}),
    user: Flags.string({summary: "Only this user's holders."}),
    host: Flags.string({summary: "Only this host's holders."}),
  }

  async run() {
    const {serverClient} = await import('../../cli/server-flags.js')
    const client = await serverClient(this.flags, {credentials: this.flags.credentials, profiles: () => this.profiles()})
    const licenses = await client.list({license: this.flags.license, product: this.flags.product, user: this.flags.user, host: this.flags.host})
    if (!this.jsonEnabled()) {
      const {table, date} = await import('../../cli/render.js')
      const {seatUsageColumns} = await import('../../cli/views.js')
      this.log(await table(licenses, seatUsageColumns(licenses, 'USED'), 'no concurrent licenses on this server'))
      const holders = licenses.flatMap((l) => l.holders)
      const {user, host} = this.flags
      if (licenses.some((l) => l.holdersHidden)) {
        this.log('')
        this.log('the server hides who holds its seats: give --user and --host to list the holders of one station, or use an admin token')
      } else if (holders.length === 0 && licenses.length > 0 && (user !== undefined || host !== undefined)) {
        this.log('')
        this.log(`no seats held${user === undefined ? '' : ` by user ${user}`}${host === undefined ? '' : ` on host ${host}`}`)
      }
      if (holders.length > 0) {
        this.log('')
        this.log(
          await table(holders, [
            {header: 'LEASE', get: (h) => h.id},
            {header: 'LICENSE', get: (h) => h.licenseId},
            // A lingering lease was released: its seat stays taken until it expires.
            {header: 'KIND', get: (h) => (h.releasedAt === null ? h.kind : 'lingering')},
            // A lease of several seats (a checkout of --seats N, an exclusive one) says how many.
            ...(holders.some((h) => h.seats > 1) ? [{header: 'SEATS', get: (h: (typeof holders)[number]) => h.seats}] : []),
            {header: 'USER', get: (h) => h.user},
            {header: 'HOST', get: (h) => h.host},
            {header: 'SINCE', get: (h) => date(h.createdAt)},
            {header: 'EXPIRES', get: (h) => date(h.expiresAt)},
          ]),
        )
      }
    }
    return {licenses}
  }
}
