import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {yesFlag} from '../../cli/flags.js'
import {serverFlags} from '../../cli/server-flags.js'

export default class SeatRemove extends BaseCommand<typeof SeatRemove> {
  static override summary = "Force-release someone's lease or borrow (admin): the remedy for a seat stuck after a crash."

  static override description = 'Needs a vendor (admin) token. The holder learns at its next heartbeat that the lease is gone. The removal is recorded in the audit trail.'

  static override examples = ['<%= config.bin %> <%= command.id %> lse_01jx… --server http://127.0.0.1:22350 --yes', 'LICADM_TOKEN=$ADMIN <%= config.bin %> <%= command.id %> lse_01jx… --yes --json']

  static override args = {lease: Args.string({description: 'Lease or borrow id (see "seat list").', required: true})}

  static override flags = {...serverFlags, yes: yesFlag}

  async run() {
    const {serverClient} = await import('../../cli/server-flags.js')
    const client = await serverClient(this.flags, {profiles: () => this.profiles()})
    await this.confirm(this.flags.yes, `Force-release ${this.args.lease}?`)
    const lease = await client.forceRelease(this.args.lease)
    this.log(`Removed ${lease.kind} ${lease.id} of ${lease.user}@${lease.host} (license ${lease.licenseId})`)
    return {lease}
  }
}
