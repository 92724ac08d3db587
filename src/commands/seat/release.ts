import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {seatServerFlags} from '../../cli/server-flags.js'

export default class SeatRelease extends BaseCommand<typeof SeatRelease> {
  static override summary = 'Release a seat lease: the seat is free at once.'

  static override description = 'Releasing a lease that is gone already (released, reclaimed or removed) changes nothing and succeeds, so scripts can re-run.'

  static override examples = ['<%= config.bin %> <%= command.id %> lse_01jx… --server http://127.0.0.1:22350', '<%= config.bin %> <%= command.id %> "$LEASE" --json']

  static override args = {lease: Args.string({description: 'Lease id.', required: true})}

  static override flags = {...seatServerFlags}

  async run() {
    const {serverClient} = await import('../../cli/server-flags.js')
    const client = await serverClient(this.flags, {credentials: this.flags.credentials, profiles: () => this.profiles()})
    const result = await client.release(this.args.lease)
    const {isoSeconds} = await import('../../domain/values.js')
    const lingers = result.lingersUntil === undefined ? '' : `; its seat lingers until ${isoSeconds(result.lingersUntil)} (the same user on the same host takes it back)`
    this.log(result.released ? `Released lease ${result.leaseId}${lingers}` : `Lease ${result.leaseId} was not held (released, expired or removed already); nothing changed`)
    return result
  }
}
