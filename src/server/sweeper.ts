import type {SeatService} from '../services/seats.js'

/** The part of the server's logger the sweeper uses. */
export interface SweeperLog {
  info(object: object, message: string): void
  error(object: object, message: string): void
}

/**
 * Reclaims leases and borrows past their expiry, every `intervalMs`. Expired leases never count
 * against seats even before the sweeper runs (checkouts count only unexpired ones): the sweeper only
 * tidies the table and reports reclaims (`reclaimed`, the lease expiries of /metrics). Each sweep
 * also moves the server to the vendor's active key when it was rotated (SeatService.followActiveKey).
 */
export class Sweeper {
  private timer?: NodeJS.Timeout
  private running?: Promise<number>
  /** Leases and borrows reclaimed since the start (a running total: never goes down). */
  reclaimed = 0
  /** The server's logger, once the server has one. */
  log?: SweeperLog

  constructor(
    private readonly seats: SeatService,
    private readonly intervalMs: number,
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  start(): void {
    this.timer = setInterval(
      () =>
        void this.run().catch((error) => {
          this.log?.error({err: error}, 'the lease sweeper failed')
          this.onError(error)
        }),
      this.intervalMs,
    )
    this.timer.unref()
  }

  /** One sweep now (also after the test clock moves); concurrent calls share one run. */
  async run(): Promise<number> {
    this.running ??= this.seats
      .sweep()
      .then(async (n) => {
        this.reclaimed += n
        if (n > 0) this.log?.info({reclaimed: n, total: this.reclaimed}, 'reclaimed leases past their expiry')
        await this.followActiveKey()
        return n
      })
      .finally(() => (this.running = undefined))
    return this.running
  }

  private async followActiveKey(): Promise<void> {
    try {
      const kid = await this.seats.followActiveKey()
      if (kid !== null) this.log?.info({kid}, 'the vendor key was rotated: signing with the new active key')
    } catch (error) {
      // Tried again at the next sweep; meanwhile the key in use goes on signing.
      this.log?.error({err: error}, 'the new active vendor key could not be loaded: still signing with the previous key')
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await this.running?.catch(() => 0)
  }
}
