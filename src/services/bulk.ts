import {createHash} from 'node:crypto'
import {availableParallelism} from 'node:os'
import {Worker} from 'node:worker_threads'

import {epochSeconds} from '../domain/clock.js'
import {LicadmError, ExitCode, InvalidValueError} from '../domain/errors.js'
import {LIMITS, parseLicenseSpec, type LicenseInput} from '../domain/license.js'
import {parseText, parseUint} from '../domain/values.js'
import {parseCsv} from '../formats/csv.js'
import type {ServiceContext} from './context.js'
import {ED25519_SIGNER_SOURCE, ed25519Signer, sodiumPath, type Ed25519Sign} from '../crypto/ed25519.js'
import type {Signer} from '../crypto/keys.js'
import {CHUNK_SIZE, LicenseService, type IssueRequest, type IssueResult, type Issuer, type SignedBatch} from './licenses.js'
import {SigningKeyRetiredError} from './signer-check.js'

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
const COLUMN_LABELS: Partial<Record<keyof LicenseInput, string>> = {notBefore: 'not_before'}
const columnLabel = (field: keyof LicenseInput): string => COLUMN_LABELS[field] ?? field

/** A bulk file's format: --format, or its name's extension. `-` is standard input, which has none. */
export function detectFormat(name: string, explicit?: string): BulkFormat {
  if (explicit === 'csv' || explicit === 'ndjson') return explicit
  if (/\.csv$/i.test(name)) return 'csv'
  if (/\.(ndjson|jsonl)$/i.test(name)) return 'ndjson'
  const what = name === '-' ? 'standard input' : `"${name}"`
  throw new InvalidValueError('--format', `cannot tell the format of ${what}: give --format csv or --format ndjson`)
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
  // A wrong column name is the header's fault: said once, on its line, not on every row.
  const unknown = names.filter((name) => !name.startsWith('meta.') && !FIELDS[name])
  if (unknown.length > 0) return {rows: [], errors: unknown.map((name) => ({line: header.line, field: name, message: unknownColumn(name)}))}
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

function unknownColumn(name: string): string {
  return `unknown column "${name}" (accepted: ${[...new Set(Object.keys(FIELDS).filter((k) => !/[A-Z-]/.test(k)))].join(', ')}, meta.NAME)`
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
      errors.push({line, field: name, message: unknownColumn(name)})
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
    return this.checker(baseKey)(rows)
  }

  /** `prepare` a part at a time: a key is still refused when an earlier part used it. */
  private checker(baseKey: string): (rows: BulkRow[]) => {requests: LineRequest[]; errors: RowError[]} {
    const now = epochSeconds(this.ctx.clock)
    const keysSeen = new Map<string, number>()
    return (rows) => {
      const errors: RowError[] = []
      const requests: LineRequest[] = []
      for (const row of rows) {
        try {
          const spec = parseLicenseSpec(row.input, now, columnLabel)
          // An empty cell means the default, one license.
          const count = parseUint(row.count, 'count', LIMITS.count) ?? 1
          // An empty cell means the line's own key.
          const key = (row.key === undefined || row.key === null ? undefined : parseText(String(row.key), 'idempotency_key')) ?? `${baseKey}#${row.line}`
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
  }

  /**
   * A pipeline over chunks of CHUNK_SIZE rows. This thread validates the rows, lays out each chunk's
   * licenses and stores them, one transaction a chunk; signing threads sign the chunks laid out ahead
   * (up to LOOKAHEAD of them), and this thread signs a share of a chunk itself when it would
   * otherwise wait for it. Signing starts while the rest of the file is still being validated: what
   * was signed is only kept once every row has passed, so a refused file still issues nothing.
   */
  async run(
    text: string,
    format: BulkFormat,
    options: {idempotencyKey?: string; onProgress?: (done: number, total: number) => void} = {},
  ): Promise<BulkSummary> {
    // The rows are let go once checked: a request holds what issuing needs.
    let {rows, errors} = readRows(text, format)
    const baseKey = options.idempotencyKey ?? `file:${createHash('sha256').update(text).digest('base64url')}`
    const check = this.checker(baseKey)
    const chunks: Chunk[] = []
    const known = new Set<number>()
    let pool: SigningPool | undefined
    let poolTried = false
    let issuer: Issuer | undefined
    // Chunks laid out and handed to the signers, in order; chunks[submitted] is the next one.
    let submitted = 0

    /** Lays out a chunk's licenses and hands them to the signers (or signs them here, without a pool). */
    const submit = async (chunk: Chunk, rowsAfter: number): Promise<void> => {
      issuer ??= await this.licenses.issuer()
      // Keys issued by an earlier run (looked up by the validation) are not signed again: a re-run
      // only reads. The chunk's transaction checks its keys again, so this is only a saving.
      const unsigned = this.licenses.unsigned(chunk.requests, issuer, chunk.recorded)
      const {inputs} = unsigned
      chunk.job = undefined
      if (!poolTried && inputs.length > 0) {
        poolTried = true
        // Every row after this chunk issues one license at least.
        if (inputs.length + rowsAfter >= PARALLEL_MIN) pool = SigningPool.start(issuer.signer)
      }
      if (pool && inputs.length > 0) {
        chunk.job = pool.submit(inputs)
        chunk.signed = chunk.job.signatures.then((signatures) => LicenseService.seal(unsigned, signatures))
        // If the run stops before this chunk is stored, it is never awaited: keep its failure quiet.
        chunk.signed.catch(() => undefined)
      } else {
        const {signer} = issuer
        chunk.signed = Promise.resolve(LicenseService.seal(unsigned, Buffer.concat(inputs.map((input) => signer.sign(Buffer.from(input, 'latin1'))))))
      }
    }

    try {
      for (let i = 0; i < rows.length; i += CHUNK_SIZE) {
        const part = check(rows.slice(i, i + CHUNK_SIZE))
        errors.push(...part.errors)
        // Rows that are well formed are checked against the store too, so one run reports every bad row.
        const unknown = [...new Set(part.requests.map((r) => r.spec.productCode))].filter((code) => !known.has(code))
        const missing = new Set(unknown.length === 0 ? [] : await this.licenses.missingProducts(unknown))
        for (const code of unknown) if (!missing.has(code)) known.add(code)
        // A key that an earlier run or command used for other input is a bad row too: refused here,
        // before anything is issued, not when its chunk is stored after the chunks before it.
        const recorded = await this.licenses.recordedKeys(part.requests.map((r) => r.key!))
        for (const r of part.requests) {
          if (missing.has(r.spec.productCode)) errors.push({line: r.line, field: 'product', message: `product: product ${r.spec.productCode} not found`})
          const earlier = recorded.get(r.key!)
          if (earlier !== undefined && earlier !== r.fingerprint) errors.push({line: r.line, field: 'idempotency_key', message: keyReused(r.key!)})
        }
        if (part.requests.length > 0) chunks.push({requests: part.requests, recorded})
        // While every row so far is good and the file is big enough for signing threads, the first
        // chunks are signed meanwhile. A key that cannot be loaded stops this; it is reported below.
        const rowsAfter = rows.length - i - CHUNK_SIZE
        if (errors.length === 0 && !poolTried && rows.length >= PARALLEL_MIN) {
          await submit(chunks[submitted], rowsAfter).then(
            () => submitted++,
            () => (poolTried = true),
          )
        } else if (errors.length === 0 && pool && submitted <= LOOKAHEAD) {
          await submit(chunks[submitted++], rowsAfter)
        }
      }
      rows = []
      if (errors.length === 0 && chunks.length === 0) errors.push({line: 1, message: 'the file has no license rows'})
      if (errors.length > 0) throw rowsRefused(errors.sort((a, b) => a.line - b.line))

      const total = chunks.reduce((n, c) => n + c.requests.length, 0)
      const summary: BulkSummary = {rows: total, issued: 0, alreadyIssued: 0, licenses: []}
      options.onProgress?.(0, total)
      let done = 0
      /** Lays out the chunks ahead of chunk `c` first, so the signing threads are never short of work. */
      const layOutAhead = async (c: number): Promise<void> => {
        while (submitted < chunks.length && submitted <= c + LOOKAHEAD) {
          const rowsAfter = chunks.slice(submitted + 1).reduce((n, k) => n + k.requests.length, 0)
          await submit(chunks[submitted++], rowsAfter)
        }
      }
      for (let c = 0; c < chunks.length; c++) {
        const chunk = chunks[c]
        let results: IssueResult[]
        try {
          for (;;) {
            await layOutAhead(c)
            chunk.job?.help()
            try {
              results = await this.licenses.store(await chunk.signed!)
              break
            } catch (error) {
              if (!(error instanceof SigningKeyRetiredError) || issuer?.signer.kid !== error.kid) throw error
              // Another process rotated the key since it was loaded: nothing of this chunk was stored.
              // This chunk and those laid out ahead are signed again with the new active key, and
              // the run goes on with it.
              await pool?.close()
              pool = undefined
              poolTried = false
              issuer = undefined
              submitted = c
            }
          }
        } catch (error) {
          throw partlyIssued(error, summary, chunk.requests)
        }
        for (const [j, result] of results.entries()) {
          const {line, key} = chunk.requests[j]
          if (result.replayed) summary.alreadyIssued++
          for (const l of result.licenses) {
            if (!result.replayed) summary.issued++
            summary.licenses.push({line, key: key!, id: l.id, ticket: l.ticket, replayed: result.replayed})
          }
        }
        done += chunk.requests.length
        // Stored: its licenses are in the summary, the rest can go.
        chunks[c] = {requests: [], recorded: new Map()}
        options.onProgress?.(done, total)
      }
      return summary
    } finally {
      await pool?.close()
    }
  }
}

type LineRequest = IssueRequest & {line: number}

/** Rows issued in one transaction, and their licenses once laid out and handed to the signers. */
interface Chunk {
  requests: LineRequest[]
  /** The fingerprints recorded for its keys when the rows were checked (the keys of earlier runs). */
  recorded: ReadonlyMap<string, string>
  signed?: Promise<SignedBatch>
  job?: SigningJob
}

/**
 * Below this many licenses to sign, a run signs on this thread: starting a worker costs about as
 * much as signing a few hundred licenses.
 */
const PARALLEL_MIN = 2 * CHUNK_SIZE

/**
 * Chunks laid out ahead of the one being stored. Signing threads work through them while this thread
 * stores; two keep them busy while this thread lays out the next, and hold little memory.
 */
const LOOKAHEAD = 2

/** At most this many signing threads besides this one: this thread stores, and past a few signers it is the limit. */
const MAX_SIGNING_THREADS = 3

/**
 * Signatures a thread claims at a time. Small enough that when this thread helps with a chunk, the
 * last claims of all threads end close together; big enough that claiming costs nothing.
 */
const SIGN_BATCH = 25

/**
 * A chunk's signing work, in one SharedArrayBuffer that every thread sees: two counters (the next
 * batch of SIGN_BATCH inputs to claim, the batches done), the end offset of each input, the 64-byte
 * signatures, then the inputs. A thread claims a batch by incrementing the first counter, so each
 * batch is signed exactly once, by whichever thread got to it.
 */
interface SharedJob {
  control: Int32Array
  ends: Int32Array
  signatures: Buffer
  data: Buffer
  batches: number
}

function sharedJob(buffer: SharedArrayBuffer, count: number): SharedJob {
  const endsAt = 8
  const signaturesAt = endsAt + 4 * count
  const dataAt = signaturesAt + 64 * count
  return {
    control: new Int32Array(buffer, 0, 2),
    ends: new Int32Array(buffer, endsAt, count),
    signatures: Buffer.from(buffer, signaturesAt, 64 * count),
    data: Buffer.from(buffer, dataAt, buffer.byteLength - dataAt),
    batches: Math.ceil(count / SIGN_BATCH),
  }
}

/**
 * Claims and signs batches of `job` until none is left: how many signatures this call made, and
 * whether it finished the job's last batch. The workers run the same loop (WORKER_SOURCE).
 */
function signClaimed(job: SharedJob, signer: Ed25519Sign): {signed: number; finished: boolean} {
  const {control, ends, signatures, data, batches} = job
  let signed = 0
  let finished = false
  for (let b = Atomics.add(control, 0, 1); b < batches; b = Atomics.add(control, 0, 1)) {
    const end = Math.min(ends.length, (b + 1) * SIGN_BATCH)
    for (let i = b * SIGN_BATCH; i < end; i++, signed++) signer.sign(data.subarray(i === 0 ? 0 : ends[i - 1], ends[i])).copy(signatures, 64 * i)
    finished = Atomics.add(control, 1, 1) + 1 === batches
  }
  return {signed, finished}
}

/**
 * The workers' code, CommonJS for `eval`: the loop of signClaimed over each job posted to them, with
 * the signer of crypto/ed25519.ts. The worker that signs a job's last batch says so; the others move
 * on to the next job.
 */
const WORKER_SOURCE = `
const {parentPort, workerData} = require('node:worker_threads')
${ED25519_SIGNER_SOURCE}
const {sign} = ed25519Signer(workerData.key, workerData.sodium, require)
const BATCH = ${SIGN_BATCH}
parentPort.on('message', ({id, buffer, count}) => {
  try {
    const control = new Int32Array(buffer, 0, 2)
    const ends = new Int32Array(buffer, 8, count)
    const signatures = Buffer.from(buffer, 8 + 4 * count, 64 * count)
    const data = Buffer.from(buffer, 8 + 68 * count)
    const batches = Math.ceil(count / BATCH)
    for (let b = Atomics.add(control, 0, 1); b < batches; b = Atomics.add(control, 0, 1)) {
      const end = Math.min(count, (b + 1) * BATCH)
      for (let i = b * BATCH; i < end; i++) sign(data.subarray(i === 0 ? 0 : ends[i - 1], ends[i])).copy(signatures, 64 * i)
      if (Atomics.add(control, 1, 1) + 1 === batches) parentPort.postMessage({id})
    }
  } catch (error) {
    parentPort.postMessage({id, error: String((error && error.message) || error)})
  }
})
`

/**
 * A chunk's signatures, being made: 64 bytes each, in the order of the inputs. `help` signs what is
 * left of it on this thread and says how many.
 */
export interface SigningJob {
  signatures: Promise<Buffer>
  help(): number
}

/**
 * Ed25519 signing in worker threads. A signature costs about as much as everything else issuing a
 * license does (parse, validate, lay out, store), so signing on other cores while this thread does
 * the rest nearly doubles a bulk run's rate on two cores. Work is shared, not split in fixed parts:
 * on a machine where the cores are busy with other work, whichever thread is free signs.
 */
export class SigningPool {
  private readonly pending = new Map<number, {job: SharedJob; resolve: () => void; reject: (error: Error) => void}>()
  private nextId = 0
  /** Set when a worker failed or stopped: later calls fail at once instead of waiting forever. */
  private failure?: Error

  /**
   * A pool when the signer can lend its key (a KeyObject can be posted to a worker, no PEM is
   * written) and a core is to spare; otherwise none, and the run signs on this thread (slower, same
   * result). A signer without `privateKey` (see signerFor in crypto/keys.ts) signs here.
   */
  static start(signer: Signer): SigningPool | undefined {
    const key = signer.privateKey
    const threads = Math.min(availableParallelism() - 1, MAX_SIGNING_THREADS)
    if (!key || threads < 1) return undefined
    const workers: Worker[] = []
    try {
      for (let i = 0; i < threads; i++) workers.push(new Worker(WORKER_SOURCE, {eval: true, workerData: {key, sodium: sodiumPath()}}))
    } catch {
      for (const worker of workers) void worker.terminate()
      return undefined
    }
    return new SigningPool(workers, ed25519Signer(key))
  }

  private constructor(
    private readonly workers: Worker[],
    private readonly signer: Ed25519Sign,
  ) {
    for (const worker of workers) {
      worker.on('message', ({id, error}: {id: number; error?: string}) => {
        const call = this.pending.get(id)
        this.pending.delete(id)
        if (error !== undefined) call?.reject(new Error(`signing in a worker thread failed: ${error}`))
        else call?.resolve()
      })
      worker.on('error', (error) => this.failAll(error))
      worker.on('exit', () => this.failAll(new Error('a signing worker thread stopped')))
    }
  }

  /**
   * Hands `inputs` to the workers at once; their signatures come in the same order. Inputs are ASCII
   * (JWS signing inputs are base64url and dots), so a character is a byte.
   */
  submit(inputs: string[]): SigningJob {
    let size = 0
    for (const input of inputs) size += input.length
    const buffer = new SharedArrayBuffer(8 + 68 * inputs.length + size)
    const job = sharedJob(buffer, inputs.length)
    let at = 0
    for (const [i, input] of inputs.entries()) job.ends[i] = at += job.data.write(input, at, 'latin1')
    const id = this.nextId++
    const signatures = new Promise<void>((resolve, reject) => {
      if (this.failure) reject(this.failure)
      else if (inputs.length === 0) resolve()
      else {
        this.pending.set(id, {job, resolve, reject})
        for (const worker of this.workers) worker.postMessage({id, buffer, count: inputs.length})
      }
    }).then(() => job.signatures)
    return {
      signatures,
      help: () => {
        const call = this.pending.get(id)
        if (!call) return 0
        const {signed, finished} = signClaimed(job, this.signer)
        if (finished) {
          this.pending.delete(id)
          call.resolve()
        }
        return signed
      },
    }
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

/** The row error of a key that was used before for other input (its licenses are not those of this row). */
function keyReused(key: string): string {
  return `idempotency_key: "${key}" was used before for a different request (an earlier run or license create); use a new key, or repeat that request's input`
}

/**
 * A refusal while chunks are stored (a key used meanwhile by another process for other input, a
 * signing key that cannot be loaded): it says what this run had stored before it, as those
 * licenses stay issued, and the line of the row refused when it is one. Running the same command
 * again once the cause is fixed completes the run.
 */
function partlyIssued(error: unknown, summary: BulkSummary, chunk: LineRequest[]): unknown {
  if (!(error instanceof LicadmError)) return error
  const key = error.details?.key
  const row = key === undefined ? undefined : chunk.find((r) => r.key === key)
  const at = row ? ` (line ${row.line})` : ''
  const before =
    summary.licenses.length > 0
      ? `. This run had stored ${summary.issued} new license(s) and found ${summary.alreadyIssued} row(s) issued by an earlier run, up to line ${summary.licenses.at(-1)!.line}: those stay issued; the rows from line ${chunk[0].line} on were not issued`
      : '. Nothing was issued by this run'
  return new LicadmError(error.code, error.exit, `${error.message}${at}${before}`, {
    hint: error.hint,
    cause: error,
    details: {...error.details, ...(row && {line: row.line}), committed: {issued: summary.issued, alreadyIssued: summary.alreadyIssued, notIssuedFromLine: chunk[0].line}},
  })
}

function rowsRefused(errors: RowError[]): LicadmError {
  const lines = errors.slice(0, SHOWN_ERRORS).map((e) => `  line ${e.line}: ${e.message}`)
  if (errors.length > SHOWN_ERRORS) lines.push(`  … and ${errors.length - SHOWN_ERRORS} more (--json lists all)`)
  return new LicadmError('BULK_ROWS_INVALID', ExitCode.usage, `${errors.length} row(s) refused; nothing was issued:\n${lines.join('\n')}`, {
    hint: 'Fix the rows and run the same command again.',
    details: {errors},
  })
}
