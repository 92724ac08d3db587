import {BaseCommand} from '../../cli/base-command.js'
import {seatCheckoutFlags, seatTargetFlags, seatServerFlags} from '../../cli/server-flags.js'

export default class SeatCheckout extends BaseCommand<typeof SeatCheckout> {
  static override summary = 'Check out a floating seat of a concurrent license from a license server.'

  static override description = `Prints the lease id, its expiry and the signed lease token. The lease lives for its TTL (5 minutes by default): renew it with "seat heartbeat" and free it with "seat release", or it is reclaimed.

A refusal says why: no seat free (and who holds them), license expired or revoked, access denied by the server's rules (exit 4, 6, 17, 7).

--seats N takes N seats at once in one lease (a job that needs several), from a license that counts per checkout; all of them are free again when the lease is released or reclaimed. A count the license could never grant (more than its seats, or than its policy allows one user; a station-shared or exclusive license) is refused at once (SEAT_COUNT_REFUSED, exit 4 or 2), not waited for.

--wait waits in line on the server while no seat is free, or the user holds the most seats the license's policy allows (NO_SEAT_FREE, USER_LIMIT), until one is granted or the time is up (exit 4 then); every other refusal ends it at once. A server that stops, restarts or cannot be reached meanwhile is asked again until the time is up (exit 8 if it is not back by then): a restarted server has a new line. A released seat goes to the checkout that has waited longest and can take it; a lease of several seats, freed at once, serves as many waiting checkouts in line order.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --server http://127.0.0.1:22350 --license lic_01jx…',
    'LICADM_SERVER=http://licenses.lan:22350 LICADM_TOKEN=… <%= config.bin %> <%= command.id %> --product 7 --features 0x3 --json',
    '<%= config.bin %> <%= command.id %> --product 7 --wait 10m --json',
    '<%= config.bin %> <%= command.id %> --license lic_01jx… --seats 4 --wait 1h',
  ]

  static override flags = {
    ...seatServerFlags,
    ...seatTargetFlags,
    ...seatCheckoutFlags,
  }

  async run() {
    const {serverClient, defaultHolder, parseTarget, checkoutWait} = await import('../../cli/server-flags.js')
    const {retrySayer} = await import('../../client/http.js')
    const target = parseTarget(this.flags)
    const client = await serverClient(this.flags, {credentials: this.flags.credentials, profiles: () => this.profiles()})
    const holder = await defaultHolder()
    const say = this.jsonEnabled() ? undefined : (message: string) => this.logToStderr(message)
    const wait = {...(await checkoutWait(this.flags.wait, say)), onRetry: retrySayer(say)}
    const grant = await client.checkout(
      {
        ...target,
        seats: this.flags.seats,
        user: this.flags.user ?? holder.user,
        host: this.flags.host ?? holder.host,
        process: this.flags.process ?? `licadm:${process.pid}`,
      },
      wait,
    )
    if (!this.jsonEnabled()) {
      const {details, date} = await import('../../cli/render.js')
      this.log(details([
        ['Lease', grant.lease.id],
        ['License', grant.lease.licenseId],
        ['Product', grant.lease.productCode],
        ['Holder', `${grant.lease.user}@${grant.lease.host}`],
        ['Seats', grant.lease.seats],
        ['Expires', date(grant.lease.expiresAt)],
        ['Heartbeat', `within ${grant.ttl} s`],
        ['Token', grant.token],
      ]))
    }
    return grant
  }
}
