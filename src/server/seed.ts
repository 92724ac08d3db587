import {createHash} from 'node:crypto'

import {epochSeconds} from '../domain/clock.js'
import type {GroupRole} from '../domain/container.js'
import {LicadmError, ExitCode, UsageError} from '../domain/errors.js'
import {ContainerService} from '../services/containers.js'
import type {ServiceContext} from '../services/context.js'
import {DirectoryService} from '../services/directory.js'
import {LicenseService} from '../services/licenses.js'
import {ProductService} from '../services/products.js'
import type {SeatService} from '../services/seats.js'
import {TOKEN_ROLES, type TokenGrant, type TokenRole, type TokenSet} from './auth.js'
import {policyBody} from './routes/schemas.js'

/**
 * A seed file: what a CI fixture needs on the server, as one JSON object of lists or as NDJSON lines
 * with a "type" (vendor, product, license, user, group, container, token, rule, default, reservation).
 */
export interface Seed {
  vendor?: {code: number; name: string}
  products: Array<{code: number; name: string}>
  licenses: Array<SeedLicense>
  users: Array<{email: string; name?: string}>
  /** Groups (for enterprise containers and group-admin tokens), with members given by email or id. */
  groups: Array<{name: string; members?: Array<{user: string; role?: string}>}>
  /** `serial` and `secret` may be fixed, so that a test knows the container's credential in advance. */
  containers: Array<{kind: string; user?: string; group?: string; device?: string; maxDevices?: number; licenses?: string[]; serial?: string; secret?: string}>
  /** Tokens of the server (kept in memory, never in the store); a group-admin token names its group. */
  tokens: Array<{name?: string; role?: string; group?: string; token?: string; sha256?: string}>
  rules: Array<{product: number; action: string; subject: string; pattern: string}>
  defaults: Array<{product: number; action: string}>
  /** Seats kept for a user, host or address; `license` is a seeded license's key or a license id. */
  reservations: Array<{license: string; subject: string; pattern: string; seats: number}>
}

export interface SeedLicense {
  /** The license's name in the seed (its idempotency key): re-seeding gives the same license. */
  key?: string
  product: number
  kind?: string
  quantity?: number
  features?: number | string
  units?: number
  notBefore?: string
  expires?: string
  customer?: string
  metadata?: Record<string, string>
  seat?: {mode?: string; leaseTtl?: number; borrowMaxSeconds?: number; borrowMaxSeats?: number; maxPerUser?: number; linger?: number}
}

export interface SeededLicense {
  key: string
  id: string
  product: number
  quantity: number
  mode: string
}

const LISTS = {vendor: 'vendor', product: 'products', license: 'licenses', user: 'users', group: 'groups', container: 'containers', token: 'tokens', rule: 'rules', default: 'defaults', reservation: 'reservations'} as const

/** Parses a seed file (JSON object or NDJSON), refusing what it does not know with the line number. */
export function parseSeed(text: string, source = 'seed file'): Seed {
  const seed: Seed = {products: [], licenses: [], users: [], groups: [], containers: [], tokens: [], rules: [], defaults: [], reservations: []}
  const trimmed = text.trim()
  if (trimmed === '') return seed
  let asObject: unknown
  try {
    asObject = JSON.parse(trimmed)
  } catch {
    asObject = undefined
  }
  if (asObject !== undefined && !Array.isArray(asObject) && typeof asObject === 'object' && asObject !== null && !('type' in asObject)) {
    for (const [k, v] of Object.entries(asObject)) {
      if (k === 'vendor') seed.vendor = v as Seed['vendor']
      else if ((Object.values(LISTS) as string[]).includes(k)) {
        if (!Array.isArray(v)) throw new UsageError(`--seed: "${k}" in ${source} must be a list`)
        ;(seed[k as Exclude<keyof Seed, 'vendor'>] as unknown[]).push(...v)
      } else throw new UsageError(`--seed: ${source} has an unknown section "${k}" (known: ${Object.values(LISTS).join(', ')})`)
    }
    return seed
  }
  const lines = text.split(/\r?\n/)
  lines.forEach((line, i) => {
    if (line.trim() === '' || line.trim().startsWith('#')) return
    let row: {type?: string} & Record<string, unknown>
    try {
      row = JSON.parse(line)
    } catch {
      throw new UsageError(`--seed: line ${i + 1} of ${source} is not JSON`, {details: {line: i + 1}})
    }
    const list = LISTS[row.type as keyof typeof LISTS]
    if (!list) throw new UsageError(`--seed: line ${i + 1} of ${source} has type "${String(row.type)}"; expected one of ${Object.keys(LISTS).join(', ')}`, {details: {line: i + 1}})
    const {type: _t, ...rest} = row
    if (list === 'vendor') seed.vendor = rest as Seed['vendor']
    else (seed[list] as unknown[]).push(rest)
  })
  return seed
}

/**
 * What a token given by flag or seed grants: its role, and a group-admin's group (which must exist
 * in the store, so run this after the seed's groups are in). `where` names the token in refusals.
 */
export async function tokenGrant(ctx: ServiceContext, t: {name: string; role?: string; group?: string}, where: string): Promise<TokenGrant> {
  const role = (t.role ?? 'client') as TokenRole
  if (!TOKEN_ROLES.includes(role)) throw new UsageError(`${where} has role "${t.role}"; expected ${TOKEN_ROLES.join(', ')}`)
  const groupRef = typeof t.group === 'string' ? t.group.trim() : ''
  if (role === 'group-admin' && groupRef === '') throw new UsageError(`${where} is a group-admin token: give the "group" it manages`)
  if (role !== 'group-admin' && groupRef !== '') throw new UsageError(`${where} has a "group", but only a group-admin token belongs to a group`)
  if (role !== 'group-admin') return {name: t.name, role}
  const group = await new DirectoryService(ctx).group(groupRef).catch((error: unknown) => {
    if (error instanceof LicadmError && error.exit === ExitCode.notFound) {
      throw new UsageError(`${where} manages group "${groupRef}", which does not exist`, {hint: 'Add it to the seed\'s "groups", or create it with "licadm group create".'})
    }
    throw error
  })
  return {name: t.name, role, group: {id: group.id, name: group.name}}
}

/** Puts the server's tokens from the seed into `tokens` (after applySeed: a group-admin token's group must exist). */
export async function seedTokens(ctx: ServiceContext, seed: Seed, tokens: TokenSet): Promise<void> {
  for (const [i, t] of seed.tokens.entries()) {
    const where = `--seed: token ${i + 1}`
    const grant = await tokenGrant(ctx, {...t, name: t.name ?? `seed-${i + 1}`}, where)
    if (typeof t.token === 'string') tokens.add(t.token, grant, where)
    else if (typeof t.sha256 === 'string') tokens.addHash(t.sha256, grant, where)
    else throw new UsageError(`--seed: token ${i + 1} has neither "token" nor "sha256"`)
  }
}

/**
 * Loads the seed into the store. Re-seeding the same store is harmless: licenses are issued under
 * their key (replayed the second time), existing products and users are kept, and containers,
 * rules and reservations are added only the first time this exact seed is applied.
 */
export async function applySeed(ctx: ServiceContext, seats: SeatService, seed: Seed, text: string): Promise<SeededLicense[]> {
  const fingerprint = createHash('sha256').update(text).digest('hex')
  const marker = `seed:${fingerprint}`
  const applied = await ctx.store.db.selectFrom('requests').select('key').where('key', '=', marker).executeTakeFirst()
  const products = new ProductService(ctx)
  for (const p of seed.products) {
    await products.create(p).catch(ignore('PRODUCT_EXISTS', `product ${String(p.code)}`))
  }
  const licenses = new LicenseService(ctx)
  const seeded: SeededLicense[] = []
  const byKey = new Map<string, string>()
  for (const [i, l] of seed.licenses.entries()) {
    const key = l.key ?? `license-${i + 1}`
    const input = {product: l.product, kind: l.kind ?? 'concurrent', quantity: l.quantity, features: l.features, units: l.units, notBefore: l.notBefore, expires: l.expires, customer: l.customer, metadata: l.metadata}
    // A refusal names the entry and the seed's own field, not a flag of server start.
    const {licenses: [license]} = await licenses.create(input, {idempotencyKey: `seed:${key}`, label: (field) => field}).catch(entryRefusal(`license "${key}"`))
    byKey.set(key, license.id)
    let mode = 'checkout'
    if (l.seat) mode = (await seats.rules.setPolicy({license: license.id, ...seatPolicy(l.seat, key)}).catch(seedRefusal)).mode
    else mode = (await seats.rules.getPolicy(license.id))?.mode ?? 'checkout'
    seeded.push({key, id: license.id, product: license.productCode, quantity: license.quantity, mode})
  }
  if (!applied) {
    const directory = new DirectoryService(ctx)
    for (const u of seed.users) await directory.createUser(u).catch(ignore('USER_EXISTS'))
    for (const g of seed.groups) {
      await directory.createGroup({name: g.name}).catch(ignore('GROUP_EXISTS'))
      for (const m of g.members ?? []) await directory.addMember(g.name, m.user, (m.role ?? 'member') as GroupRole).catch(ignore('ALREADY_MEMBER'))
    }
    const containers = new ContainerService(ctx)
    for (const c of seed.containers) {
      const {container} = await containers.create(c).catch(seedRefusal)
      for (const ref of c.licenses ?? []) await containers.addLicense(container.serial, byKey.get(ref) ?? ref).catch(seedRefusal)
    }
    for (const r of seed.rules) await seats.rules.addRule(r).catch(seedRefusal)
    for (const d of seed.defaults) await seats.rules.setDefaultAction(d.product, d.action).catch(seedRefusal)
    for (const r of seed.reservations) await seats.rules.addReservation({...r, license: byKey.get(r.license) ?? r.license}).catch(seedRefusal)
    await ctx.store.write(async (tx) => {
      await tx.insertInto('requests').values({key: marker, fingerprint, count: 0, created_at: epochSeconds(ctx.clock)}).onConflict((oc) => oc.doNothing()).execute()
    })
  }
  return seeded
}

/** The settings a seat policy has: the policy routes' body fields. */
const SEAT_POLICY_FIELDS = Object.keys(policyBody.properties)

/** A license's `seat` object, refused when it names a field the policy does not have (a typo would silently set nothing). */
function seatPolicy(seat: NonNullable<SeedLicense['seat']>, key: string): NonNullable<SeedLicense['seat']> {
  if (typeof seat !== 'object' || seat === null || Array.isArray(seat)) throw new UsageError(`--seed: license "${key}": "seat" must be an object`)
  const unknown = Object.keys(seat).filter((k) => !SEAT_POLICY_FIELDS.includes(k))
  if (unknown.length > 0) throw new UsageError(`--seed: license "${key}": "seat" has an unknown field "${unknown[0]}" (known: ${SEAT_POLICY_FIELDS.join(', ')})`)
  return seat
}

/** A refusal while seeding is the seed file's fault (exit 2, named as the file's), unless the store failed. */
/**
 * A refusal of the seed file's content: exit 2, prefixed with --seed (and the entry, when given),
 * with a hint about the seed file instead of the flag or command the service's own refusal names.
 */
function seedRefusal(error: unknown, entry?: string): never {
  if (!(error instanceof LicadmError) || error.exit === ExitCode.internal) throw error
  // The service names a flag or a command; here the value came from the seed file.
  const {flag: _flag, ...details} = error.details ?? {}
  throw new LicadmError(error.code, ExitCode.usage, `--seed: ${entry ? `${entry}: ` : ''}${error.message}`, {
    hint: error.code === 'PRODUCT_NOT_FOUND' ? 'Add the product to the seed file\'s "products", or name one the store has.' : error.hint,
    details: {...details, ...(entry ? {entry} : {})},
  })
}

/** seedRefusal for one entry of the seed file, named in the message. */
function entryRefusal(entry: string): (error: unknown) => never {
  return (error) => seedRefusal(error, entry)
}

function ignore(code: string, entry?: string) {
  return (error: unknown) => {
    if (error instanceof LicadmError && error.code === code) return undefined
    seedRefusal(error, entry)
  }
}
