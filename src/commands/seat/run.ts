import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {seatCheckoutFlags, seatServerFlags, seatTargetFlags} from '../../cli/server-flags.js'
import {LicadmError, UsageError} from '../../domain/errors.js'

export default class SeatRun extends BaseCommand<typeof SeatRun> {
  static override summary = 'Run a command while it holds a floating seat: check out, keep the lease, release when it ends.'

  static override description = `Checks out a seat (or --seats N) of a concurrent license, runs the command given after "--" while automatic heartbeats keep the lease, and releases the seat when the command ends, however it ends. The command inherits standard input, output and error, and finds LICADM_LEASE_ID and LICADM_LICENSE_ID in its environment; its exit status becomes licadm's (128 + the signal's number when a signal ended it).

A refusal (no seat free, license expired or revoked, access denied; see "seat checkout") ends licadm with its exit code before the command starts; --wait first waits in line for a seat, and waits out a restart of the server meanwhile. A command that cannot be started is reported as COMMAND_NOT_FOUND (exit 3), its seat released.

SIGINT, SIGTERM and SIGHUP are passed on to the command, and the seat is released once it has ended. If the lease is lost (the server no longer has it, or it could not be renewed before it expired), the command is stopped with SIGTERM and licadm exits with the loss's exit code (6 when the lease expired); --keep-on-lost lets it run on without a seat instead.

licadm's own lines go to standard error; with --json, one JSON object follows the command's output on standard output: the lease, the command's exit status or signal, and whether the seat was released.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --product 7 -- ./run-integration-tests.sh',
    '<%= config.bin %> <%= command.id %> --license lic_01jx… --seats 4 --wait 30m -- make -j4 render',
    'LICADM_SERVER=http://licenses.lan:22350 LICADM_TOKEN=… <%= config.bin %> <%= command.id %> --product 7 --json -- node check.js',
  ]

  static override flags = {
    ...seatServerFlags,
    ...seatTargetFlags,
    ...seatCheckoutFlags,
    'keep-on-lost': Flags.boolean({summary: 'Let the command run on if the lease is lost (default: stop it with SIGTERM).'}),
  }

  /** The command and its arguments: everything after the first "--", kept out of flag parsing. */
  private command: string[] = []

  public override async init(): Promise<void> {
    const end = this.argv.indexOf('--')
    if (end >= 0) {
      this.command = this.argv.slice(end + 1)
      this.argv = this.argv.slice(0, end)
    }
    await super.init()
  }

  async run() {
    if (this.command.length === 0) {
      throw new UsageError('give the command to run after "--"', {hint: `e.g. ${this.config.bin} seat run --product 7 -- ./run-tests.sh`})
    }
    const {serverConnection, defaultHolder, parseTarget, checkoutWait} = await import('../../cli/server-flags.js')
    const target = parseTarget(this.flags)
    const connection = await serverConnection(this.flags, {credentials: this.flags.credentials, profiles: () => this.profiles()})
    const holder = await defaultHolder()
    const say = this.jsonEnabled() ? undefined : (message: string) => this.logToStderr(`licadm: ${message}`)
    const {SeatClient} = await import('../../client/seat-client.js')
    const {runHolding} = await import('../../cli/run-holding.js')
    let lost: LicadmError | undefined
    let onLost: (error: LicadmError) => void = () => {}
    const seats = new SeatClient({
      ...connection,
      token: connection.token!,
      user: this.flags.user ?? holder.user,
      host: this.flags.host ?? holder.host,
      releaseOnExit: false,
      handleSignals: false,
      onLost: (error) => {
        lost = error
        onLost(error)
      },
    })
    try {
      const {retrySayer} = await import('../../client/http.js')
      const wait = {...(await checkoutWait(this.flags.wait, say)), onRetry: retrySayer(say)}
      const seat = await seats.checkout({...target, seats: this.flags.seats, process: this.flags.process ?? `licadm:${process.pid}`}, wait)
      say?.(`holding ${seat.lease.seats === 1 ? 'a seat' : `${seat.lease.seats} seats`} of license ${seat.lease.licenseId} (lease ${seat.id}) for ${this.command.join(' ')}`)
      const release = async () => {
        const released = lost ? false : await seat.release()
        say?.(released ? `released lease ${seat.id}` : `lease ${seat.id} was no longer held`)
        return released
      }
      const ended = await runHolding(this.command, {LICADM_LEASE_ID: seat.id, LICADM_LICENSE_ID: seat.lease.licenseId}, (stop) => {
        onLost = (error) => {
          process.stderr.write(`licadm: ${error.message}${this.flags['keep-on-lost'] ? '; the command runs on without a seat' : '; stopping the command'}\n`)
          if (!this.flags['keep-on-lost']) stop()
        }
        // Lost between the checkout and the start: said and acted on now.
        if (lost) onLost(lost)
      }).catch(async (error: unknown) => {
        // The command never ran: its seat is given back and the refusal says so.
        if (!(error instanceof LicadmError)) throw error
        const released = await release()
        throw new LicadmError(error.code, error.exit, error.message, {hint: error.hint, details: {...error.details, lease: seat.id, released}})
      })
      const released = await release()
      process.exitCode = lost && !this.flags['keep-on-lost'] ? lost.exit : ended.status
      return {
        lease: seat.lease,
        command: this.command,
        exitCode: ended.code,
        signal: ended.signal,
        released,
        ...(lost ? {lost: {code: lost.code, message: lost.message}} : {}),
      }
    } finally {
      await seats.close()
    }
  }
}
