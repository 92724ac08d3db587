import {createHash, type KeyObject} from 'node:crypto'
import {availableParallelism} from 'node:os'
import {Worker} from 'node:worker_threads'

import {epochSeconds} from '../domain/clock.js'
import {LicadmError, ExitCode, InvalidValueError} from '../domain/errors.js'
import {LIMITS, parseLicenseSpec, type LicenseInput} from '../domain/license.js'
import {parseUint} from '../domain/values.js'
import {parseCsv} from '../formats/csv.js'
import type {ServiceContext} from './context.js'
import type {Signer} from '../crypto/keys.js'
import {CHUNK_SIZE, LicenseService, type IssueRequest, type SignedBatch, type SignMany} from './licenses.js'

export type BulkFormat = 'csv' | 'ndjson'

/** One row of a bulk file, before validation. `line` is where it starts, counting from 1. */
export interface BulkRow {
  line: number
  input: LicenseInput
  count?: unknown
  key?: unknown
}

export interface RowError {
  line: number
  field?: string
  message: string
}

export interface BulkSummary {
  rows: number
  /** Licenses newly issued by this run. */
  issued: number
  /** Rows that had been issued by an earlier run with the same key, returned instead of issued again. */
  alreadyIssued: number
  licenses: Array<{line: number; key: string; id: string; ticket: string; replayed: boolean}>
}

/** Column names accepted in CSV headers and NDJSON objects, mapped to the input they fill. */
const FIELDS: Record<string, keyof LicenseInput | 'count' | 'key'> = {
  product: 'product',
  product_code: 'product',
  productCode: 'product',
  kind: 'kind',
  quantity: 'quantity',
  features: 'features',
  units: 'units',
  not_before: 'notBefore',
  notBefore: 'notBefore',
  'not-before': 'notBefore',
  expires: 'expires',
  expires_at: 'expires',
  customer: 'customer',
  metadata: 'metadata',
  meta: 'metadata',
  count: 'count',
  idempotency_key: 'key',
  idempotencyKey: 'key',
  external_ref: 'key',
  externalRef: 'key',
  ref: 'key',
}

/** Column labels in errors are the file's own names, so a user can find the cell. */
const columnLabel = (field: keyof LicenseInput): string =>
  ({notBefore: 'not_before', metadata: 'metadata'})[field as string] ?? (field as string)

export function detectFormat(name: string, explicit?: string): BulkFormat {
  if (explicit === 'csv' || explicit === 'ndjson') return explicit
  if (/\.csv$/i.test(name)) return 'csv'
  if (/\.(ndjson|jsonl)$/i.test(name)) return 'ndjson'
  throw new InvalidValueError('--format', `cannot tell the format of "${name}": give --format csv or --format ndjson`)
}

/** Splits a bulk file into rows; reports every unreadable line at once. */
export function readRows(text: string, format: BulkFormat): {rows: BulkRow[]; errors: RowError[]} {
  return format === 'csv' ? readCsv(text) : readNdjson(text)
}

function readNdjson(text: string): {rows: BulkRow[]; errors: RowError[]} {
  const rows: BulkRow[] = []
  const errors: RowError[] = []
  const lines = text.split('\n')
  for (const [i, raw] of lines.entries()) {
    const line = i + 1
    const trimmed = raw.trim()
    if (trimmed === '') continue
    let value: unknown
    try {
      value = JSON.parse(trimmed)
    } catch (error) {
      errors.push({line, message: `not valid JSON (${(error as Error).message})`})
      continue
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      errors.push({line, message: 'expected a JSON object with license fields'})
      continue
    }
    const row = toRow(line, Object.entries(value as Record<string, unknown>), errors)
    if (row) rows.push(row)
  }
  return {rows, errors}
}

function readCsv(text: string): {rows: BulkRow[]; errors: RowError[]} {
  const errors: RowError[] = []
  const {records, error} = parseCsv(text)
  if (error) return {rows: [], errors: [error]}
  if (records.length === 0) return {rows: [], errors: [{line: 1, message: 'the file is empty: expected a header row'}]}
  const [header, ...body] = records
  const names = header.cells.map((c) => c.trim())
  const rows: BulkRow[] = []
  for (const record of body) {
    if (record.cells.length === 1 && record.cells[0].trim() === '') continue
    if (record.cells.length !== names.length) {
      errors.push({line: record.line, message: `has ${record.cells.length} cells; the header has ${names.length}`})
      continue
    }
    const row = toRow(record.line, names.map((n, i) => [n, record.cells[i]]), errors)
    if (row) rows.push(row)
  }
  return {rows, errors}
}

/** Maps named cells to a row; `meta.NAME` columns become metadata entries. */
function toRow(line: number, entries: Array<[string, unknown]>, errors: RowError[]): BulkRow | undefined {
  const input: LicenseInput = {}
  const row: BulkRow = {line, input}
  const meta: Record<string, unknown> = {}
  for (const [name, value] of entries) {
    if (name.startsWith('meta.')) {
      if (value !== '' && value !== null && value !== undefined) meta[name.slice(5)] = value
      continue
    }
    const field = FIELDS[name]
    if (!field) {
      errors.push({line, field: name, message: `unknown column "${name}" (accepted: ${[...new Set(Object.keys(FIELDS).filter((k) => !/[A-Z-]/.test(k)))].join(', ')}, meta.NAME)`})
      return undefined
    }
    if (field === 'count') row.count = value
    else if (field === 'key') row.key = value
    else input[field] = value
  }
  if (Object.keys(meta).length > 0) {
    if (input.metadata !== undefined && input.metadata !== '') {
      errors.push({line, field: 'metadata', message: 'give metadata either as a "metadata" column or as meta.NAME columns, not both'})
      return undefined
    }
    input.metadata = meta
  }
  return row
}

/**
 * Bulk issuance. Every row is validated before anything is issued; then rows are issued in
 * transactions of CHUNK_SIZE rows, each row under its own idempotency key, so a run that is killed
 * part-way is completed by running the same file again, without a duplicate.
 */
export class BulkIssuer {
  private readonly licenses: LicenseService

  constructor(private readonly ctx: ServiceContext) {
    this.licenses = new LicenseService(ctx)
  }

  /**
   * Rows get their key from an `idempotency_key` (or `external_ref`) column; otherwise from the run's
   * key (`--idempotency-key`, or the hash of the file's content) and the row's line number.
   */
  prepare(rows: BulkRow[], baseKey: string): {requests: Array<IssueRequest & {line: number}>; errors: RowError[]} {
    const now = epochSeconds(this.ctx.clock)
    const errors: RowError[] = []
    const requests: Array<IssueRequest & {line: number}> = []
    const keysSeen = new Map<string, number>()
    for (const row of rows) {
      try {
        const spec = parseLicenseSpec(row.input, now, columnLabel)
        // An empty cell means the default, one license.
        const count = parseUint(row.count, 'count', LIMITS.count) ?? 1
        const key = row.key === undefined || row.key === null || row.key === '' ? `${baseKey}#${row.line}` : String(row.key).trim()
        if (key.length > 200) throw new InvalidValueError('idempotency_key', 'give at most 200 characters')
        const dup = keysSeen.get(key)
        if (dup !== undefined) throw new InvalidValueError('idempotency_key', `"${key}" is used again (first on line ${dup})`)
        keysSeen.set(key, row.line)
        requests.push({line: row.line, spec, count, key, fingerprint: LicenseService.fingerprint(row.input, count)})
      } catch (error) {
        if (!(error instanceof LicadmError)) throw error
        errors.push({line: row.line, field: error.details?.flag as string | undefined, message: error.message})
      }
    }
    return {requests, errors}
  }

  async run(
    text: string,
    format: BulkFormat,
    options: {idempotencyKey?: string; onProgress?: (done: number, total: number) => void} = {},
  ): Promise<BulkSummary> {
    const read = readRows(text, format)
    const baseKey = options.idempotencyKey ?? `file:${createHash('sha256').update(text).digest('base64url')}`
    const {requests, errors} = this.prepare(read.rows, baseKey)
    const allErrors = [...read.errors, ...errors].sort((a, b) => a.line - b.line)
    if (allErrors.length === 0 && requests.length === 0) allErrors.push({line: 1, message: 'the file has no license rows'})
    // Rows that are well formed are checked against the store too, so one run reports every bad row.
    const missing = new Set(await this.licenses.missingProducts(requests.map((r) => r.spec.productCode)))
    for (const r of requests.filter((q) => missing.has(q.spec.productCode))) {
      allErrors.push({line: r.line, field: 'product', message: `product: product ${r.spec.productCode} not found`})
    }
    allErrors.sort((a, b) => a.line - b.line)
    if (allErrors.length > 0) throw rowsRefused(allErrors)

    const summary: BulkSummary = {rows: requests.length, issued: 0, alreadyIssued: 0, licenses: []}
    options.onProgress?.(0, requests.length)
    const issuer = await this.licenses.issuer()
    // Keys issued by an earlier run are not signed again (a re-run only reads); each chunk's
    // transaction checks its keys again, so this early look is only a saving, never a decision.
    const recorded = await this.licenses.recordedKeys(requests.map((r) => r.key!))
    const toSign = requests.reduce((n, r) => (recorded.has(r.key!) ? n : n + r.count), 0)
    const pool = toSign >= PARALLEL_MIN ? SigningPool.start(issuer.signer) : undefined
    try {
      // A pipeline: while this thread stores chunk i (one transaction), the workers sign chunk i+1.
      // The first chunk is signed here, while the workers start up.
      const chunks: Array<typeof requests> = []
      for (let i = 0; i < requests.length; i += CHUNK_SIZE) chunks.push(requests.slice(i, i + CHUNK_SIZE))
      let next: Promise<SignedBatch> = this.licenses.sign(chunks[0], issuer, recorded)
      let done = 0
      for (let c = 0; c < chunks.length; c++) {
        const batch = await next
        if (c + 1 < chunks.length) {
          next = this.licenses.sign(chunks[c + 1], issuer, recorded, pool?.signMany)
          // If storing this chunk fails, the next one is never awaited: keep its failure quiet.
          next.catch(() => undefined)
        }
        const results = await this.licenses.store(batch)
        const chunk = chunks[c]
        for (const [j, result] of results.entries()) {
          if (result.replayed) summary.alreadyIssued++
          for (const l of result.licenses) {
            if (!result.replayed) summary.issued++
            summary.licenses.push({line: chunk[j].line, key: chunk[j].key!, id: l.id, ticket: l.ticket, replayed: result.replayed})
          }
        }
        done += chunk.length
        options.onProgress?.(done, requests.length)
      }
    } finally {
      await pool?.close()
    }
    return summary
  }
}

/**
 * Below this many licenses to sign, a run signs on this thread: starting a worker costs about as
 * much as signing a few hundred licenses, and the pipeline needs two chunks to overlap anything.
 */
const PARALLEL_MIN = 2 * CHUNK_SIZE

/** At most this many signing threads: this thread stores, and past a few signers it is the limit. */
const MAX_SIGNING_THREADS = 3

/**
 * A signer that can lend its private key to worker threads (a KeyObject can be posted to one, no PEM
 * is written). A signer without `privateKey` (see signerFor in crypto/keys.ts) signs on this thread.
 */
type ShareableSigner = Signer

/**
 * The workers' code, CommonJS for `eval`. A message carries many signing inputs in one transferred
 * buffer (with their end offsets) and the answer carries 64-byte signatures back the same way, so
 * nothing is copied per license on the way.
 */
const WORKER_SOURCE = `
const {parentPort, workerData} = require('node:worker_threads')
const {sign} = require('node:crypto')
parentPort.on('message', ({id, data, ends}) => {
  try {
    const input = Buffer.from(data)
    const signatures = Buffer.allocUnsafeSlow(64 * ends.length)
    let start = 0
    for (let i = 0; i < ends.length; i++) {
      sign(null, input.subarray(start, ends[i]), workerData.key).copy(signatures, 64 * i)
      start = ends[i]
    }
    parentPort.postMessage({id, signatures: signatures.buffer}, [signatures.buffer])
  } catch (error) {
    parentPort.postMessage({id, error: String((error && error.message) || error)})
  }
})
`

/**
 * Ed25519 signing in worker threads. A signature costs about as much as everything else issuing a
 * license does (parse, validate, build, store), so signing the next chunk on other cores while this
 * thread stores the current one nearly doubles a bulk run's rate on two cores.
 */
class SigningPool {
  private readonly pending = new Map<number, {resolve: (signatures: Buffer) => void; reject: (error: Error) => void}>()
  private nextId = 0
  /** Set when a worker failed or stopped: later calls fail at once instead of waiting forever. */
  private failure?: Error

  /**
   * A pool when the signer can lend its key and a core is to spare; otherwise none, and the run
   * signs on this thread (slower, same result).
   */
  static start(signer: Signer): SigningPool | undefined {
    const key = (signer as ShareableSigner).privateKey
    const threads = Math.min(availableParallelism() - 1, MAX_SIGNING_THREADS)
    if (!key || threads < 1) return undefined
    const workers: Worker[] = []
    try {
      for (let i = 0; i < threads; i++) workers.push(new Worker(WORKER_SOURCE, {eval: true, workerData: {key}}))
    } catch {
      for (const worker of workers) void worker.terminate()
      return undefined
    }
    return new SigningPool(workers)
  }

  private constructor(private readonly workers: Worker[]) {
    for (const worker of workers) {
      worker.on('message', ({id, signatures, error}: {id: number; signatures?: ArrayBuffer; error?: string}) => {
        const call = this.pending.get(id)
        this.pending.delete(id)
        if (error !== undefined) call?.reject(new Error(`signing in a worker thread failed: ${error}`))
        else call?.resolve(Buffer.from(signatures!))
      })
      worker.on('error', (error) => this.failAll(error))
      worker.on('exit', () => this.failAll(new Error('a signing worker thread stopped')))
    }
  }

  /** Signs `inputs`, split evenly over the workers. */
  readonly signMany: SignMany = async (inputs) => {
    const per = Math.ceil(inputs.length / this.workers.length)
    const parts = await Promise.all(this.workers.map((worker, w) => this.send(worker, inputs.slice(w * per, (w + 1) * per))))
    const out: Buffer[] = []
    for (const signatures of parts) for (let i = 0; i < signatures.length; i += 64) out.push(signatures.subarray(i, i + 64))
    return out
  }

  private send(worker: Worker, inputs: Buffer[]): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure)
    if (inputs.length === 0) return Promise.resolve(Buffer.alloc(0))
    const ends: number[] = []
    let size = 0
    for (const input of inputs) ends.push((size += input.length))
    // A buffer of its own (not a slice of Node's shared pool), so it can be transferred, not copied.
    const data = Buffer.allocUnsafeSlow(size)
    let at = 0
    for (const input of inputs) at += input.copy(data, at)
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, {resolve, reject})
      worker.postMessage({id, data: data.buffer, ends}, [data.buffer])
    })
  }

  private failAll(error: Error): void {
    this.failure ??= error
    for (const call of this.pending.values()) call.reject(error)
    this.pending.clear()
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()))
  }
}

const SHOWN_ERRORS = 20

function rowsRefused(errors: RowError[]): LicadmError {
  const lines = errors.slice(0, SHOWN_ERRORS).map((e) => `  line ${e.line}: ${e.message}`)
  if (errors.length > SHOWN_ERRORS) lines.push(`  … and ${errors.length - SHOWN_ERRORS} more (--json lists all)`)
  return new LicadmError('BULK_ROWS_INVALID', ExitCode.usage, `${errors.length} row(s) refused; nothing was issued:\n${lines.join('\n')}`, {
    hint: 'Fix the rows and run the same command again.',
    details: {errors},
  })
}
