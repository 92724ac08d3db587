import type {SeatService} from '../services/seats.js'

/**
 * Reclaims leases and borrows past their expiry, every `intervalMs`. Expired leases never count
 * against seats even before the sweeper runs (checkouts count only unexpired ones): the sweeper only
 * tidies the table and reports reclaims.
 */
export class Sweeper {
  private timer?: NodeJS.Timeout
  private running?: Promise<number>
  reclaimed = 0

  constructor(
    private readonly seats: SeatService,
    private readonly intervalMs: number,
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.run().catch(this.onError), this.intervalMs)
    this.timer.unref()
  }

  /** One sweep now (also after the test clock moves); concurrent calls share one run. */
  async run(): Promise<number> {
    this.running ??= this.seats
      .sweep()
      .then((n) => ((this.reclaimed += n), n))
      .finally(() => (this.running = undefined))
    return this.running
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await this.running?.catch(() => 0)
  }
}
