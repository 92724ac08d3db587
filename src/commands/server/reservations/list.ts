import {Flags} from '@oclif/core'

import {BaseCommand} from '../../../cli/base-command.js'
import {serverFlags} from '../../../cli/server-flags.js'

export default class ServerReservationsList extends BaseCommand<typeof ServerReservationsList> {
  static override summary = "List a license server's seat reservations, with the seats of each in use."

  static override description =
    'A reservation keeps seats of a concurrent license for a user, host or client address; IN USE counts the seats its own holders take of it (a holder fills the oldest reservation it matches first). Needs a vendor (admin) token.'

  static override examples = ['<%= config.bin %> <%= command.id %> --server http://127.0.0.1:22350', '<%= config.bin %> <%= command.id %> --license lic_01jx… --json']

  static override flags = {...serverFlags, license: Flags.string({char: 'l', summary: 'Only this license.'})}

  async run() {
    const {serverClient} = await import('../../../cli/server-flags.js')
    const client = await serverClient(this.flags, {profiles: () => this.profiles()})
    const reservations = await client.listReservations(this.flags.license)
    if (!this.jsonEnabled()) {
      const {table} = await import('../../../cli/render.js')
      this.log(await table(reservations, [
        {header: 'ID', get: (r) => r.id},
        {header: 'LICENSE', get: (r) => r.licenseId},
        {header: 'FOR', get: (r) => `${r.subject} ${r.pattern}`},
        {header: 'SEATS', get: (r) => r.seats},
        {header: 'IN USE', get: (r) => r.inUse},
      ], 'no reservations: every seat is free for anyone the access rules allow'))
    }
    return {reservations}
  }
}
