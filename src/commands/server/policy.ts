import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {serverFlags} from '../../cli/server-flags.js'

export default class ServerPolicy extends BaseCommand<typeof ServerPolicy> {
  static override summary = "Set a license's seat policy on a license server: counting mode, lease TTL, borrow limits."

  static override description = `Counting modes: checkout (each checkout takes a seat; the default), station (one user on one host takes one seat however many processes), exclusive (one holder takes the license whole).
Settings left out fall back to the server's (--lease-ttl, --borrow-max-duration, --borrow-max-seats of "server start"). Needs a vendor (admin) token.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> lic_01jx… --mode station --lease-ttl 2m',
    '<%= config.bin %> <%= command.id %> lic_01jx… --borrow-max-duration 7d --borrow-max-seats 2 --json',
  ]

  static override args = {license: Args.string({description: 'License id.', required: true})}

  static override flags = {
    ...serverFlags,
    mode: Flags.string({summary: 'Counting mode.', options: ['checkout', 'station', 'exclusive'], default: 'checkout'}),
    'lease-ttl': Flags.string({summary: 'Lease TTL for this license (e.g. 90s, 2m).'}),
    'borrow-max-duration': Flags.string({summary: 'Longest borrow of this license (e.g. 7d).'}),
    'borrow-max-seats': Flags.integer({summary: 'Most seats of this license borrowed at once.', min: 0}),
  }

  async run() {
    const {parseDurationFlag} = await import('../../domain/values.js')
    const f = this.flags
    const {serverClient} = await import('../../cli/server-flags.js')
    const client = await serverClient(f, {profiles: () => this.profiles()})
    const policy = await client.setPolicy(this.args.license, {
      mode: f.mode,
      leaseTtl: f['lease-ttl'] === undefined ? null : parseDurationFlag(f['lease-ttl'], '--lease-ttl', {min: 5, max: 7 * 86_400}),
      borrowMaxSeconds: f['borrow-max-duration'] === undefined ? null : parseDurationFlag(f['borrow-max-duration'], '--borrow-max-duration', {min: 60, max: 10 * 366 * 86_400}),
      borrowMaxSeats: f['borrow-max-seats'] ?? null,
    })
    this.log(`License ${policy.licenseId}: mode ${policy.mode}, lease TTL ${policy.leaseTtl ?? 'server default'}, borrow at most ${policy.borrowMaxSeconds ?? 'server default'} s and ${policy.borrowMaxSeats ?? 'server default'} seats`)
    return {policy}
  }
}
