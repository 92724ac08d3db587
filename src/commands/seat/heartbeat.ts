import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {seatServerFlags} from '../../cli/server-flags.js'

export default class SeatHeartbeat extends BaseCommand<typeof SeatHeartbeat> {
  static override summary = 'Renew a seat lease for another TTL.'

  static override description = 'A lease that already expired is gone (exit 6, or 3 once reclaimed): check out a new seat.'

  static override examples = ['<%= config.bin %> <%= command.id %> lse_01jx… --server http://127.0.0.1:22350', 'while sleep 60; do <%= config.bin %> <%= command.id %> "$LEASE" --json; done']

  static override args = {lease: Args.string({description: 'Lease id (from "seat checkout").', required: true})}

  static override flags = {...seatServerFlags}

  async run() {
    const {serverClient} = await import('../../cli/server-flags.js')
    const client = await serverClient(this.flags, {credentials: this.flags.credentials, profiles: () => this.profiles()})
    const grant = await client.heartbeat(this.args.lease)
    const {date} = await import('../../cli/render.js')
    this.log(`Renewed lease ${grant.lease.id} until ${date(grant.lease.expiresAt)}`)
    return grant
  }
}
