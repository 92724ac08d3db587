import {randomBytes, type KeyObject} from 'node:crypto'

import {ExitCode, LicadmError} from '../domain/errors.js'
import {SEAT_RANGES, WAITABLE} from '../domain/seat-policy.js'
import {NONCE_HEADER, requestBinding, SIGNATURE_HEADER, verifyResponse} from '../formats/response.js'
import {request as transportRequest, type TransportResponse, type TrustOptions} from './transport.js'
import type {RuleSubject} from '../domain/seat-subjects.js'
import type {UsageReport} from '../services/seat-usage.js'
import type {BorrowGrant, BorrowInput, CheckoutInput, Grant, Lease, SeatUsage} from '../services/seats.js'
import type {AccessRules, AccessRule, SeatPolicy, SeatReservation, ReservationUsage} from '../services/seat-rules.js'

export interface ServerClientOptions {
  /** The server's base URL, e.g. http://127.0.0.1:22350 */
  server: string
  /** A client token (seat API) or vendor token (administration). */
  token?: string
  /**
   * The vendor's pinned public keys: when given, every response's signature is verified and a
   * forged or changed response is refused.
   */
  publicKeys?: ReadonlyMap<string, KeyObject>
  /** Milliseconds before a request is given up (default 10 s). */
  timeoutMs?: number
  /** How an https server's certificate is trusted (default: the system's CAs). */
  trust?: TrustOptions
}

export interface ServerStatus {
  version: string
  uptime: number
  serverTime: string
  testMode: boolean
  leaseTtl: number
  reclaimed: number
  /** Checkouts waiting in line for a seat now. */
  waiting: number
  licenses: Array<Omit<SeatUsage, 'holders'>>
}

export interface CheckoutWaitOptions {
  /** Milliseconds to wait for a seat while none is free (default 0: one request). */
  waitMs?: number
  /** Called before each wait with the refusal and the longest the server will wait this time (ms). */
  onWait?: (refusal: LicadmError, waitMs: number) => void
  /** Stops the waiting: the last refusal is thrown. */
  signal?: AbortSignal
  /**
   * Called before the checkout asks again after the server was stopping, restarting or out of reach
   * during the wait (SERVER_STOPPING, SERVER_UNAVAILABLE, SERVER_UNREACHABLE), with that failure
   * and the pause before the next request (ms).
   */
  onRetry?: (failure: LicadmError, pauseMs: number) => void
  /**
   * The longest one waiting request lasts (default and most: the server's 60 s). Behind a proxy or
   * load balancer that cuts requests idle for less, set it below that limit; each request keeps
   * the place in line the last one had.
   */
  requestWaitMs?: number
}

/** Time a waiting checkout's request is given beyond the server's wait: the checkout and the network. */
const WAIT_MARGIN_MS = 15_000

/** Statuses of a server that is not there for the moment: stopping (503), or behind a proxy while it restarts (502, 504). */
const GATEWAY_STATUSES: ReadonlySet<number> = new Set([502, 503, 504])

/** Failures a waiting checkout waits out (see ServerClient.checkout): the server stops, restarts or is out of reach. */
const OUTAGE: ReadonlySet<string> = new Set(['SERVER_STOPPING', 'SERVER_UNAVAILABLE', 'SERVER_UNREACHABLE'])

/** The pause before the next request after `n` outages in a row: 250 ms doubling to 5 s, less up to a half at random. */
function backoffMs(n: number): number {
  const full = Math.min(5000, 250 * 2 ** Math.min(n, 10))
  return Math.round(full * (0.5 + Math.random() * 0.5))
}

/** The pause a refusal asks for (details.retryAfter, seconds: at most 5 s of it is heeded), in ms. */
function retryAfterMs(error: LicadmError): number {
  const s = error.details?.retryAfter
  return typeof s === 'number' && Number.isFinite(s) && s > 0 ? Math.min(s, 5) * 1000 : 0
}

/** A Retry-After header of whole seconds (an HTTP date is not used by licadm servers). */
function retryAfterSeconds(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header
  return value !== undefined && /^\d{1,9}$/.test(value.trim()) ? Number(value.trim()) : undefined
}

/** Whether a body is a licadm answer (its envelope), not a proxy's or a stopping Fastify's own. */
function isLicadmAnswer(text: string): boolean {
  try {
    const json = JSON.parse(text) as {ok?: unknown; error?: {code?: unknown}}
    return json.ok === true || (json.ok === false && typeof json.error?.code === 'string')
  } catch {
    return false
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, {once: true})
  })
}

/** The wait for a seat ended while the server was stopping or out of reach: that failure, saying so. */
function outageAtDeadline(error: LicadmError, base: string, waitedMs: number, last: LicadmError | undefined): LicadmError {
  const how = error.code === 'SERVER_UNREACHABLE' ? 'could not be reached' : 'was stopping or restarting'
  return new LicadmError(error.code, ExitCode.unreachable, `no seat within the wait (${formatMs(waitedMs)}): the license server at ${base} ${how} when the wait ended (${error.message})`, {
    hint: 'The server stopped or went out of reach during the wait and was not back before it ended: check that it runs ("licadm server status"), then ask again, or wait longer (--wait).',
    details: {...error.details, waitedMs, duringWait: true, ...(last ? {lastRefusal: last.code} : {})},
    cause: error,
  })
}

/**
 * An onRetry that tells `say` the server is stopping or out of reach: at the first retry, and again
 * at most once a minute while it stays away (the CLI's seat checkout and seat run).
 */
export function retrySayer(say: ((message: string) => void) | undefined): CheckoutWaitOptions['onRetry'] {
  if (!say) return undefined
  let told = 0
  return (failure) => {
    if (Date.now() - told < 60_000) return
    told = Date.now()
    say(`${failure.message}; asking again while the wait lasts…`)
  }
}

function formatMs(ms: number): string {
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`
}

/** A seat policy's settings as sent: null puts a setting back to the server's (no cap, for maxPerUser). */
export interface PolicySettings {
  mode?: string
  leaseTtl?: number | null
  borrowMaxSeconds?: number | null
  borrowMaxSeats?: number | null
  maxPerUser?: number | null
  linger?: number | null
}

/** What the last response said about time: the server's clock and this machine's offset from it. */
export interface ServerTime {
  serverTime: number
  /** Server time minus local time, in milliseconds (positive: the server is ahead). */
  skewMs: number
}

/**
 * An HTTP client of a licadm server: one method per endpoint, answers unwrapped, refusals thrown as
 * the same LicadmError (code, exit status, hint, details) that the server's service raised.
 */
export class ServerClient {
  readonly base: string
  /** The base URL's own path (a reverse proxy's prefix, which it takes off before the server sees a request). */
  private readonly prefix: string
  lastTime?: ServerTime

  constructor(private readonly options: ServerClientOptions) {
    let url: URL
    try {
      url = new URL(options.server)
    } catch {
      throw new LicadmError('INVALID_VALUE', ExitCode.usage, `--server: "${options.server}" is not a URL (e.g. http://127.0.0.1:22350)`, {details: {flag: '--server'}})
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new LicadmError('INVALID_VALUE', ExitCode.usage, `--server: "${options.server}" is not an http(s) URL`, {details: {flag: '--server'}})
    this.base = url.href.replace(/\/+$/, '')
    this.prefix = url.pathname.replace(/\/+$/, '')
  }

  async request<T>(method: string, path: string, body?: unknown, options: {timeoutMs?: number; signal?: AbortSignal} = {}): Promise<T> {
    // A fresh nonce per request: the server signs its answer for this request only.
    const nonce = randomBytes(16).toString('base64url')
    const headers: Record<string, string> = {accept: 'application/json', [NONCE_HEADER]: nonce}
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const url = new URL(`${this.base}${path}`)
    const sentBody = body === undefined ? undefined : JSON.stringify(body)
    // Network failures and untrusted certificates are refused there (exit 8, naming the URL).
    const response: TransportResponse = await transportRequest({
      method,
      url,
      headers,
      body: sentBody,
      timeoutMs: options.timeoutMs ?? this.options.timeoutMs ?? 10_000,
      trust: this.options.trust,
      signal: options.signal,
    })
    const {text} = response
    const signature = response.headers[SIGNATURE_HEADER]
    // A server that is stopping answers 503 before any of its own code runs, unsigned (and a proxy
    // in front of a server that is restarting, 502 or 504). Taken as what it is, it grants nothing:
    // the request may be tried again.
    if (GATEWAY_STATUSES.has(response.status) && signature === undefined && (this.options.publicKeys || !isLicadmAnswer(text))) {
      const retryAfter = retryAfterSeconds(response.headers['retry-after'])
      throw new LicadmError('SERVER_UNAVAILABLE', ExitCode.unreachable, `the license server at ${this.base} is not available (${response.status}): it may be stopping or restarting`, {
        hint: 'Try again in a moment.',
        details: {httpStatus: response.status, ...(retryAfter === undefined ? {} : {retryAfter})},
      })
    }
    if (this.options.publicKeys) {
      // Bound to the path and query as the server receives them: without the base URL's own path.
      const sent = requestBinding(nonce, method, `${url.pathname}${url.search}`.slice(this.prefix.length), sentBody ?? '')
      const verified = verifyResponse(Array.isArray(signature) ? signature[0] : signature, text, response.status, this.options.publicKeys, sent)
      this.lastTime = {serverTime: verified.serverTime, skewMs: verified.serverTime - Date.now()}
    }
    let json: {ok?: boolean; result?: unknown; error?: {code: string; message: string; exitCode: number; hint?: string; details?: Record<string, unknown>}}
    try {
      json = JSON.parse(text)
    } catch {
      throw new LicadmError('BAD_RESPONSE', ExitCode.unreachable, `the server at ${this.base} answered ${response.status} with something that is not JSON: is it a licadm server?`)
    }
    if (response.status < 200 || response.status > 299 || json.ok !== true) {
      const e = json.error
      if (!e) throw new LicadmError('BAD_RESPONSE', ExitCode.unreachable, `the server answered ${response.status} without an error description`)
      // Retry-After (SERVER_STOPPING, AUTH_RATE_LIMITED) as details.retryAfter, when the body does not say it.
      const retryAfter = retryAfterSeconds(response.headers['retry-after'])
      throw new LicadmError(e.code, e.exitCode, e.message, {hint: e.hint, details: {...(retryAfter === undefined ? {} : {retryAfter}), ...e.details, httpStatus: response.status}})
    }
    return json.result as T
  }

  health(): Promise<{status: string; version: string; uptime: number; serverTime: string}> {
    return this.request('GET', '/healthz')
  }

  status(): Promise<ServerStatus> {
    return this.request('GET', '/v1/status')
  }

  /**
   * Checks out a seat. With `waitMs`, a refusal for want of a free seat (NO_SEAT_FREE, or USER_LIMIT:
   * the user holds the most a license's policy allows, until one of them is released) is followed by
   * checkouts that wait in line on the server (up to a minute each, or `requestWaitMs`) until a seat is granted or the
   * time is up (the last refusal is thrown then); every other refusal ends it at once. The server
   * gives a released seat to the checkout waiting longest that can take it.
   *
   * Once the server has answered, a wait also outlasts a restart of it: while the time is not up, a
   * server that is stopping (SERVER_STOPPING, SERVER_UNAVAILABLE: 503) or cannot be reached
   * (SERVER_UNREACHABLE: refused, reset, no answer) is asked again after a pause (250 ms doubling
   * to 5 s, with jitter, at least its Retry-After), and the restarted server's line is joined
   * afresh (`onRetry` is told). If the time is up meanwhile, that failure is thrown (exit 8), its
   * message saying the server was stopping or unreachable when the wait ended. Without `waitMs`,
   * one request, as any other.
   */
  async checkout(input: CheckoutInput, options: CheckoutWaitOptions = {}): Promise<Grant> {
    const started = Date.now()
    const deadline = started + Math.max(0, options.waitMs ?? 0)
    const {max} = SEAT_RANGES.waitSeconds
    const longest = Math.min(max, Math.max(1, Math.ceil((options.requestWaitMs ?? max * 1000) / 1000)))
    let last: LicadmError | undefined
    // Set once the server has answered this checkout: from then on, an outage is waited out.
    let answered = false
    // Retries in a row after an outage (the pause doubles with each).
    let outages = 0
    for (let wait = 0; ; ) {
      try {
        if (wait === 0) return await this.request<Grant>('POST', '/v1/leases', input)
        // The place in line the last wait kept, so that a long wait keeps its turn.
        const place = typeof last?.details?.place === 'number' ? last.details.place : undefined
        return await this.request<Grant>('POST', '/v1/leases', {...input, wait, place}, {timeoutMs: wait * 1000 + (this.options.timeoutMs ?? 10_000) + WAIT_MARGIN_MS, signal: options.signal})
      } catch (error) {
        if (options.signal?.aborted && last) throw last
        if (!(error instanceof LicadmError)) throw error
        if (options.waitMs && OUTAGE.has(error.code) && (answered || error.code !== 'SERVER_UNREACHABLE') && !options.signal?.aborted) {
          // The server is stopping, restarting or out of reach: asked again while the wait lasts.
          answered = true
          const pause = Math.max(backoffMs(outages++), retryAfterMs(error))
          const left = deadline - Date.now()
          if (left <= 0) throw outageAtDeadline(error, this.base, Date.now() - started, last)
          options.onRetry?.(error, Math.min(pause, left))
          await sleep(Math.min(pause, left), options.signal)
          if (options.signal?.aborted) throw last ?? error
          const after = deadline - Date.now()
          if (after <= 0) throw outageAtDeadline(error, this.base, Date.now() - started, last)
          wait = Math.min(longest, Math.max(1, Math.ceil(after / 1000)))
          continue
        }
        if (!WAITABLE.has(error.code)) throw error
        answered = true
        outages = 0
        last = error
        const left = deadline - Date.now()
        if (left <= 0 || options.signal?.aborted) throw error
        wait = Math.min(longest, Math.max(1, Math.ceil(left / 1000)))
        options.onWait?.(error, wait * 1000)
      }
    }
  }

  heartbeat(leaseId: string): Promise<Grant> {
    return this.request('POST', `/v1/leases/${encodeURIComponent(leaseId)}/heartbeat`)
  }

  /** `lingersUntil`: the end of the seat's linger (server epoch seconds), when its license's policy has one. */
  release(leaseId: string): Promise<{released: boolean; leaseId: string; lingersUntil?: number}> {
    return this.request('DELETE', `/v1/leases/${encodeURIComponent(leaseId)}`)
  }

  /** Each license's seats used and holders; `user`/`host` list only that user's or host's holders. */
  async list(filter: {license?: string; product?: number | string; user?: string; host?: string} = {}): Promise<SeatUsage[]> {
    return (await this.request<{licenses: SeatUsage[]}>('GET', `/v1/leases${queryString(filter)}`)).licenses
  }

  borrow(input: BorrowInput): Promise<BorrowGrant> {
    return this.request('POST', '/v1/borrows', input)
  }

  returnBorrow(borrowId: string): Promise<{returned: boolean; borrowId: string}> {
    return this.request('DELETE', `/v1/borrows/${encodeURIComponent(borrowId)}`)
  }

  async forceRelease(leaseId: string): Promise<Lease> {
    return (await this.request<{lease: Lease}>('DELETE', `/v1/admin/leases/${encodeURIComponent(leaseId)}`)).lease
  }

  async listRules(product?: number | string): Promise<AccessRules[]> {
    return (await this.request<{products: AccessRules[]}>('GET', `/v1/admin/rules${product === undefined ? '' : `?product=${encodeURIComponent(String(product))}`}`)).products
  }

  async addRule(rule: {product: number; action: 'allow' | 'deny'; subject: 'user' | 'host' | 'address'; pattern: string}): Promise<AccessRule> {
    return (await this.request<{rule: AccessRule}>('POST', '/v1/admin/rules', rule)).rule
  }

  async removeRule(id: number | string): Promise<AccessRule> {
    return (await this.request<{rule: AccessRule}>('DELETE', `/v1/admin/rules/${encodeURIComponent(String(id))}`)).rule
  }

  setDefaultAction(product: number, action: 'allow' | 'deny'): Promise<{productCode: number; defaultAction: string}> {
    return this.request('PUT', `/v1/admin/rules/${product}/default`, {action})
  }

  /** Replaces a license's seat policy (settings left out: the server's), or with `merge` changes only the settings given. */
  async setPolicy(license: string, policy: PolicySettings, options: {merge?: boolean} = {}): Promise<SeatPolicy> {
    return (await this.request<{policy: SeatPolicy}>(options.merge ? 'PATCH' : 'PUT', `/v1/admin/policies/${encodeURIComponent(license)}`, policy)).policy
  }

  /** A license's own seat policy; null when it has none. */
  async getPolicy(license: string): Promise<SeatPolicy | null> {
    return (await this.request<{policy: SeatPolicy | null}>('GET', `/v1/admin/policies/${encodeURIComponent(license)}`)).policy
  }

  /** Seat usage per license and day: by default the 30 days to the server's today. */
  usageReport(filter: {license?: string; since?: string; until?: string; days?: number} = {}): Promise<UsageReport> {
    return this.request('GET', `/v1/admin/usage${queryString(filter)}`)
  }

  /** The reservations of a license (or every license), with the seats of each in use. */
  async listReservations(license?: string): Promise<ReservationUsage[]> {
    return (await this.request<{reservations: ReservationUsage[]}>('GET', `/v1/admin/reservations${queryString({license})}`)).reservations
  }

  /** Keeps seats of a concurrent license for a user, host or address (pattern as in the access rules). */
  async addReservation(reservation: {license: string; subject: RuleSubject; pattern: string; seats: number}): Promise<SeatReservation> {
    return (await this.request<{reservation: SeatReservation}>('POST', '/v1/admin/reservations', reservation)).reservation
  }

  async removeReservation(id: number | string): Promise<SeatReservation> {
    return (await this.request<{reservation: SeatReservation}>('DELETE', `/v1/admin/reservations/${encodeURIComponent(String(id))}`)).reservation
  }

  advanceClock(seconds: number): Promise<{serverTime: string; reclaimed: number}> {
    return this.request('POST', '/v1/test/clock/advance', {seconds})
  }
}

/** "?key=value&…" of the values given (none: ""). */
function queryString(filter: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams()
  for (const [key, value] of Object.entries(filter)) if (value !== undefined) q.set(key, String(value))
  const qs = q.toString()
  return qs ? `?${qs}` : ''
}
