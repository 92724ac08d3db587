import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {forceFlag, outFlag} from '../../cli/flags.js'
import {seatTargetFlags, seatServerFlags} from '../../cli/server-flags.js'

export default class SeatBorrow extends BaseCommand<typeof SeatBorrow> {
  static override summary = 'Borrow a seat for offline use, as a signed borrow file.'

  static override description = 'The borrowed seat counts against the license until the borrow file expires or is returned with "seat return". The server limits how long (--duration) and how many seats of a license may be borrowed at once. By product, a license whose policy allows a shorter borrow is passed over; BORROW_TOO_LONG (exit 4) comes only when no license of the product allows the duration, and names the longest allowed. --out is checked before anything is borrowed. --idempotency-key makes a re-run safe: while the borrow lasts, the same key with the same input gets the same borrow (and the same file) instead of a second seat; other input under it is refused (IDEMPOTENCY_KEY_REUSED, exit 4).'

  static override examples = [
    '<%= config.bin %> <%= command.id %> --server http://127.0.0.1:22350 --license lic_01jx… --duration 7d --out laptop.borrow',
    '<%= config.bin %> <%= command.id %> --product 7 --duration 3d --json',
    '<%= config.bin %> <%= command.id %> --product 7 --duration 3d --idempotency-key "ci-$CI_PIPELINE_ID" --out seat.borrow --force',
  ]

  static override flags = {
    ...seatServerFlags,
    ...seatTargetFlags,
    duration: Flags.string({char: 'd', summary: 'How long (e.g. 3d, 12h).', required: true}),
    'idempotency-key': Flags.string({summary: 'Key that makes a re-run return the same borrow while it lasts.'}),
    out: outFlag,
    force: forceFlag,
  }

  async run() {
    const {serverClient, defaultHolder, parseTarget} = await import('../../cli/server-flags.js')
    const {parseDurationFlag} = await import('../../domain/values.js')
    const {SEAT_RANGES} = await import('../../domain/seat-policy.js')
    const target = parseTarget(this.flags)
    // Checked before the seat is borrowed: a file that cannot be written must not strand the seat.
    if (this.flags.out) (await import('../../cli/credentials.js')).checkWritable(this.flags.out, '--out', this.flags.force)
    const duration = parseDurationFlag(this.flags.duration, '--duration', SEAT_RANGES.borrowSeconds)
    const client = await serverClient(this.flags, {credentials: this.flags.credentials, profiles: () => this.profiles()})
    const holder = await defaultHolder()
    const key = this.flags['idempotency-key']
    const grant = await client.borrow({...target, duration, user: this.flags.user ?? holder.user, host: this.flags.host ?? holder.host, ...(key === undefined ? {} : {idempotencyKey: key})})
    const again = grant.replayed ? ' (borrowed by an earlier run with this key)' : ''
    const {date} = await import('../../cli/render.js')
    if (this.flags.out) {
      const {writeOutput} = await import('../../cli/files.js')
      try {
        writeOutput(this.flags.out, grant.file, {force: this.flags.force})
      } catch (error) {
        // Written by nobody, a new borrow would hold its seat for its whole duration (an earlier run's
        // borrow, replayed, is that run's: it stays).
        if (!grant.replayed) await client.returnBorrow(grant.borrow.id)
        throw error
      }
      this.log(`Borrowed ${grant.borrow.id} of license ${grant.borrow.licenseId} until ${date(grant.borrow.expiresAt)}${again}; wrote ${this.flags.out}`)
    } else if (!this.jsonEnabled()) {
      process.stderr.write(`Borrowed ${grant.borrow.id} of license ${grant.borrow.licenseId} until ${date(grant.borrow.expiresAt)}${again}\n`)
      this.log(grant.file.trimEnd())
    }
    return grant
  }
}
