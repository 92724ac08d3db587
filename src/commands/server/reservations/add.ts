import {Flags} from '@oclif/core'

import {BaseCommand} from '../../../cli/base-command.js'
import {serverFlags} from '../../../cli/server-flags.js'
import {SEAT_RANGES} from '../../../domain/seat-policy.js'

export default class ServerReservationsAdd extends BaseCommand<typeof ServerReservationsAdd> {
  static override summary = 'Keep seats of a concurrent license for a user, host or client address.'

  static override description =
    "Nobody else may take reserved seats; the user, host or address they are kept for takes them first and the license's free seats after. Users and hosts match case-insensitively, with * and ? wildcards; addresses are one address or a CIDR block. A license's reservations together keep at most its seats; seats in use when a reservation is made stay with their holders until released. Needs a vendor (admin) token."

  static override examples = [
    '<%= config.bin %> <%= command.id %> --license lic_01jx… --user alice --seats 2',
    '<%= config.bin %> <%= command.id %> --license lic_01jx… --host "build-*" --seats 3 --json',
    '<%= config.bin %> <%= command.id %> --license lic_01jx… --address 10.20.0.0/16 --seats 5',
  ]

  static override flags = {
    ...serverFlags,
    license: Flags.string({char: 'l', summary: 'License id (a concurrent license).', required: true}),
    seats: Flags.integer({summary: 'Seats to keep.', required: true, min: SEAT_RANGES.reservedSeats.min, max: SEAT_RANGES.reservedSeats.max}),
    user: Flags.string({summary: 'For this user name (pattern).', exclusive: ['host', 'address']}),
    host: Flags.string({summary: 'For this host name (pattern).', exclusive: ['address']}),
    address: Flags.string({summary: 'For this client address or CIDR block.'}),
  }

  async run() {
    const {UsageError} = await import('../../../domain/errors.js')
    const f = this.flags
    const subject = f.user !== undefined ? 'user' : f.host !== undefined ? 'host' : f.address !== undefined ? 'address' : undefined
    if (!subject) throw new UsageError('give --user, --host or --address: whom the seats are kept for', {details: {flag: '--user'}})
    const {serverClient} = await import('../../../cli/server-flags.js')
    const client = await serverClient(f, {profiles: () => this.profiles()})
    const reservation = await client.addReservation({license: f.license, subject, pattern: (f.user ?? f.host ?? f.address)!, seats: f.seats})
    this.log(`Added reservation ${reservation.id}: ${reservation.seats} seat(s) of license ${reservation.licenseId} kept for ${reservation.subject} ${reservation.pattern}`)
    return {reservation}
  }
}
