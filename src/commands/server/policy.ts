import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {serverFlags} from '../../cli/server-flags.js'
import type {PolicySettings} from '../../client/http.js'
import type {SeatPolicy} from '../../services/seat-rules.js'

/** The word that puts a setting back to the server's (for --max-per-user: no cap). */
const DEFAULT = 'default'

export default class ServerPolicy extends BaseCommand<typeof ServerPolicy> {
  static override summary = "Show or change a license's seat policy on a license server: counting mode, lease TTL, borrow limits, seats per user, linger."

  static override description = `Without settings, shows the license's policy. With settings, changes those and keeps the others; --reset replaces the whole policy (settings not given go back to the server's). A setting given as "${DEFAULT}" goes back to the server's (--lease-ttl, --borrow-max-duration, --borrow-max-seats of "server start"; for --max-per-user, no cap).
Counting modes: checkout (each checkout takes a seat; the default), station (one user on one host takes one seat however many processes), exclusive (one holder takes the license whole).
--max-per-user caps the seats one user holds at once, leases and borrows together (a station counts once): one more checkout or borrow is refused as USER_LIMIT (exit 4), so one user or one CI job cannot take every seat. An exclusive license is taken whole by one checkout, so a --max-per-user below its seats is refused (INVALID_VALUE, exit 2).
--linger keeps a released seat taken for a while (the LINGER of other floating-license servers), so a tool that starts and stops often keeps its seat between runs: the same user on the same host takes the lingering seat back at the next checkout, nobody else may take it until the linger ends, and "seat list" shows it as lingering. An administrator's "seat remove" frees it at once.
Needs a vendor (admin) token.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> lic_01jx…',
    '<%= config.bin %> <%= command.id %> lic_01jx… --mode station --lease-ttl 2m',
    '<%= config.bin %> <%= command.id %> lic_01jx… --borrow-max-duration 7d --borrow-max-seats 2 --json',
    '<%= config.bin %> <%= command.id %> lic_01jx… --max-per-user 2',
    '<%= config.bin %> <%= command.id %> lic_01jx… --linger 2m',
    `<%= config.bin %> <%= command.id %> lic_01jx… --max-per-user ${DEFAULT}`,
    '<%= config.bin %> <%= command.id %> lic_01jx… --reset',
  ]

  static override args = {license: Args.string({description: 'License id.', required: true})}

  static override flags = {
    ...serverFlags,
    mode: Flags.string({summary: 'Counting mode.', options: ['checkout', 'station', 'exclusive']}),
    'lease-ttl': Flags.string({summary: `Lease TTL for this license (e.g. 90s, 2m; "${DEFAULT}": the server's).`}),
    'borrow-max-duration': Flags.string({summary: `Longest borrow of this license (e.g. 7d; "${DEFAULT}": the server's).`}),
    'borrow-max-seats': Flags.string({summary: `Most seats of this license borrowed at once ("${DEFAULT}": the server's).`}),
    'max-per-user': Flags.string({summary: `Most seats of this license one user holds at once ("${DEFAULT}": no cap).`}),
    linger: Flags.string({summary: `How long a released seat stays taken (e.g. 30s, 5m; 0 or "${DEFAULT}": none).`}),
    reset: Flags.boolean({summary: "Replace the whole policy: settings not given go back to the server's."}),
  }

  async run() {
    const {formatDuration, parseDurationFlag, parseUint} = await import('../../domain/values.js')
    const {SEAT_RANGES} = await import('../../domain/seat-policy.js')
    const f = this.flags
    const setting = <T>(value: string | undefined, parse: (v: string) => T): T | null | undefined => (value === undefined ? undefined : value === DEFAULT ? null : parse(value))
    const settings: PolicySettings = {
      mode: f.mode,
      leaseTtl: setting(f['lease-ttl'], (v) => parseDurationFlag(v, '--lease-ttl', SEAT_RANGES.leaseTtl)),
      borrowMaxSeconds: setting(f['borrow-max-duration'], (v) => parseDurationFlag(v, '--borrow-max-duration', SEAT_RANGES.borrowSeconds)),
      borrowMaxSeats: setting(f['borrow-max-seats'], (v) => parseUint(v, '--borrow-max-seats', SEAT_RANGES.borrowSeats, {required: true})),
      maxPerUser: setting(f['max-per-user'], (v) => parseUint(v, '--max-per-user', SEAT_RANGES.maxPerUser, {required: true})),
      linger: setting(f.linger, (v) => (v.trim() === '0' ? null : parseDurationFlag(v, '--linger', SEAT_RANGES.linger))),
    }
    const changes = Object.values(settings).some((v) => v !== undefined)
    const {serverClient} = await import('../../cli/server-flags.js')
    const client = await serverClient(f, {profiles: () => this.profiles()})
    const policy = changes || f.reset ? await client.setPolicy(this.args.license, settings, {merge: !f.reset}) : await client.getPolicy(this.args.license)
    this.log(describePolicy(this.args.license, policy, formatDuration))
    return {policy}
  }
}

function describePolicy(license: string, policy: SeatPolicy | null, formatDuration: (seconds: number) => string): string {
  if (!policy) return `License ${license}: no policy of its own: mode checkout, the server's lease TTL and borrow limits, no limit per user, no linger`
  const or = <T>(v: T | null, show: (v: T) => string, server: string) => (v === null ? server : show(v))
  return [
    `License ${policy.licenseId}: mode ${policy.mode}`,
    policy.leaseTtl === null ? "the server's lease TTL" : `lease TTL ${formatDuration(policy.leaseTtl)}`,
    policy.borrowMaxSeconds === null && policy.borrowMaxSeats === null
      ? "the server's borrow limits"
      : `borrow for at most ${or(policy.borrowMaxSeconds, formatDuration, "the server's longest time")}, ${or(policy.borrowMaxSeats, (n) => `${n} seat(s)`, "the server's most seats")} at once`,
    policy.maxPerUser === null ? 'no limit per user' : `at most ${policy.maxPerUser} seat(s) per user`,
    policy.linger === null ? 'no linger' : `a released seat lingers ${formatDuration(policy.linger)}`,
  ].join(', ')
}
