import * as crypto from 'node:crypto'
import {randomBytes} from 'node:crypto'

import {epochSeconds} from '../domain/clock.js'
import {ConflictError, InvalidValueError, LicadmError, ExitCode, NotFoundError, VerificationError} from '../domain/errors.js'
import {newId} from '../domain/ids.js'
import {
  LIMITS,
  LICENSE_STATUSES,
  parseLicenseSpec,
  type FieldLabel,
  type License,
  type LicenseInput,
  type LicenseSpec,
  type LicenseStatus,
} from '../domain/license.js'
import {looksLikeTicket, parseTicket, ticketEntropy, ticketFromEntropy} from '../domain/ticket.js'
import {parseInstant, parseText, parseUint} from '../domain/values.js'
import type {Signer} from '../crypto/keys.js'
import {armorLicense, LICENSE_TYP, licenseClaims, peekLicense, signLicense, verifyOffline, type LicenseClaims, type VerifyVerdict, type Vendor} from '../formats/license.js'
import type {LicenseTable} from '../store/schema.js'
import type {Tx} from '../store/store.js'
import {appendAudit, type AuditEntry} from './audit.js'
import type {ServiceContext} from './context.js'
import {assertActiveSigner, withActiveSigner} from './signer-check.js'
import {VendorService} from './vendor.js'

/** One issuance request: a validated spec, how many licenses, and the key that makes it idempotent. */
export interface IssueRequest {
  spec: LicenseSpec
  count: number
  key: string | null
  /** Hash of what was asked, so a reused key with other input is refused instead of ignored. */
  fingerprint: string
}

export interface IssueResult {
  licenses: License[]
  /** True when the idempotency key was seen before and the earlier licenses are returned. */
  replayed: boolean
}

export interface ListFilter {
  product?: unknown
  status?: string
  customer?: string
  expiringBefore?: string
  limit?: unknown
  cursor?: string
}

export interface LicensePage {
  licenses: License[]
  nextCursor: string | null
}

/** The vendor and the key that sign a batch of licenses. */
export interface Issuer {
  vendor: Vendor
  signer: Signer
}

/** The licenses of one request and their rows, with the signed license file in `jws`. */
interface Built {
  licenses: License[]
  rows: LicenseTable[]
}

/** Requests with their licenses built and signed, not stored yet: see LicenseService.sign and store. */
export interface SignedBatch {
  requests: IssueRequest[]
  issuer: Issuer
  /** For each request whose key was not used when the batch was signed. */
  signed: Map<IssueRequest, Built>
}

/** A batch laid out up to the signatures, and the signing inputs of its licenses in order. */
export interface UnsignedBatch {
  batch: SignedBatch
  /** Each license's `header.payload` (ASCII), in the order of the rows of `batch.signed`. */
  inputs: string[]
}

/** How long one write transaction of a bulk run is: big enough to be fast, small enough to resume. */
export const CHUNK_SIZE = 1000

export class LicenseService {
  private readonly vendor: VendorService

  constructor(private readonly ctx: ServiceContext) {
    this.vendor = new VendorService(ctx)
  }

  /** Fingerprint of a request's raw input: the same words give the same fingerprint on a re-run. */
  static fingerprint(input: LicenseInput, count: number): string {
    const canonical = JSON.stringify(
      Object.keys(input)
        .sort()
        .filter((k) => input[k as keyof LicenseInput] !== undefined)
        .map((k) => [k, input[k as keyof LicenseInput]]),
    )
    return sha256(`${count}|${canonical}`)
  }

  /**
   * Issues `count` licenses from flag values; with a key, a re-run returns the same licenses.
   * `label` names a field in refusals (default: its flag).
   */
  async create(input: LicenseInput, options: {count?: unknown; idempotencyKey?: string; label?: FieldLabel} = {}): Promise<IssueResult> {
    const now = epochSeconds(this.ctx.clock)
    const spec = parseLicenseSpec(input, now, options.label)
    // A blank value (an empty flag or cell) means the default, one license.
    const count = parseUint(options.count, '--count', LIMITS.count) ?? 1
    const key = options.idempotencyKey === undefined ? null : parseText(options.idempotencyKey, '--idempotency-key', {required: true, blank: 'refuse'})!
    if ((await this.missingProducts([spec.productCode])).length > 0) {
      throw new NotFoundError('product', spec.productCode, {
        hint: `Create it with "licadm product create --code ${spec.productCode} --name …", or check --product.`,
        details: {flag: '--product'},
      })
    }
    const request: IssueRequest = {spec, count, key, fingerprint: LicenseService.fingerprint(input, count)}
    const [result] = await this.issue([request])
    return result
  }

  /**
   * Issues many requests in one write transaction. Requests whose key was issued before return the
   * earlier licenses (and are refused if their input differs); the rest are signed and inserted.
   */
  async issue(requests: IssueRequest[]): Promise<IssueResult[]> {
    // A key rotated between signing and storing: signed again with the new active key.
    return withActiveSigner(
      () => this.issuer(),
      async (issuer) => this.store(await this.sign(requests, issuer, await this.recordedKeys(keysOf(requests)))),
    )
  }

  /** The vendor and its active signing key: what signing needs, looked up once for a whole bulk run. */
  async issuer(): Promise<Issuer> {
    const [vendor, signer] = await Promise.all([this.vendor.get(), this.vendor.signer()])
    return {vendor, signer}
  }

  /** The fingerprints recorded for those of `keys` that were used already. */
  async recordedKeys(keys: string[], tx: Tx = this.ctx.store.db): Promise<Map<string, string>> {
    const recorded = new Map<string, string>()
    for (let i = 0; i < keys.length; i += 500) {
      const rows = await tx.selectFrom('requests').select(['key', 'fingerprint']).where('key', 'in', keys.slice(i, i + 500)).execute()
      for (const row of rows) recorded.set(row.key, row.fingerprint)
    }
    return recorded
  }

  /**
   * The first half of issuing, outside any transaction: builds and signs the licenses of the
   * requests whose key is not in `recorded` (signing is most of the work, and the write lock is not
   * held meanwhile).
   */
  async sign(requests: IssueRequest[], issuer: Issuer, recorded: ReadonlyMap<string, string>): Promise<SignedBatch> {
    return {requests, issuer, signed: this.build(toSign(requests, recorded), issuer.vendor, issuer.signer)}
  }

  /**
   * `sign` in two steps, for a caller that makes the signatures itself (BulkIssuer shares them out
   * between threads): the licenses of the requests whose key is not in `recorded`, each JWS laid out
   * up to its signature, and their signing inputs in order. `seal` puts the signatures in.
   */
  unsigned(requests: IssueRequest[], issuer: Issuer, recorded: ReadonlyMap<string, string>): UnsignedBatch {
    const inputs: string[] = []
    return {batch: {requests, issuer, signed: this.build(toSign(requests, recorded), issuer.vendor, issuer.signer, inputs)}, inputs}
  }

  /**
   * The batch of `unsigned` with its signatures in place: `signatures` holds 64 bytes for each
   * input, in the order of `unsigned.inputs`.
   */
  static seal(unsigned: UnsignedBatch, signatures: Buffer): SignedBatch {
    const {batch, inputs} = unsigned
    if (signatures.length !== 64 * inputs.length) throw new Error(`${inputs.length} licenses to sign, ${signatures.length / 64} signatures`)
    let i = 0
    for (const {rows} of batch.signed.values()) {
      for (const row of rows) {
        if (row.jws !== inputs[i]) throw new Error('a license is not where its signing input is')
        row.jws = `${row.jws}.${signatures.toString('base64url', 64 * i, 64 * ++i)}`
      }
    }
    return batch
  }

  /**
   * The second half of issuing: one write transaction that checks every key again under the write
   * lock (another process may have used one since the batch was signed: its request is then
   * replayed and what was signed for it is dropped), inserts the fresh licenses, and returns the
   * earlier licenses of replayed requests. Refused with SigningKeyRetiredError (nothing stored) when
   * the batch's key is no longer the active key: sign it again with `issuer()` and store that.
   */
  async store(batch: SignedBatch): Promise<IssueResult[]> {
    return this.ctx.store.write(async (tx) => {
      const recorded = await this.recordedKeys(keysOf(batch.requests), tx)
      const fresh = new Map<IssueRequest, Built>()
      const unsigned: IssueRequest[] = []
      const replayed: string[] = []
      for (const request of batch.requests) {
        const earlier = request.key === null ? undefined : recorded.get(request.key)
        if (earlier !== undefined && earlier !== request.fingerprint) {
          throw new ConflictError('IDEMPOTENCY_KEY_REUSED', `idempotency key "${request.key}" was used before for a different request`, {
            hint: 'Use a new key for a new request; a re-run must repeat the same input.',
            details: {key: request.key},
          })
        }
        if (earlier === undefined) {
          const built = batch.signed.get(request)
          if (built) fresh.set(request, built)
          else unsigned.push(request)
          if (request.key !== null) recorded.set(request.key, request.fingerprint)
        } else {
          replayed.push(request.key!)
        }
      }
      // Nothing signed with a key that was rotated out since the batch was signed (another process
      // ran "key rotate"): refused, for the caller to sign again with the active key.
      if (fresh.size > 0 || unsigned.length > 0) await assertActiveSigner(tx, batch.issuer.signer.kid)
      // A key that was recorded when the batch was signed and is not now: only if records were
      // removed meanwhile, which licadm never does. Signed here so that the answer is still right.
      for (const [request, built] of this.build(unsigned, batch.issuer.vendor, batch.issuer.signer)) fresh.set(request, built)

      const now = epochSeconds(this.ctx.clock)
      const rows: LicenseTable[] = []
      for (const built of fresh.values()) for (const row of built.rows) rows.push(row)
      await this.ctx.store.insertMany(tx, 'licenses', rows)
      const records = [...fresh.keys()]
        .filter((r) => r.key !== null)
        .map((r) => ({key: r.key!, fingerprint: r.fingerprint, count: r.count, created_at: now}))
      await this.ctx.store.insertMany(tx, 'requests', records)
      if (fresh.size > 0) await appendAudit(tx, this.ctx, issueEvent([...fresh].map(([request, built]) => ({request, licenses: built.licenses}))))
      // After the inserts: a key given twice in this batch is replayed from its first request.
      const earlier = await this.byRequestKeys(tx, replayed)
      return batch.requests.map((request) => {
        const mine = fresh.get(request)
        return mine ? {licenses: mine.licenses, replayed: false} : {licenses: earlier.get(request.key!) ?? [], replayed: true}
      })
    })
  }

  /**
   * Makes the licenses of `requests` and their signed rows (CPU work only). With `inputs`, nothing is
   * signed: each row's `jws` is its signing input, also pushed to `inputs` (see `unsigned`).
   */
  private build(requests: IssueRequest[], vendor: Vendor, signer: Signer, inputs?: string[]): Map<IssueRequest, Built> {
    const nowMs = this.ctx.clock.now()
    const now = Math.floor(nowMs / 1000)
    const total = requests.reduce((n, r) => n + r.count, 0)
    const entropy = ticketEntropy(total)
    // Random bytes for every id in one call too: a call costs as much as making the rest of the id.
    const idEntropy = randomBytes(ID_RANDOM_BYTES * total)
    // The header is the same for every license of the batch: encoded once, as signCompact does.
    const header = inputs && compactPart({alg: 'EdDSA', typ: LICENSE_TYP, kid: signer.kid})
    const out = new Map<IssueRequest, Built>()
    let index = 0
    for (const request of requests) {
      const {spec} = request
      const licenses: License[] = []
      const rows: LicenseTable[] = []
      const metadata = JSON.stringify(spec.metadata)
      for (let seq = 0; seq < request.count; seq++, index++) {
        // Field by field, not `...spec`: spreading into a literal with more fields made a slow object
        // and cost as much as building the rest of the license. The License type keeps the list whole.
        const license: License = {
          id: newId('lic', nowMs, idEntropy.subarray(index * ID_RANDOM_BYTES, (index + 1) * ID_RANDOM_BYTES)),
          ticket: ticketFromEntropy(entropy, index),
          productCode: spec.productCode,
          kind: spec.kind,
          quantity: spec.quantity,
          features: spec.features,
          units: spec.units,
          notBefore: spec.notBefore,
          expiresAt: spec.expiresAt,
          customer: spec.customer,
          metadata: spec.metadata,
          status: 'available',
          kid: signer.kid,
          createdAt: now,
          revokedAt: null,
        }
        const claims = licenseClaims(license, vendor)
        let jws: string
        if (inputs) inputs.push((jws = `${header}.${compactPart(claims)}`))
        else jws = signLicense(claims, signer)
        licenses.push(license)
        rows.push(toRow(license, jws, metadata, request.key, request.key === null ? null : seq))
      }
      out.set(request, {licenses, rows})
    }
    return out
  }

  /** The licenses issued under each of `keys`, in their order within the request. */
  private async byRequestKeys(tx: Tx, keys: string[]): Promise<Map<string, License[]>> {
    const out = new Map<string, License[]>()
    for (let i = 0; i < keys.length; i += 500) {
      const rows = await tx
        .selectFrom('licenses')
        .selectAll()
        .where('request_key', 'in', keys.slice(i, i + 500))
        .orderBy('request_key')
        .orderBy('request_seq')
        .execute()
      for (const row of rows) {
        let list = out.get(row.request_key!)
        if (!list) out.set(row.request_key!, (list = []))
        list.push(fromRow(row))
      }
    }
    return out
  }

  /** Product codes among `codes` that this store does not have. */
  async missingProducts(codes: number[]): Promise<number[]> {
    const unique = [...new Set(codes)]
    const found = new Set<number>()
    for (let i = 0; i < unique.length; i += 500) {
      const rows = await this.ctx.store.db.selectFrom('products').select('code').where('code', 'in', unique.slice(i, i + 500)).execute()
      for (const r of rows) found.add(Number(r.code))
    }
    return unique.filter((c) => !found.has(c))
  }

  async list(filter: ListFilter = {}): Promise<LicensePage> {
    const now = epochSeconds(this.ctx.clock)
    const limit = parseUint(filter.limit ?? 50, '--limit', {min: 1, max: 10_000}, {required: true})!
    let q = this.ctx.store.db.selectFrom('licenses').selectAll().orderBy('id').limit(limit + 1)
    if (filter.product !== undefined) q = q.where('product_code', '=', parseUint(filter.product, '--product', LIMITS.code, {required: true})!)
    if (filter.status !== undefined) {
      if (!(LICENSE_STATUSES as readonly string[]).includes(filter.status)) {
        throw new InvalidValueError('--status', `unknown status "${filter.status}": expected one of ${LICENSE_STATUSES.join(', ')}`)
      }
      q = q.where('status', '=', filter.status)
    }
    if (filter.customer !== undefined) q = q.where('customer', '=', filter.customer)
    if (filter.expiringBefore !== undefined) {
      const before = parseInstant(filter.expiringBefore, '--expiring-before', now)
      q = q.where('expires_at', 'is not', null).where('expires_at', '<', before)
    }
    if (filter.cursor !== undefined) q = q.where('id', '>', filter.cursor)
    const rows = await q.execute()
    const licenses = rows.slice(0, limit).map(fromRow)
    return {licenses, nextCursor: rows.length > limit ? licenses.at(-1)!.id : null}
  }

  /** A license by id or by ticket; a mistyped ticket is reported as such. */
  async get(idOrTicket: string): Promise<License> {
    const row = await this.findRow(idOrTicket)
    return fromRow(row)
  }

  private findRow(idOrTicket: string): Promise<LicenseTable> {
    return findLicenseRow(this.ctx.store.db, idOrTicket)
  }

  /** Revokes a license. Revoking twice is harmless: the second call reports no change. */
  async revoke(idOrTicket: string): Promise<{license: License; changed: boolean}> {
    const {id} = await this.findRow(idOrTicket)
    const now = epochSeconds(this.ctx.clock)
    return this.ctx.store.write(async (tx) => {
      const res = await tx.updateTable('licenses').set({status: 'revoked', revoked_at: now}).where('id', '=', id).where('status', '!=', 'revoked').executeTakeFirst()
      const row = await tx.selectFrom('licenses').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
      const changed = Number(res.numUpdatedRows) > 0
      if (changed) await appendAudit(tx, this.ctx, {action: 'license.revoke', subject: `license:${id}`, after: {status: 'revoked'}})
      return {license: fromRow(row), changed}
    })
  }

  /** The armored, signed license file. */
  async export(idOrTicket: string): Promise<{license: License; file: string}> {
    const row = await this.findRow(idOrTicket)
    if (row.status === 'revoked') {
      throw new LicadmError('LICENSE_REVOKED', ExitCode.revoked, `license ${row.id} is revoked; its file is not handed out any more`, {
        details: {licenseId: row.id},
      })
    }
    return {license: fromRow(row), file: armorLicense(row.jws)}
  }

  /**
   * Verifies a license file with the profile's pinned keys (active and retired), or with the keys
   * given. With the profile, a license revoked in this store is refused too.
   */
  async verify(text: string, options: {at?: string} = {}): Promise<VerifyVerdict> {
    const now = epochSeconds(this.ctx.clock)
    const verdict = verifyOffline(text, await this.vendor.verificationKeys(), options.at === undefined ? now : parseInstant(options.at, '--at', now))
    const vendor = await this.vendor.get()
    if (verdict.license.iss !== String(vendor.code)) {
      throw new VerificationError('unknown-key', `the license was issued by vendor ${verdict.license.iss}, not by this profile's vendor ${vendor.code}`)
    }
    const keys = await this.vendor.listKeys()
    verdict.keyStatus = keys.find((k) => k.kid === verdict.kid)?.status ?? 'given'
    const row = await this.ctx.store.db.selectFrom('licenses').select('status').where('id', '=', verdict.license.sub).executeTakeFirst()
    if (row?.status === 'revoked') {
      throw new VerificationError('revoked', `license ${verdict.license.sub} was revoked`, {details: {licenseId: verdict.license.sub}})
    }
    return verdict
  }

  /** What a refused file claims to be, for display beside the refusal (never trusted). */
  static peek(text: string): LicenseClaims | null {
    try {
      return peekLicense(text).claims
    } catch {
      return null
    }
  }
}

/** The requests that need licenses made: a key used before is replayed, and a key given twice is issued once. */
function toSign(requests: IssueRequest[], recorded: ReadonlyMap<string, string>): IssueRequest[] {
  const todo: IssueRequest[] = []
  const keys = new Set<string>()
  for (const request of requests) {
    if (request.key !== null) {
      if (recorded.has(request.key) || keys.has(request.key)) continue
      keys.add(request.key)
    }
    todo.push(request)
  }
  return todo
}

function keysOf(requests: IssueRequest[]): string[] {
  return requests.map((r) => r.key).filter((k): k is string => k !== null)
}

/** Random bytes in a license id (see newId). */
const ID_RANDOM_BYTES = 12

/** SHA-256 as base64url. crypto.hash (Node 20.12+) is the one-shot form, without a Hash object a call. */
const sha256: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'base64url')
    : (text) => crypto.createHash('sha256').update(text).digest('base64url')



/** One part of a compact JWS: the base64url of an object's JSON, as signCompact encodes it. */
function compactPart(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/** The row of a license; `metadata` is its metadata as JSON, made once for all licenses of a request. */
function toRow(l: License, jws: string, metadata: string, key: string | null, seq: number | null): LicenseTable {
  return {
    id: l.id,
    ticket: l.ticket,
    product_code: l.productCode,
    kind: l.kind,
    quantity: l.quantity,
    features: l.features,
    units: l.units,
    not_before: l.notBefore,
    expires_at: l.expiresAt,
    status: l.status,
    customer: l.customer,
    metadata,
    kid: l.kid,
    jws,
    created_at: l.createdAt,
    revoked_at: l.revokedAt,
    request_key: key,
    request_seq: seq,
  }
}

function fromRow(r: LicenseTable): License {
  return {
    id: r.id,
    ticket: r.ticket,
    productCode: Number(r.product_code),
    kind: r.kind as License['kind'],
    quantity: r.quantity,
    features: Number(r.features),
    units: r.units,
    notBefore: Number(r.not_before),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    status: r.status as LicenseStatus,
    customer: r.customer,
    metadata: JSON.parse(r.metadata) as Record<string, string>,
    kid: r.kid,
    createdAt: Number(r.created_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  }
}

/**
 * The audit event of one issuance transaction: a single license, a --count batch, or a chunk of a
 * bulk file (one event a transaction keeps bulk issuance fast), with every license id and key.
 */
function issueEvent(issued: Array<{request: IssueRequest; licenses: License[]}>): AuditEntry {
  const ids = issued.flatMap((i) => i.licenses.map((l) => l.id))
  const first = issued[0]
  if (issued.length === 1) {
    const {spec} = first.request
    return {
      action: 'license.create',
      subject: ids.length === 1 ? `license:${ids[0]}` : `request:${first.request.key ?? ids[0]}`,
      after: {licenses: ids, product: spec.productCode, kind: spec.kind, quantity: spec.quantity, expiresAt: spec.expiresAt, customer: spec.customer, key: first.request.key},
    }
  }
  return {
    action: 'license.create',
    subject: `batch:${ids[0]}`,
    after: {count: ids.length, licenses: ids, keys: issued.map((i) => i.request.key), products: [...new Set(issued.map((i) => i.request.spec.productCode))]},
  }
}

/**
 * A license row by id or by ticket (as people type it; a mistyped ticket is reported as such), in
 * `tx` when the caller holds a transaction.
 */
export async function findLicenseRow(tx: Tx, idOrTicket: string): Promise<LicenseTable> {
  const input = idOrTicket.trim()
  const byTicket = !input.startsWith('lic_') && looksLikeTicket(input)
  const q = tx.selectFrom('licenses').selectAll()
  const row = byTicket ? await q.where('ticket', '=', parseTicket(input)).executeTakeFirst() : await q.where('id', '=', input).executeTakeFirst()
  if (!row) throw new NotFoundError(byTicket ? 'ticket' : 'license', input, {hint: 'Run "licadm license list" to see the licenses.'})
  return row
}
