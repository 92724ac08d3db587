import {InvalidValueError, UsageError} from './errors.js'

export interface Range {
  min: number
  max: number
}

/**
 * A text value from a flag or a JSON value: undefined when not given; anything but a string is
 * refused naming the flag.
 */
export function optionalText(v: unknown, flag: string): string | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') throw new InvalidValueError(flag, 'expected a string')
  return v
}

/** The most characters a name or other short text may have: a user's, a product's, a seat holder's… */
export const TEXT_MAX = 200

/**
 * A name or other short text from a flag or a JSON value, trimmed, of 1 to `max` characters (default
 * TEXT_MAX), refused naming the flag. Absent is undefined, or refused when `required`; a blank value
 * counts as absent unless `blank` is 'refuse'.
 */
export function parseText(v: unknown, flag: string, options: {required?: boolean; blank?: 'absent' | 'refuse'; max?: number} = {}): string | undefined {
  const max = options.max ?? TEXT_MAX
  const text = optionalText(v, flag)?.trim()
  if (text === undefined || (text === '' && options.blank !== 'refuse')) {
    if (options.required) throw new InvalidValueError(flag, `is required (1 to ${max} characters)`)
    return undefined
  }
  if (text === '') throw new InvalidValueError(flag, `is blank: give 1 to ${max} characters`)
  if (text.length > max) throw new InvalidValueError(flag, `is ${text.length} characters long: give 1 to ${max}`, {details: {max}})
  return text
}

/**
 * An unsigned integer from a flag, a CSV cell or a JSON value, refused with the flag's name and the
 * accepted range. `hex` also accepts `0x…` (feature maps are bit masks).
 */
export function parseUint(
  v: unknown,
  flag: string,
  range: Range,
  options: {required?: boolean; hex?: boolean} = {},
): number | null {
  if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) {
    if (options.required) throw new InvalidValueError(flag, `is required (${describeRange(range)})`)
    return null
  }
  let n: number
  if (typeof v === 'number') {
    n = v
  } else if (typeof v === 'string') {
    const s = v.trim().replaceAll('_', '')
    if (options.hex && /^0x[0-9a-f]+$/i.test(s)) n = Number.parseInt(s.slice(2), 16)
    else if (/^[+-]?\d+$/.test(s)) n = Number(s)
    else throw new InvalidValueError(flag, `"${v}" is not a whole number (${describeRange(range)})`)
  } else {
    throw new InvalidValueError(flag, `expected a whole number (${describeRange(range)})`)
  }
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw new InvalidValueError(flag, `${String(v).trim()} is out of range (${describeRange(range)})`, {
      details: {min: range.min, max: range.max},
    })
  }
  return n
}

function describeRange(range: Range): string {
  return `accepted: ${range.min} to ${range.max}`
}

const UNIT_SECONDS: Record<string, number> = {s: 1, m: 60, h: 3600, d: 86_400, w: 7 * 86_400, y: 365 * 86_400}

/** `90d`, `12h`, `2w`, `1y`, `30m`, `45s` → seconds; null when it is not a duration. */
export function parseDuration(text: string): number | null {
  const m = /^(\d{1,7})\s*([smhdwy])$/i.exec(text.trim())
  if (!m) return null
  return Number(m[1]) * UNIT_SECONDS[m[2].toLowerCase()]
}

export function parseDurationFlag(v: string, flag: string, range: Range = {min: 1, max: 100 * 366 * 86_400}): number {
  const seconds = parseDuration(v)
  if (seconds === null) throw new InvalidValueError(flag, `"${v}" is not a duration: use a number and a unit, e.g. 90d, 12h, 2w, 1y`)
  if (seconds < range.min || seconds > range.max) {
    throw new InvalidValueError(flag, `${v} is out of range (${formatDuration(range.min)} to ${formatDuration(range.max)})`)
  }
  return seconds
}

export function formatDuration(seconds: number): string {
  for (const [unit, size] of [['y', UNIT_SECONDS.y], ['d', 86_400], ['h', 3600], ['m', 60]] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`
  }
  return `${seconds}s`
}

/**
 * A point in time as epoch seconds: an ISO date (`2027-01-31`, the start of that day in UTC), an ISO
 * date-time with zone, a duration counted from `base` (`365d`), or epoch seconds (JSON numbers).
 */
export function parseInstant(v: unknown, flag: string, baseSeconds: number): number {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new InvalidValueError(flag, `${v} is not a time in epoch seconds`)
    return v
  }
  if (typeof v !== 'string') throw new InvalidValueError(flag, 'expected a date, a date-time or a duration')
  const s = v.trim()
  const seconds = parseDuration(s)
  if (seconds !== null) return baseSeconds + seconds
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return checkedDate(`${s}T00:00:00Z`, v, flag)
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(s)) return checkedDate(s, v, flag)
  throw new InvalidValueError(
    flag,
    `"${v}" is not a date: use YYYY-MM-DD, an ISO date-time with zone (2027-01-31T12:00:00Z) or a duration (365d)`,
  )
}

/** A day given as YYYY-MM-DD (a report's first or last day), checked to be a real calendar day. */
export function parseDay(v: unknown, flag: string): string {
  const day = optionalText(v, flag)?.trim() ?? ''
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || !isCalendarDay(day)) throw new InvalidValueError(flag, `"${day}" is not a day: give YYYY-MM-DD`)
  return day
}

/** Whether a YYYY-MM-DD day exists: Date.parse would roll 2027-02-31 over to March 3rd. */
function isCalendarDay(day: string): boolean {
  const date = new Date(`${day}T00:00:00Z`)
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === day
}

function checkedDate(iso: string, original: string, flag: string): number {
  const ms = Date.parse(iso)
  if (Number.isNaN(ms) || !isCalendarDay(iso.slice(0, 10))) throw new InvalidValueError(flag, `"${original}" is not a valid calendar date`)
  // Signed files carry times as epoch seconds, which verifiers require to be 0 or more.
  if (ms < 0) throw new InvalidValueError(flag, `"${original}" is before 1970-01-01`)
  return Math.floor(ms / 1000)
}

export function isoSeconds(seconds: number | null | undefined): string | null {
  return seconds === null || seconds === undefined ? null : new Date(seconds * 1000).toISOString().replace('.000Z', 'Z')
}

/** The fewest characters a new passphrase (of a signing key, a PKCS#12 file) may have. */
export const MIN_PASSPHRASE = 8

/** Why a new passphrase is refused (a prompt's validation message), or true when it will do. */
export function passphraseCheck(passphrase: string): true | string {
  return passphrase.length >= MIN_PASSPHRASE ? true : `use at least ${MIN_PASSPHRASE} characters`
}

/**
 * A new passphrase from the environment variable `env`, held to the rule a prompt holds a typed one
 * to: a short one would encrypt a key that anyone with the file guesses quickly.
 */
export function newPassphraseFrom(env: string, passphrase: string): string {
  const check = passphraseCheck(passphrase)
  if (check !== true) throw new UsageError(`${env}: ${check} for a new passphrase`, {hint: `Set ${env} to a longer passphrase.`, details: {env}})
  return passphrase
}
