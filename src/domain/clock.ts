/** The only place licadm reads the time. Everything else takes a Clock, so tests can move it. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
}

export const systemClock: Clock = {now: () => Date.now()}

/** The last time licadm can show (ISO 8601 dates have four-digit years): 9999-12-31T23:59:59Z. */
export const LAST_INSTANT_MS = Date.UTC(9999, 11, 31, 23, 59, 59)

/** A clock that starts at a given time and moves only when told (tests, `--clock`). */
export class ManualClock implements Clock {
  private current: number

  constructor(start: number) {
    this.current = start
  }

  now(): number {
    return this.current
  }

  advance(ms: number): void {
    this.current += ms
  }

  set(ms: number): void {
    this.current = ms
  }
}

/** A clock offset from the system clock, so time still flows (`LICADM_NOW`). */
export function offsetClock(startAt: number, base: Clock = systemClock): Clock {
  const offset = startAt - base.now()
  return {now: () => base.now() + offset}
}

export function epochSeconds(clock: Clock): number {
  return Math.floor(clock.now() / 1000)
}
