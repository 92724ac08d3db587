import {describe, expect, it} from 'vitest'

import {InvalidValueError} from '../../src/domain/errors.js'
import {formatDuration, isoSeconds, parseDuration, parseDurationFlag, parseDay, parseInstant, parseText, parseUint, TEXT_MAX} from '../../src/domain/values.js'

const RANGE = {min: 1, max: 1_000_000}
const U32 = {min: 0, max: 0xffff_ffff}

function refused(fn: () => unknown): InvalidValueError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidValueError)
    return error as InvalidValueError
  }
  throw new Error('expected a refusal')
}

describe('parseText', () => {
  it('trims a name; a blank one is absent, or refused when asked; a required one must be given', () => {
    expect(parseText('  Acme  ', '--name')).toBe('Acme')
    expect(parseText(undefined, '--name')).toBeUndefined()
    expect(parseText(null, '--name')).toBeUndefined()
    expect(parseText('   ', '--name')).toBeUndefined()
    expect(refused(() => parseText('   ', '--name', {required: true})).message).toBe('--name: is required (1 to 200 characters)')
    expect(refused(() => parseText(undefined, '--user', {required: true, blank: 'refuse'})).message).toBe('--user: is required (1 to 200 characters)')
    expect(refused(() => parseText(' ', '--user', {blank: 'refuse'})).message).toBe('--user: is blank: give 1 to 200 characters')
  })

  it('refuses more than TEXT_MAX characters (or max) once trimmed, and anything but a string', () => {
    expect(parseText(` ${'x'.repeat(TEXT_MAX)} `, '--name')).toHaveLength(TEXT_MAX)
    const long = refused(() => parseText('x'.repeat(TEXT_MAX + 1), '--name'))
    expect(long.message).toBe(`--name: is ${TEXT_MAX + 1} characters long: give 1 to ${TEXT_MAX}`)
    expect(long.details).toMatchObject({flag: '--name', max: TEXT_MAX})
    expect(refused(() => parseText('abcd', '--code', {max: 3})).message).toBe('--code: is 4 characters long: give 1 to 3')
    expect(refused(() => parseText(42, '--name')).message).toBe('--name: expected a string')
    expect(refused(() => parseText({}, '--name', {required: true})).message).toBe('--name: expected a string')
  })
})

describe('parseDay', () => {
  it('takes a real YYYY-MM-DD day and refuses any other, as parseInstant refuses impossible dates', () => {
    expect(parseDay('2028-02-29', '--since')).toBe('2028-02-29')
    expect(parseDay(' 2026-12-31 ', '--until')).toBe('2026-12-31')
    for (const bad of ['2027-02-29', '2026-04-31', '2026-13-01', '2026-00-10', '2026-1-1', '2026-01-01T00:00:00Z', 'yesterday', '']) {
      expect(refused(() => parseDay(bad, '--since')).message).toBe(`--since: "${bad}" is not a day: give YYYY-MM-DD`)
      if (/^\d{4}-\d{2}-\d{2}$/.test(bad)) expect(refused(() => parseInstant(bad, '--expires', 0)).message).toMatch(/is not a valid calendar date/)
    }
    expect(refused(() => parseDay(20_260_101, '--since')).message).toBe('--since: expected a string')
  })
})

describe('parseUint', () => {
  it('accepts whole numbers as text or JSON numbers, with spaces, + and _ separators', () => {
    expect(parseUint('5', '--quantity', RANGE)).toBe(5)
    expect(parseUint(' 42 ', '--quantity', RANGE)).toBe(42)
    expect(parseUint('+7', '--quantity', RANGE)).toBe(7)
    expect(parseUint('1_000', '--quantity', RANGE)).toBe(1000)
    expect(parseUint(1_000_000, '--quantity', RANGE)).toBe(1_000_000)
    expect(parseUint('1', '--quantity', RANGE)).toBe(1)
    expect(parseUint('0', '--features', U32)).toBe(0)
    expect(parseUint('4294967295', '--features', U32)).toBe(0xffff_ffff)
  })

  it('returns null for a blank optional value and refuses a blank required one, naming the flag and range', () => {
    expect(parseUint(undefined, '--units', RANGE)).toBeNull()
    expect(parseUint(null, '--units', RANGE)).toBeNull()
    expect(parseUint('  ', '--units', RANGE)).toBeNull()
    const e = refused(() => parseUint('', '--product', {min: 1, max: 4294967295}, {required: true}))
    expect(e.message).toBe('--product: is required (accepted: 1 to 4294967295)')
    expect(e.details?.flag).toBe('--product')
  })

  it.each([
    ['0', /--quantity: 0 is out of range \(accepted: 1 to 1000000\)/],
    ['-1', /--quantity: -1 is out of range \(accepted: 1 to 1000000\)/],
    ['-0x10', /--quantity: "-0x10" is not a whole number \(accepted: 1 to 1000000\)/],
    ['1000001', /out of range \(accepted: 1 to 1000000\)/],
    ['99999999999999999999999', /out of range \(accepted: 1 to 1000000\)/],
    ['1e3', /"1e3" is not a whole number \(accepted: 1 to 1000000\)/],
    ['1.5', /"1.5" is not a whole number/],
    ['0x10', /"0x10" is not a whole number/],
    ['ten', /"ten" is not a whole number/],
    ['12abc', /"12abc" is not a whole number/],
    ['NaN', /"NaN" is not a whole number/],
    ['Infinity', /"Infinity" is not a whole number/],
    ['1 000', /"1 000" is not a whole number/],
  ])('refuses %j with the flag and the accepted range', (input, message) => {
    const e = refused(() => parseUint(input, '--quantity', RANGE))
    expect(e.message).toMatch(message)
    expect(e.message.startsWith('--quantity: ')).toBe(true)
    expect(e.exit).toBe(2)
    expect(e.code).toBe('INVALID_VALUE')
  })

  it('refuses JSON values that are not whole numbers in range', () => {
    expect(refused(() => parseUint(0, '--quantity', RANGE)).message).toMatch(/0 is out of range/)
    expect(refused(() => parseUint(-3, '--quantity', RANGE)).message).toMatch(/-3 is out of range/)
    expect(refused(() => parseUint(1.5, '--quantity', RANGE)).message).toMatch(/accepted: 1 to 1000000/)
    expect(refused(() => parseUint(Number.NaN, '--quantity', RANGE)).message).toMatch(/accepted: 1 to 1000000/)
    expect(refused(() => parseUint(2 ** 60, '--quantity', RANGE)).message).toMatch(/out of range/)
    expect(refused(() => parseUint(true, '--quantity', RANGE)).message).toMatch(/--quantity: expected a whole number/)
    expect(refused(() => parseUint({}, '--quantity', RANGE)).message).toMatch(/--quantity: expected a whole number/)
    // JSON numbers are numbers: 1e3 written in JSON is the number 1000.
    expect(parseUint(1e3, '--quantity', RANGE)).toBe(1000)
  })

  it('accepts 0x hex only when allowed, within range', () => {
    expect(parseUint('0x10', '--features', U32, {hex: true})).toBe(16)
    expect(parseUint('0XfF', '--features', U32, {hex: true})).toBe(255)
    expect(parseUint('0xFFFF_FFFF', '--features', U32, {hex: true})).toBe(0xffff_ffff)
    expect(refused(() => parseUint('0x1_0000_0000', '--features', U32, {hex: true})).message).toMatch(/--features: .*out of range \(accepted: 0 to 4294967295\)/)
    expect(refused(() => parseUint('0x', '--features', U32, {hex: true})).message).toMatch(/not a whole number/)
    expect(refused(() => parseUint('0xg1', '--features', U32, {hex: true})).message).toMatch(/not a whole number/)
    expect(refused(() => parseUint('-1', '--features', U32, {hex: true})).message).toMatch(/out of range/)
  })
})

describe('durations', () => {
  it('parses a number and a unit', () => {
    expect(parseDuration('45s')).toBe(45)
    expect(parseDuration('30m')).toBe(1800)
    expect(parseDuration('12h')).toBe(43_200)
    expect(parseDuration('90d')).toBe(90 * 86_400)
    expect(parseDuration('2w')).toBe(14 * 86_400)
    expect(parseDuration('1y')).toBe(365 * 86_400)
    expect(parseDuration(' 365D ')).toBe(365 * 86_400)
    expect(parseDuration('7 d')).toBe(7 * 86_400)
  })

  it.each(['', 'd', '1', '1.5d', '-1d', '1x', '1dd', '1d2h', '12345678d', 'P1D'])('is null for %j', (text) => {
    expect(parseDuration(text)).toBeNull()
  })

  it('formats with the largest unit that divides evenly, and round-trips', () => {
    expect(formatDuration(45)).toBe('45s')
    expect(formatDuration(60)).toBe('1m')
    expect(formatDuration(90 * 60)).toBe('90m')
    expect(formatDuration(86_400)).toBe('1d')
    expect(formatDuration(2 * 365 * 86_400)).toBe('2y')
    expect(formatDuration(366 * 86_400)).toBe('366d')
    expect(formatDuration(86_401)).toBe('86401s')
    expect(formatDuration(0)).toBe('0s')
    for (const s of [1, 59, 60, 3600, 3601, 86_400, 7 * 86_400, 365 * 86_400, 400 * 86_400]) {
      expect(parseDuration(formatDuration(s))).toBe(s)
    }
  })

  it('refuses durations that are not durations or out of range, naming the flag', () => {
    expect(parseDurationFlag('2w', '--lease')).toBe(14 * 86_400)
    expect(refused(() => parseDurationFlag('soon', '--lease')).message).toMatch(/^--lease: "soon" is not a duration/)
    expect(refused(() => parseDurationFlag('0s', '--lease')).message).toMatch(/^--lease: 0s is out of range \(1s to /)
    expect(refused(() => parseDurationFlag('2h', '--lease', {min: 60, max: 3600})).message).toBe('--lease: 2h is out of range (1m to 1h)')
  })
})

describe('parseInstant', () => {
  const base = Date.UTC(2026, 0, 15, 10, 30) / 1000

  it('reads YYYY-MM-DD as the start of that day in UTC', () => {
    expect(parseInstant('2027-01-31', '--expires', base)).toBe(Date.UTC(2027, 0, 31) / 1000)
    expect(parseInstant('2028-02-29', '--expires', base)).toBe(Date.UTC(2028, 1, 29) / 1000)
  })

  it('reads ISO date-times with a zone', () => {
    expect(parseInstant('2027-01-31T12:00:00Z', '--expires', base)).toBe(Date.UTC(2027, 0, 31, 12) / 1000)
    expect(parseInstant('2027-01-31T12:00:00+02:00', '--expires', base)).toBe(Date.UTC(2027, 0, 31, 10) / 1000)
    expect(parseInstant('2027-01-31T12:00-0130', '--expires', base)).toBe(Date.UTC(2027, 0, 31, 13, 30) / 1000)
    expect(parseInstant('2027-01-31 12:00:00.999Z', '--expires', base)).toBe(Date.UTC(2027, 0, 31, 12) / 1000)
  })

  it('counts durations from the base, and takes epoch seconds from JSON numbers', () => {
    expect(parseInstant('365d', '--expires', base)).toBe(base + 365 * 86_400)
    expect(parseInstant('1h', '--expires', 1000)).toBe(4600)
    expect(parseInstant(1_900_000_000, '--expires', base)).toBe(1_900_000_000)
  })

  it.each(['2027-02-30', '2027-02-29', '2027-13-01', '2027-00-10', '2027-04-31', '2027-01-00', '2027-01-32', '2027-02-30T00:00:00Z'])(
    'refuses the invalid calendar date %j',
    (text) => {
      const e = refused(() => parseInstant(text, '--expires', base))
      expect(e.message).toBe(`--expires: "${text}" is not a valid calendar date`)
    },
  )

  it('refuses a date-time whose time does not exist', () => {
    expect(refused(() => parseInstant('2027-01-31T12:61:00Z', '--expires', base)).message).toMatch(/^--expires: /)
    expect(refused(() => parseInstant('2027-01-31T25:00:00Z', '--expires', base)).message).toMatch(/^--expires: /)
  })

  it.each(['tomorrow', '31/01/2027', '2027-1-31', '2027-01-31T12:00:00', '20270131', '1e9', 'next year', '-1d'])(
    'refuses %j with the accepted forms',
    (text) => {
      const e = refused(() => parseInstant(text, '--not-before', base))
      expect(e.message).toMatch(/^--not-before: ".*" is not a date: use YYYY-MM-DD, an ISO date-time with zone .* or a duration \(365d\)$/)
      expect(e.details?.flag).toBe('--not-before')
    },
  )

  it('refuses JSON values that are not times', () => {
    expect(refused(() => parseInstant(-1, '--expires', base)).message).toMatch(/^--expires: -1 is not a time in epoch seconds/)
    expect(refused(() => parseInstant(1.5, '--expires', base)).message).toMatch(/not a time in epoch seconds/)
    expect(refused(() => parseInstant(true, '--expires', base)).message).toMatch(/^--expires: expected a date/)
    expect(refused(() => parseInstant(null, '--expires', base)).message).toMatch(/^--expires: expected a date/)
  })

  it('refuses dates before 1970, which no artifact can carry as a time claim', () => {
    // Signed files carry epoch seconds that verifiers require to be >= 0 (claims.ts): a negative
    // not-before would produce a license file that never verifies.
    expect(refused(() => parseInstant('1969-12-31', '--not-before', base)).message).toMatch(/^--not-before: /)
    expect(refused(() => parseInstant('1960-01-01T00:00:00Z', '--not-before', base)).message).toMatch(/^--not-before: /)
    expect(parseInstant('1970-01-01', '--not-before', base)).toBe(0)
  })

  it('isoSeconds prints whole seconds in UTC', () => {
    expect(isoSeconds(Date.UTC(2027, 0, 31, 12) / 1000)).toBe('2027-01-31T12:00:00Z')
    expect(isoSeconds(null)).toBeNull()
    expect(isoSeconds(undefined)).toBeNull()
  })
})
