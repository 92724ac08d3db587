import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {serverFlags} from '../../cli/server-flags.js'

/** The longest move at once: the server's own limit (POST /v1/test/clock/advance). */
const MAX_ADVANCE = 100 * 366 * 86_400

export default class ServerClock extends BaseCommand<typeof ServerClock> {
  static override summary = "Show a license server's time, or move a test-mode server's clock ahead (admin)."

  static override description = `A server started with --test-mode keeps a manual clock (at --clock, or the time it started) that only --advance moves, so a test sees leases expire and borrows run out without waiting: the leases and borrows past their expiry are reclaimed at once, and the answer says how many. Moving the clock needs a vendor (admin) token; a server not in test mode refuses (exit 3).

Without --advance, shows the server's time and how far this machine's clock is from it (no token needed).`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --server http://127.0.0.1:22350',
    'LICADM_TOKEN=$ADMIN <%= config.bin %> <%= command.id %> --advance 301s --json',
    'LICADM_TOKEN=$ADMIN <%= config.bin %> <%= command.id %> --advance 31d',
  ]

  static override flags = {
    ...serverFlags,
    advance: Flags.string({summary: 'Move the clock ahead by this much (e.g. 301s, 10m, 31d).'}),
  }

  async run() {
    const {serverClient} = await import('../../cli/server-flags.js')
    if (this.flags.advance === undefined) {
      const client = await serverClient(this.flags, {needsToken: false, profiles: () => this.profiles()})
      const {serverTime} = await client.health()
      // From the verified signature's time when the vendor key is pinned, else from the body.
      const skewMs = client.lastTime?.skewMs ?? Date.parse(serverTime) - Date.now()
      this.log(`Server time ${serverTime} (${(skewMs / 1000).toFixed(1)} s from this machine's clock)`)
      return {server: client.base, serverTime, skewMs}
    }
    const {parseDurationFlag} = await import('../../domain/values.js')
    const seconds = parseDurationFlag(this.flags.advance, '--advance', {min: 1, max: MAX_ADVANCE})
    const client = await serverClient(this.flags, {profiles: () => this.profiles()})
    const {serverTime, reclaimed} = await client.advanceClock(seconds)
    this.log(`Server time now ${serverTime}; reclaimed ${reclaimed} expired lease(s) and borrow(s)`)
    return {server: client.base, serverTime, advancedBy: seconds, reclaimed}
  }
}
