import {InvalidValueError} from './errors.js'
import {parseInstant, parseText, parseUint} from './values.js'

export const LICENSE_KINDS = ['single', 'concurrent'] as const
export type LicenseKind = (typeof LICENSE_KINDS)[number]

export const LICENSE_STATUSES = ['available', 'assigned', 'revoked'] as const
export type LicenseStatus = (typeof LICENSE_STATUSES)[number]

export const LIMITS = {
  code: {min: 1, max: 0xffff_ffff},
  quantity: {min: 1, max: 1_000_000},
  features: {min: 0, max: 0xffff_ffff},
  units: {min: 1, max: 2_147_483_647},
  count: {min: 1, max: 10_000},
  customerLength: 200,
  metadataEntries: 50,
  metadataValueLength: 1024,
  /** An expiry further away than this is a typo, not a plan. */
  maxLifetimeSeconds: 100 * 366 * 86_400,
} as const

/** What a caller asks for: flag values or one row of a bulk file, as text or JSON values. */
export interface LicenseInput {
  product?: unknown
  kind?: unknown
  quantity?: unknown
  features?: unknown
  units?: unknown
  notBefore?: unknown
  expires?: unknown
  customer?: unknown
  metadata?: unknown
}

/** A validated license request. Times are epoch seconds. */
export interface LicenseSpec {
  productCode: number
  kind: LicenseKind
  quantity: number
  features: number
  units: number | null
  notBefore: number
  expiresAt: number | null
  customer: string | null
  metadata: Record<string, string>
}

export interface License extends LicenseSpec {
  id: string
  ticket: string
  status: LicenseStatus
  kid: string
  createdAt: number
  revokedAt: number | null
}

/** How each input field is named to the user: `--quantity` for flags, `quantity` for file columns. */
export type FieldLabel = (field: keyof LicenseInput) => string

export const flagLabel: FieldLabel = (field) =>
  ({product: '--product', kind: '--kind', quantity: '--quantity', features: '--features', units: '--units',
    notBefore: '--not-before', expires: '--expires', customer: '--customer', metadata: '--meta'})[field]

/**
 * Validates a license request. One definition serves flags, CSV and NDJSON rows and (later) the
 * server's request bodies, so every path refuses the same values with the same words.
 */
export function parseLicenseSpec(input: LicenseInput, nowSeconds: number, label: FieldLabel = flagLabel): LicenseSpec {
  const productCode = parseUint(input.product, label('product'), LIMITS.code, {required: true})!
  // A blank value (an empty CSV cell) means the default, as a missing one does.
  const kind = parseKind(isBlank(input.kind) ? 'single' : input.kind, label('kind'))
  const quantity = parseUint(isBlank(input.quantity) ? 1 : input.quantity, label('quantity'), LIMITS.quantity)!
  const features = parseUint(isBlank(input.features) ? 0 : input.features, label('features'), LIMITS.features, {hex: true})!
  const units = parseUint(input.units, label('units'), LIMITS.units)
  const notBefore = isBlank(input.notBefore) ? nowSeconds : parseInstant(input.notBefore, label('notBefore'), nowSeconds)
  let expiresAt: number | null = null
  if (!isBlank(input.expires) && String(input.expires).toLowerCase() !== 'never') {
    // A duration counts from the start of validity: "365d" is a year of use, however late it starts.
    expiresAt = parseInstant(input.expires, label('expires'), notBefore)
    // Checked first: with the default not-before (now) a past expiry is "in the past", not "before not-before".
    if (expiresAt <= nowSeconds) {
      throw new InvalidValueError(label('expires'), 'is in the past: give a future date or a duration such as 365d')
    }
    if (expiresAt <= notBefore) {
      throw new InvalidValueError(label('expires'), 'must be after the start of validity (not-before)')
    }
    if (expiresAt - notBefore > LIMITS.maxLifetimeSeconds) {
      throw new InvalidValueError(label('expires'), 'is more than 100 years away: use "never" for a perpetual license')
    }
  }
  if (notBefore - nowSeconds > LIMITS.maxLifetimeSeconds) {
    throw new InvalidValueError(label('notBefore'), 'is more than 100 years away')
  }
  return {
    productCode,
    kind,
    quantity,
    features,
    units,
    notBefore,
    expiresAt,
    customer: parseCustomer(input.customer, label('customer')),
    metadata: parseMetadata(input.metadata, label('metadata')),
  }
}

function isBlank(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.trim() === '')
}

export function parseKind(v: unknown, flag: string): LicenseKind {
  const s = String(v).trim().toLowerCase()
  if (!(LICENSE_KINDS as readonly string[]).includes(s)) {
    throw new InvalidValueError(flag, `unknown kind "${String(v)}": expected one of ${LICENSE_KINDS.join(', ')}`)
  }
  return s as LicenseKind
}

function parseCustomer(v: unknown, flag: string): string | null {
  return parseText(v, flag, {max: LIMITS.customerLength}) ?? null
}

const META_KEY = /^[A-Za-z0-9_.-]{1,64}$/

/** Metadata as `key=value` strings (flags, CSV `k=v;k=v`) or as a JSON object (NDJSON). */
export function parseMetadata(v: unknown, flag: string): Record<string, string> {
  if (isBlank(v)) return {}
  let pairs: Array<[string, unknown]>
  if (Array.isArray(v)) {
    pairs = v.map((item) => splitPair(String(item), flag))
  } else if (typeof v === 'string') {
    pairs = v.split(';').filter((p) => p.trim() !== '').map((p) => splitPair(p, flag))
  } else if (typeof v === 'object') {
    pairs = Object.entries(v as Record<string, unknown>)
  } else {
    throw new InvalidValueError(flag, 'expected key=value pairs')
  }
  if (pairs.length > LIMITS.metadataEntries) {
    throw new InvalidValueError(flag, `has ${pairs.length} entries; at most ${LIMITS.metadataEntries} are accepted`)
  }
  // A Map, not an object literal: keys such as "constructor" or "__proto__" are plain keys here.
  const out = new Map<string, string>()
  for (const [key, value] of pairs) {
    if (!META_KEY.test(key)) {
      throw new InvalidValueError(flag, `key "${key}" is not accepted: use 1-64 letters, digits, '_', '.' or '-'`)
    }
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new InvalidValueError(flag, `value of "${key}" must be text, a number or a boolean`)
    }
    const text = String(value)
    if (text.length > LIMITS.metadataValueLength) {
      throw new InvalidValueError(flag, `value of "${key}" is longer than ${LIMITS.metadataValueLength} characters`)
    }
    if (out.has(key)) throw new InvalidValueError(flag, `key "${key}" is given twice`)
    out.set(key, text)
  }
  return Object.fromEntries(out)
}

function splitPair(pair: string, flag: string): [string, string] {
  const at = pair.indexOf('=')
  if (at <= 0) throw new InvalidValueError(flag, `"${pair}" is not key=value`)
  return [pair.slice(0, at).trim(), pair.slice(at + 1)]
}

/** Is the license usable at `nowSeconds`, and if not, why. */
export function validityAt(license: Pick<License, 'notBefore' | 'expiresAt' | 'status'>, nowSeconds: number):
  'valid' | 'revoked' | 'expired' | 'not-yet-valid' {
  if (license.status === 'revoked') return 'revoked'
  if (license.expiresAt !== null && nowSeconds >= license.expiresAt) return 'expired'
  if (nowSeconds < license.notBefore) return 'not-yet-valid'
  return 'valid'
}
