import {Args} from '@oclif/core'

import {BaseCommand} from '../../../cli/base-command.js'
import {serverFlags} from '../../../cli/server-flags.js'

export default class ServerReservationsRemove extends BaseCommand<typeof ServerReservationsRemove> {
  static override summary = 'Remove a seat reservation of a license server: its seats are free for anyone again.'

  static override description = 'Reservation ids are shown by "server reservations list". Leases already held are not affected. Needs a vendor (admin) token.'

  static override examples = ['<%= config.bin %> <%= command.id %> 2 --server http://127.0.0.1:22350', '<%= config.bin %> <%= command.id %> 2 --json']

  static override args = {reservation: Args.string({description: 'Reservation id.', required: true})}

  static override flags = {...serverFlags}

  async run() {
    const {serverClient} = await import('../../../cli/server-flags.js')
    const client = await serverClient(this.flags, {profiles: () => this.profiles()})
    const reservation = await client.removeReservation(this.args.reservation)
    this.log(`Removed reservation ${reservation.id}: ${reservation.seats} seat(s) of license ${reservation.licenseId} for ${reservation.subject} ${reservation.pattern}`)
    return {reservation}
  }
}
