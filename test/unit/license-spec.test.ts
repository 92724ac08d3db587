import {describe, expect, it} from 'vitest'

import {InvalidValueError} from '../../src/domain/errors.js'
import {LIMITS, parseLicenseSpec, parseMetadata, validityAt, type FieldLabel, type LicenseInput} from '../../src/domain/license.js'

const NOW = Date.UTC(2026, 5, 1, 12) / 1000
const DAY = 86_400

function refused(input: LicenseInput, label?: FieldLabel): InvalidValueError {
  try {
    parseLicenseSpec(input, NOW, label)
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidValueError)
    return error as InvalidValueError
  }
  throw new Error(`expected ${JSON.stringify(input)} to be refused`)
}

describe('parseLicenseSpec', () => {
  it('fills in defaults: single, quantity 1, no features, valid from now, perpetual', () => {
    expect(parseLicenseSpec({product: '7'}, NOW)).toEqual({
      productCode: 7,
      kind: 'single',
      quantity: 1,
      features: 0,
      units: null,
      notBefore: NOW,
      expiresAt: null,
      customer: null,
      metadata: {},
    })
  })

  it('treats blank cells like missing values (a CSV row with empty optional columns)', () => {
    const spec = parseLicenseSpec(
      {product: '7', kind: '', quantity: '', features: ' ', units: '', notBefore: '', expires: '', customer: '', metadata: ''},
      NOW,
    )
    expect(spec).toMatchObject({kind: 'single', quantity: 1, features: 0, units: null, notBefore: NOW, expiresAt: null, customer: null, metadata: {}})
  })

  it('reads every field', () => {
    const spec = parseLicenseSpec(
      {
        product: 4294967295,
        kind: 'Concurrent',
        quantity: '25',
        features: '0x8000_0001',
        units: '100',
        notBefore: '2026-07-01',
        expires: '365d',
        customer: '  ACME GmbH ',
        metadata: ['order=PO-1', 'region=eu=west'],
      },
      NOW,
    )
    const start = Date.UTC(2026, 6, 1) / 1000
    expect(spec).toEqual({
      productCode: 4294967295,
      kind: 'concurrent',
      quantity: 25,
      features: 0x8000_0001,
      units: 100,
      notBefore: start,
      // A duration counts from the start of validity, not from now.
      expiresAt: start + 365 * DAY,
      customer: 'ACME GmbH',
      metadata: {order: 'PO-1', region: 'eu=west'},
    })
  })

  it('requires the product and names the flag', () => {
    expect(refused({}).message).toBe('--product: is required (accepted: 1 to 4294967295)')
    expect(refused({product: '0'}).details?.flag).toBe('--product')
  })

  it('refuses an unknown kind with the accepted kinds', () => {
    const e = refused({product: 1, kind: 'floating'})
    expect(e.message).toBe('--kind: unknown kind "floating": expected one of single, concurrent')
    expect(e.exit).toBe(2)
  })

  it('refuses quantity 0, negative and absurd quantities with the range', () => {
    expect(refused({product: 1, quantity: '0'}).message).toBe('--quantity: 0 is out of range (accepted: 1 to 1000000)')
    expect(refused({product: 1, quantity: -2}).message).toMatch(/^--quantity: -2 is out of range/)
    expect(refused({product: 1, quantity: '1e9'}).message).toMatch(/^--quantity: "1e9" is not a whole number/)
    expect(refused({product: 1, quantity: 1_000_001}).message).toMatch(/accepted: 1 to 1000000/)
  })

  it('refuses feature maps outside 32 bits', () => {
    expect(parseLicenseSpec({product: 1, features: '0xFFFFFFFF'}, NOW).features).toBe(0xffff_ffff)
    expect(refused({product: 1, features: '0x100000000'}).message).toMatch(/^--features: .* out of range \(accepted: 0 to 4294967295\)/)
    expect(refused({product: 1, features: 4294967296}).message).toMatch(/^--features: 4294967296 is out of range/)
    expect(refused({product: 1, features: '-1'}).message).toMatch(/^--features: -1 is out of range/)
  })

  it('refuses units outside their range', () => {
    expect(refused({product: 1, units: '0'}).message).toMatch(/^--units: 0 is out of range \(accepted: 1 to 2147483647\)/)
  })

  it('refuses an expiry before the start of validity', () => {
    const e = refused({product: 1, notBefore: '2027-01-01', expires: '2026-12-31'})
    expect(e.message).toBe('--expires: must be after the start of validity (not-before)')
    expect(refused({product: 1, notBefore: '2027-01-01', expires: '2027-01-01'}).message).toMatch(/must be after the start of validity/)
  })

  it('refuses an expiry in the past, saying so', () => {
    const e = refused({product: 1, expires: '2020-01-01'})
    expect(e.message).toBe('--expires: is in the past: give a future date or a duration such as 365d')
    expect(refused({product: 1, notBefore: '2025-01-01', expires: '2026-01-01'}).message).toMatch(/is in the past/)
    // Exactly now is no longer valid.
    expect(refused({product: 1, notBefore: NOW - DAY, expires: NOW}).message).toMatch(/is in the past/)
    expect(parseLicenseSpec({product: 1, expires: NOW + 1}, NOW).expiresAt).toBe(NOW + 1)
  })

  it('refuses an expiry more than 100 years away, but accepts never and 100 years', () => {
    expect(refused({product: 1, expires: '101y'}).message).toBe('--expires: is more than 100 years away: use "never" for a perpetual license')
    expect(parseLicenseSpec({product: 1, expires: '100y'}, NOW).expiresAt).toBe(NOW + 100 * 365 * DAY)
    expect(parseLicenseSpec({product: 1, expires: 'never'}, NOW).expiresAt).toBeNull()
    expect(parseLicenseSpec({product: 1, expires: 'NEVER'}, NOW).expiresAt).toBeNull()
    expect(refused({product: 1, notBefore: '200y'}).message).toBe('--not-before: is more than 100 years away')
  })

  it('refuses bad dates with the flag name', () => {
    expect(refused({product: 1, expires: '2027-02-30'}).message).toBe('--expires: "2027-02-30" is not a valid calendar date')
    expect(refused({product: 1, notBefore: '2027-13-01'}).message).toBe('--not-before: "2027-13-01" is not a valid calendar date')
    expect(refused({product: 1, expires: 'soon'}).message).toMatch(/^--expires: "soon" is not a date/)
  })

  it('refuses a customer longer than 200 characters, and a customer that is not text', () => {
    expect(parseLicenseSpec({product: 1, customer: 'x'.repeat(200)}, NOW).customer).toHaveLength(200)
    expect(refused({product: 1, customer: 'x'.repeat(201)}).message).toBe('--customer: is 201 characters long: give 1 to 200')
    expect(refused({product: 1, customer: 42}).message).toBe('--customer: expected a string')
  })

  it('names fields with the label function it is given (bulk files name columns)', () => {
    const label: FieldLabel = (field) => `column ${field}`
    expect(refused({product: 1, quantity: '0'}, label).message).toMatch(/^column quantity: 0 is out of range/)
    expect(refused({product: 1, quantity: '0'}, label).details?.flag).toBe('column quantity')
    expect(refused({}, label).message).toMatch(/^column product: is required/)
    expect(refused({product: 1, kind: 'x'}, label).message).toMatch(/^column kind: /)
    expect(refused({product: 1, expires: 'x'}, label).message).toMatch(/^column expires: /)
    expect(refused({product: 1, notBefore: 'x'}, label).message).toMatch(/^column notBefore: /)
    expect(refused({product: 1, metadata: 'x'}, label).message).toMatch(/^column metadata: /)
    expect(refused({product: 1, customer: 1}, label).message).toMatch(/^column customer: /)
    expect(refused({product: 1, features: -1}, label).message).toMatch(/^column features: /)
    expect(refused({product: 1, units: -1}, label).message).toMatch(/^column units: /)
  })
})

describe('metadata', () => {
  it('reads key=value arrays, "k=v;k=v" strings and objects', () => {
    expect(parseMetadata(['a=1', 'b=two words', 'c='], '--meta')).toEqual({a: '1', b: 'two words', c: ''})
    expect(parseMetadata('a=1; b=2;', '--meta')).toEqual({a: '1', b: '2'})
    expect(parseMetadata({seats: 5, trial: true, note: 'x'}, '--meta')).toEqual({seats: '5', trial: 'true', note: 'x'})
    expect(parseMetadata(undefined, '--meta')).toEqual({})
    expect(parseMetadata('', '--meta')).toEqual({})
  })

  it('refuses items that are not key=value, and bad keys', () => {
    expect(() => parseMetadata(['novalue'], '--meta')).toThrow('--meta: "novalue" is not key=value')
    expect(() => parseMetadata(['=x'], '--meta')).toThrow('--meta: "=x" is not key=value')
    expect(() => parseMetadata(['a b=1'], '--meta')).toThrow(/--meta: key "a b" is not accepted/)
    expect(() => parseMetadata(['ä=1'], '--meta')).toThrow(/key "ä" is not accepted/)
    expect(() => parseMetadata([`${'k'.repeat(65)}=1`], '--meta')).toThrow(/is not accepted: use 1-64 letters/)
    expect(parseMetadata([`${'k'.repeat(64)}=1`], '--meta')).toEqual({['k'.repeat(64)]: '1'})
    expect(() => parseMetadata({'a/b': 'x'}, '--meta')).toThrow(/key "a\/b" is not accepted/)
    expect(() => parseMetadata(42, '--meta')).toThrow('--meta: expected key=value pairs')
  })

  it('refuses values that are not text, numbers or booleans, and values too long', () => {
    expect(() => parseMetadata({a: {b: 1}}, '--meta')).toThrow('--meta: value of "a" must be text, a number or a boolean')
    expect(() => parseMetadata({a: null}, '--meta')).toThrow(/value of "a" must be text/)
    expect(() => parseMetadata([`a=${'v'.repeat(1025)}`], '--meta')).toThrow(/value of "a" is longer than 1024 characters/)
  })

  it('refuses duplicate keys', () => {
    expect(() => parseMetadata(['a=1', 'a=2'], '--meta')).toThrow('--meta: key "a" is given twice')
    expect(() => parseMetadata('a=1;a=1', '--meta')).toThrow(/key "a" is given twice/)
  })

  it('accepts keys that happen to be names of Object.prototype members', () => {
    // Keys are free text for the vendor: "constructor" or "toString" are as good as any.
    expect(parseMetadata(['constructor=x', 'toString=y', 'valueOf=z'], '--meta')).toEqual({constructor: 'x', toString: 'y', valueOf: 'z'})
    const proto = parseMetadata(['__proto__=x'], '--meta')
    expect(Object.keys(proto)).toEqual(['__proto__'])
    expect(JSON.parse(JSON.stringify(proto))).toEqual(JSON.parse('{"__proto__":"x"}'))
  })

  it('refuses more than 50 entries', () => {
    const fifty = Array.from({length: LIMITS.metadataEntries}, (_, i) => `k${i}=v`)
    expect(Object.keys(parseMetadata(fifty, '--meta'))).toHaveLength(50)
    expect(() => parseMetadata([...fifty, 'x=y'], '--meta')).toThrow('--meta: has 51 entries; at most 50 are accepted')
    expect(() => parseMetadata(Object.fromEntries(Array.from({length: 51}, (_, i) => [`k${i}`, 'v'])), '--meta')).toThrow(/has 51 entries/)
  })

  it('is reached through parseLicenseSpec with the metadata label', () => {
    expect(parseLicenseSpec({product: 1, metadata: 'po=1;region=eu'}, NOW).metadata).toEqual({po: '1', region: 'eu'})
    expect(refused({product: 1, metadata: ['a=1', 'a=2']}).message).toBe('--meta: key "a" is given twice')
  })
})

describe('validityAt', () => {
  const license = {notBefore: 100, expiresAt: 200, status: 'available' as const}
  it('tells valid, not yet valid, expired and revoked apart at the boundaries', () => {
    expect(validityAt(license, 99)).toBe('not-yet-valid')
    expect(validityAt(license, 100)).toBe('valid')
    expect(validityAt(license, 199)).toBe('valid')
    expect(validityAt(license, 200)).toBe('expired')
    expect(validityAt({...license, expiresAt: null}, 10 ** 10)).toBe('valid')
    expect(validityAt({...license, status: 'revoked'}, 150)).toBe('revoked')
  })
})
