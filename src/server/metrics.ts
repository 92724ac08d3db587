import {ExitCode, type LicadmError} from '../domain/errors.js'
import type {SeatUsage} from '../services/seats.js'

/**
 * A small metrics registry that writes the Prometheus text exposition format (version 0.0.4):
 * counters, gauges and histograms with labels, HELP and TYPE lines, escaped label values. Small on
 * purpose: the server needs a handful of metrics, and a request's bookkeeping must cost next to
 * nothing (a map lookup and an add), since every request of the seat API pays it.
 */

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** A label value inside double quotes: backslash, double quote and line feed are escaped. */
export function escapeLabelValue(value: string): string {
  return /[\\"\n]/.test(value) ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : value
}

/** HELP text: backslash and line feed are escaped (quotes are not). */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

/** A sample value: integers as they are, others in full precision, and the special values by name. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Infinity) return '+Inf'
  if (value === -Infinity) return '-Inf'
  return String(value)
}

type Kind = 'counter' | 'gauge' | 'histogram'

abstract class Metric<Child> {
  protected readonly children = new Map<string, {values: string[]; child: Child}>()

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly kind: Kind,
  ) {
    if (!METRIC_NAME.test(name)) throw new Error(`metric name "${name}" is not valid in Prometheus`)
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith('__') || label === 'le') throw new Error(`label name "${label}" of metric ${name} is not allowed`)
    }
  }

  protected abstract create(): Child

  /** The series with these label values (in the order of labelNames), made on first use. */
  labels(...values: string[]): Child {
    // A NUL never appears in a label value of ours, so joined values are a unique key.
    const key = values.length === 1 ? values[0] : values.join('\u0000')
    let entry = this.children.get(key)
    if (!entry) {
      if (values.length !== this.labelNames.length) throw new Error(`metric ${this.name} takes ${this.labelNames.length} label values, not ${values.length}`)
      entry = {values: values.map(String), child: this.create()}
      this.children.set(key, entry)
    }
    return entry.child
  }

  /** Forgets every series (gauges that are recomputed at each scrape). */
  reset(): void {
    this.children.clear()
  }

  protected labelText(values: readonly string[], extra?: string): string {
    const parts = this.labelNames.map((name, i) => `${name}="${escapeLabelValue(values[i])}"`)
    if (extra) parts.push(extra)
    return parts.length === 0 ? '' : `{${parts.join(',')}}`
  }

  protected abstract samples(out: string[]): void

  write(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.kind}`)
    this.samples(out)
  }
}

export interface CounterChild {
  value: number
  inc(by?: number): void
}

export class Counter extends Metric<CounterChild> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, labelNames, 'counter')
  }

  protected create(): CounterChild {
    return {
      value: 0,
      inc(by = 1) {
        if (!(by >= 0)) throw new Error('a counter only goes up')
        this.value += by
      },
    }
  }

  inc(by = 1): void {
    this.labels().inc(by)
  }

  protected samples(out: string[]): void {
    for (const {values, child} of this.children.values()) out.push(`${this.name}${this.labelText(values)} ${formatValue(child.value)}`)
  }
}

export interface GaugeChild {
  value: number
  set(value: number): void
  inc(by?: number): void
}

export class Gauge extends Metric<GaugeChild> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, labelNames, 'gauge')
  }

  protected create(): GaugeChild {
    return {
      value: 0,
      set(value) {
        this.value = value
      },
      inc(by = 1) {
        this.value += by
      },
    }
  }

  set(value: number): void {
    this.labels().set(value)
  }

  protected samples(out: string[]): void {
    for (const {values, child} of this.children.values()) out.push(`${this.name}${this.labelText(values)} ${formatValue(child.value)}`)
  }
}

export interface HistogramChild {
  /** Observations per bucket, not cumulative (the last slot is above the highest bound). */
  counts: number[]
  sum: number
  count: number
  observe(value: number): void
}

export class Histogram extends Metric<HistogramChild> {
  readonly buckets: readonly number[]

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    super(name, help, labelNames, 'histogram')
    const sorted = [...buckets].filter((b) => b !== Infinity).sort((a, b) => a - b)
    if (sorted.length === 0 || sorted.some((b, i) => Number.isNaN(b) || (i > 0 && b === sorted[i - 1]))) throw new Error(`histogram ${name}: give distinct, finite bucket bounds`)
    this.buckets = sorted
  }

  protected create(): HistogramChild {
    const bounds = this.buckets
    return {
      counts: Array.from({length: bounds.length + 1}, () => 0),
      sum: 0,
      count: 0,
      observe(value) {
        let i = 0
        while (i < bounds.length && value > bounds[i]) i++
        this.counts[i]++
        this.sum += value
        this.count++
      },
    }
  }

  protected samples(out: string[]): void {
    const les = [...this.buckets.map(formatValue), '+Inf']
    for (const {values, child} of this.children.values()) {
      let cumulative = 0
      for (let i = 0; i < les.length; i++) {
        cumulative += child.counts[i]
        out.push(`${this.name}_bucket${this.labelText(values, `le="${les[i]}"`)} ${cumulative}`)
      }
      out.push(`${this.name}_sum${this.labelText(values)} ${formatValue(child.sum)}`, `${this.name}_count${this.labelText(values)} ${child.count}`)
    }
  }
}

/** Metrics in registration order; `collect` callbacks refresh computed ones just before a scrape. */
export class Registry {
  private readonly metrics: Array<Metric<unknown>> = []
  private readonly collectors: Array<() => void | Promise<void>> = []

  register<M extends Metric<any>>(metric: M): M {
    if (this.metrics.some((m) => m.name === metric.name)) throw new Error(`metric ${metric.name} is registered already`)
    this.metrics.push(metric)
    return metric
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.register(new Counter(name, help, labelNames))
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.register(new Gauge(name, help, labelNames))
  }

  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram {
    return this.register(new Histogram(name, help, labelNames, buckets))
  }

  onCollect(fn: () => void | Promise<void>): void {
    this.collectors.push(fn)
  }

  /** The exposition text: every metric with its HELP and TYPE lines, ending in a line feed. */
  async expose(): Promise<string> {
    for (const collect of this.collectors) await collect()
    const out: string[] = []
    for (const metric of this.metrics) metric.write(out)
    return `${out.join('\n')}\n`
  }
}

/**
 * Request latency buckets, in seconds: a checkout on loopback takes well under a millisecond of
 * server time, a loaded or fsync-bound server tens of milliseconds; beyond 10 s is +Inf.
 */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const

/** The route label of a request that matched no route: never the raw URL, which anyone can vary. */
export const UNMATCHED_ROUTE = '(unmatched)'

/** An error code (`ACCESS_DENIED`) as a reason in the style of `details.reason` (`access-denied`). */
function reasonOf(code: string): string {
  return code.toLowerCase().replace(/_/g, '-')
}

/** What a refusal tells the metrics: its code and HTTP status, and its exit status and details. */
type Refusal = Pick<LicadmError, 'code' | 'exit' | 'details'>

/** The license server's metrics. */
export class ServerMetrics {
  readonly registry = new Registry()
  private readonly requests = this.registry.counter('licadm_http_requests_total', 'HTTP requests answered, by method, route pattern and status.', ['method', 'route', 'status'])
  private readonly latency = this.registry.histogram(
    'licadm_http_request_duration_seconds',
    'Time from receiving a request to having sent its answer, by method and route pattern.',
    ['method', 'route'],
    LATENCY_BUCKETS,
  )
  private readonly refusals = this.registry.counter('licadm_refusals_total', 'Requests refused, by error code (the code of the JSON error body).', ['code'])
  private readonly authFailures = this.registry.counter(
    'licadm_auth_failures_total',
    'Refusals of authentication or authorization (exit status 7, HTTP 401 or 429), by reason: details.reason when the refusal gives one, else its code.',
    ['reason'],
  )
  private readonly expiries = this.registry.counter('licadm_lease_expiries_total', 'Leases and borrows past their expiry that the sweeper reclaimed.')
  private readonly inUse = this.registry.gauge('licadm_seats_in_use', 'Seats of a concurrent license in use (leases and borrows), at scrape time.', ['license', 'product'])
  private readonly free = this.registry.gauge('licadm_seats_free', 'Seats of a concurrent license free to check out, at scrape time.', ['license', 'product'])
  private readonly borrowed = this.registry.gauge('licadm_seats_borrowed', 'Seats of a concurrent license borrowed (offline), at scrape time.', ['license', 'product'])
  private readonly reserved = this.registry.gauge('licadm_seats_reserved', 'Seats of a concurrent license kept by reservations for their users, hosts or addresses, at scrape time.', ['license', 'product'])
  private readonly waiting = this.registry.gauge('licadm_checkouts_waiting', 'Checkouts waiting in line for a seat, at scrape time.')
  private readonly info = this.registry.gauge('licadm_build_info', 'Always 1; the server version as a label.', ['version'])
  private readonly started = this.registry.gauge('licadm_start_time_seconds', 'When the server started, in seconds since the epoch (server clock).')

  constructor(options: {version?: string; startedAt?: number} = {}) {
    this.info.labels(options.version ?? '0.0.0').set(1)
    if (options.startedAt !== undefined) this.started.set(options.startedAt / 1000)
  }

  /** One answered request; `route` is the route pattern (`/v1/leases/:id`), never the raw URL. */
  request(method: string, route: string | undefined, status: number, seconds: number): void {
    const r = route ?? UNMATCHED_ROUTE
    this.requests.labels(method, r, statusText(status)).inc()
    this.latency.labels(method, r).observe(seconds)
  }

  /**
   * One refusal, by its code. Authentication and authorization failures (exit status 7, or HTTP
   * 401/429) are also counted by reason. A 403 of another exit status (a revoked or expired
   * license) is a refusal, not an auth failure.
   */
  refusal(error: Refusal, status: number): void {
    this.refusals.labels(error.code).inc()
    if (error.exit === ExitCode.auth || status === 401 || status === 429) {
      const reason = error.details?.reason
      this.authFailures.labels(typeof reason === 'string' && reason !== '' ? reason : reasonOf(error.code)).inc()
    }
  }

  /**
   * Refreshes the computed metrics: seats per license (from the seat service, at scrape time) and
   * the sweeper's reclaims (a running total it keeps).
   */
  async collect(source: {seats: () => Promise<readonly SeatUsage[]>; reclaimed: () => number; waiting: () => number}): Promise<void> {
    const licenses = await source.seats()
    this.inUse.reset()
    this.free.reset()
    this.borrowed.reset()
    this.reserved.reset()
    for (const l of licenses) {
      const labels = [l.licenseId, String(l.productCode)]
      this.inUse.labels(...labels).set(l.used)
      this.free.labels(...labels).set(Math.max(0, l.quantity - l.used))
      this.borrowed.labels(...labels).set(l.borrowed)
      this.reserved.labels(...labels).set(l.reserved)
    }
    this.waiting.set(source.waiting())
    const reclaimed = source.reclaimed()
    const counted = this.expiries.labels()
    if (reclaimed > counted.value) counted.inc(reclaimed - counted.value)
  }

  expose(): Promise<string> {
    return this.registry.expose()
  }
}

const STATUS_TEXT = new Map<number, string>()
/** The status code as a label value, without making a new string for every request. */
function statusText(status: number): string {
  let text = STATUS_TEXT.get(status)
  if (text === undefined) STATUS_TEXT.set(status, (text = String(status)))
  return text
}
