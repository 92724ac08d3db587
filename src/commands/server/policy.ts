import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {serverFlags} from '../../cli/server-flags.js'

export default class ServerPolicy extends BaseCommand<typeof ServerPolicy> {
  static override summary = "Set a license's seat policy on a license server: counting mode, lease TTL, borrow limits, seats per user."

  static override description = `Counting modes: checkout (each checkout takes a seat; the default), station (one user on one host takes one seat however many processes), exclusive (one holder takes the license whole).
--max-per-user caps the seats one user holds at once, leases and borrows together (a station counts once): one more checkout or borrow is refused as USER_LIMIT (exit 4), so one user or one CI job cannot take every seat.
Settings left out fall back to the server's (--lease-ttl, --borrow-max-duration, --borrow-max-seats of "server start"; no cap per user). Setting a policy replaces the license's previous one. Needs a vendor (admin) token.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> lic_01jx… --mode station --lease-ttl 2m',
    '<%= config.bin %> <%= command.id %> lic_01jx… --borrow-max-duration 7d --borrow-max-seats 2 --json',
    '<%= config.bin %> <%= command.id %> lic_01jx… --max-per-user 2',
  ]

  static override args = {license: Args.string({description: 'License id.', required: true})}

  static override flags = {
    ...serverFlags,
    mode: Flags.string({summary: 'Counting mode.', options: ['checkout', 'station', 'exclusive'], default: 'checkout'}),
    'lease-ttl': Flags.string({summary: 'Lease TTL for this license (e.g. 90s, 2m).'}),
    'borrow-max-duration': Flags.string({summary: 'Longest borrow of this license (e.g. 7d).'}),
    'borrow-max-seats': Flags.integer({summary: 'Most seats of this license borrowed at once.', min: 0}),
    'max-per-user': Flags.integer({summary: 'Most seats of this license one user holds at once.', min: 1, max: 1_000_000}),
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
      maxPerUser: f['max-per-user'] ?? null,
    })
    this.log(`License ${policy.licenseId}: mode ${policy.mode}, lease TTL ${policy.leaseTtl ?? 'server default'}, borrow at most ${policy.borrowMaxSeconds ?? 'server default'} s and ${policy.borrowMaxSeats ?? 'server default'} seats, ${policy.maxPerUser === null ? 'no limit per user' : `at most ${policy.maxPerUser} per user`}`)
    return {policy}
  }
}
