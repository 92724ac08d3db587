import type {KeyObject} from 'node:crypto'
import {hostname, userInfo} from 'node:os'

import {ExitCode, LicadmError, NotFoundError, UsageError, VerificationError} from '../domain/errors.js'
import {isoSeconds} from '../domain/values.js'
import {verifyLeaseToken} from '../formats/lease.js'
import type {Grant, Lease} from '../services/seats.js'
import {ServerClient, type CheckoutWaitOptions} from './http.js'
import type {TrustOptions} from './transport.js'

export interface SeatClientOptions {
  /** The license server's URL. */
  server: string
  /** A client token of the server, or an enterprise container's credential (`containerToken(credentials)`). */
  token: string
  /**
   * The vendor's public keys (recommended): every response's signature and every lease token are
   * then verified, at the server's signed time, and the clock skew is measured.
   */
  publicKeys?: ReadonlyMap<string, KeyObject>
  /** How an https server's certificate is trusted: a CA file's PEM or a pinned SHA-256 fingerprint (default: the system's CAs). */
  trust?: TrustOptions
  /** Milliseconds before a request is given up (default 10 s). */
  timeoutMs?: number
  /** Who holds the seat (default: the OS user and host name). */
  user?: string
  host?: string
  /** Release held seats when the process ends (beforeExit, and SIGINT/SIGTERM unless handleSignals is false). Default true. */
  releaseOnExit?: boolean
  /**
   * Install SIGINT and SIGTERM handlers that release held seats (default true, with releaseOnExit).
   * When the app has a handler of its own for that signal, the client releases but leaves the exit
   * to the app, which can `await seats.close()`; alone, it re-raises the signal once released.
   */
  handleSignals?: boolean
  /**
   * Refuse (ClockSkewError, exit 15) when this machine's clock is further than this from the
   * server's signed time: before a checkout, and on any heartbeat (the seat is then lost and
   * released). Needs publicKeys. Default: no limit.
   */
  maxSkewMs?: number
  /** A heartbeat renewed the lease (automatic or `seat.heartbeat()`). */
  onRenewed?: (seat: SeatLease) => void
  /**
   * The seat is lost, once and for good: the server no longer has the lease (LEASE_NOT_FOUND after
   * an admin removed it, LEASE_EXPIRED, LICENSE_REVOKED, …), no heartbeat got through before it
   * expired (LEASE_EXPIRED, the last failure as `cause`), or the clock skew passed maxSkewMs
   * (CLOCK_SKEW). Heartbeats have stopped; the app should stop using the licensed feature.
   */
  onLost?: (error: LicadmError, seat: SeatLease) => void
  /** Every failed heartbeat, including the transient ones that are retried. */
  onHeartbeatError?: (error: unknown, seat: SeatLease) => void
}

export interface CheckoutTarget {
  license?: string
  product?: number
  features?: number
  /** Seats the lease takes at once (default 1; only a license counting per checkout grants more). */
  seats?: number
  /** Default `pid:<this process id>`. */
  process?: string
}

/** `active` until the app releases the seat (`released`) or it is lost (`lost`, see onLost). */
export type SeatState = 'active' | 'released' | 'lost'

/** This machine's clock is too far from the license server's signed time. */
export class ClockSkewError extends LicadmError {
  /** Server time minus local time, in milliseconds (positive: this machine is behind). */
  readonly skewMs: number
  readonly maxSkewMs: number

  constructor(skewMs: number, maxSkewMs: number) {
    super('CLOCK_SKEW', ExitCode.issuedInFuture, `this machine's clock is ${duration(Math.abs(skewMs))} ${skewMs > 0 ? 'behind' : 'ahead of'} the license server's signed time (at most ${duration(maxSkewMs)} allowed): set it right`, {
      hint: "Correct this machine's date and time (or let NTP set it), then start again.",
      details: {skewMs, maxSkewMs},
    })
    this.skewMs = skewMs
    this.maxSkewMs = maxSkewMs
  }
}

/** Refusals after which the server no longer holds the lease: retrying cannot bring it back. */
const GONE = new Set(['LEASE_NOT_FOUND', 'LEASE_EXPIRED', 'LICENSE_REVOKED', 'LICENSE_EXPIRED', 'LICENSE_NOT_YET_VALID', 'NOT_CONCURRENT'])

function isGone(error: unknown): boolean {
  return error instanceof LicadmError && GONE.has(error.code)
}

/** Transient heartbeat failures are retried after 1 s, 2 s, 4 s, … (never later than the next beat). */
const FIRST_RETRY_MS = 1000

/**
 * A held seat: renews itself with heartbeats at a third of its TTL until released or lost. `token`
 * is the signed lease token (typ licadm-lease+jwt), renewed with each heartbeat.
 */
export class SeatLease {
  private timer?: NodeJS.Timeout
  private current: SeatState = 'active'
  private lostError?: LicadmError
  private renewing?: Promise<Grant>
  private releasing?: Promise<boolean>
  private failures = 0
  /** When the lease expires, on this process's monotonic clock (performance.now()). */
  private expiresAtMono = 0

  constructor(
    private readonly owner: SeatClient,
    private grant: Grant,
    serverTimeMs: number | undefined,
    private readonly autoHeartbeat: boolean,
  ) {
    this.track(grant, serverTimeMs)
    if (autoHeartbeat) this.schedule(this.interval())
  }

  get id(): string {
    return this.grant.lease.id
  }

  get lease(): Lease {
    return this.grant.lease
  }

  get token(): string {
    return this.grant.token
  }

  get ttl(): number {
    return this.grant.ttl
  }

  get state(): SeatState {
    return this.current
  }

  get active(): boolean {
    return this.current === 'active'
  }

  /** Why the seat was lost (state `lost`). */
  get lostReason(): LicadmError | undefined {
    return this.lostError
  }

  /**
   * Renews now (the automatic heartbeat calls this; concurrent calls share one request). The
   * renewed token is verified like the checkout's. A refusal that means the lease is gone makes the
   * seat lost; other failures are retried by the automatic heartbeat until the lease expires.
   */
  heartbeat(): Promise<Grant> {
    if (this.current === 'lost') return Promise.reject(this.lostError)
    if (this.current === 'released') return Promise.reject(new NotFoundError('lease', this.id, {hint: 'This app released it: check out a new seat.'}))
    this.renewing ??= this.renew().finally(() => (this.renewing = undefined))
    return this.renewing
  }

  /**
   * Frees the seat and resolves with the server's answer: true if it freed the lease, false if the
   * lease was already gone (lost, reclaimed or removed by an admin). Calling it again returns the
   * same answer; a failed release (server unreachable) rejects and may be retried.
   */
  release(): Promise<boolean> {
    if (!this.releasing) {
      const p = this.sendRelease()
      this.releasing = p
      p.catch(() => {
        if (this.releasing === p) this.releasing = undefined
      })
      this.owner.pending(p)
    }
    return this.releasing
  }

  private async sendRelease(): Promise<boolean> {
    const known = this.current === 'lost' && isGone(this.lostError)
    if (this.current === 'active') this.current = 'released'
    this.clearTimer()
    this.owner.forget(this)
    // The server said the lease is gone: nothing to ask it.
    if (known) return false
    return (await this.owner.client.release(this.id)).released
  }

  private async renew(): Promise<Grant> {
    this.clearTimer()
    let grant: Grant
    let serverTime: number | undefined
    try {
      grant = await this.owner.client.heartbeat(this.id)
      serverTime = this.owner.accept(grant, this.id)
    } catch (error) {
      this.failed(error)
      throw error
    }
    if (this.current !== 'active') return grant
    this.grant = grant
    this.failures = 0
    this.track(grant, serverTime)
    if (this.autoHeartbeat) this.schedule(this.interval())
    this.owner.notify('onRenewed', this)
    return grant
  }

  private failed(error: unknown): void {
    if (this.current !== 'active') return
    this.owner.notify('onHeartbeatError', error, this)
    if (isGone(error)) return this.lose(error as LicadmError)
    if (error instanceof ClockSkewError) {
      // The server did renew the lease; the app must stop, so the seat goes back at once.
      this.lose(error)
      this.release().catch(() => {})
      return
    }
    const remaining = this.expiresAtMono - performance.now()
    if (remaining <= 0) return this.lose(unrenewed(this.grant.lease, error))
    if (!this.autoHeartbeat) return
    const backoff = Math.min(FIRST_RETRY_MS * 2 ** this.failures++, this.interval())
    // Jitter, so that clients cut off together do not come back together.
    this.schedule(Math.min(Math.round(backoff * (0.8 + Math.random() * 0.4)), remaining))
  }

  private lose(error: LicadmError): void {
    this.current = 'lost'
    this.lostError = error
    this.clearTimer()
    this.owner.forget(this)
    this.owner.notify('onLost', error, this)
  }

  /**
   * The lease's remaining time by the server's clock (its signed time, or the renewal time in the
   * lease without pinned keys), carried over to the monotonic clock: neither this machine's skew
   * nor a change of its clock moves the deadline.
   */
  private track(grant: Grant, serverTimeMs: number | undefined): void {
    const remaining = grant.lease.expiresAt * 1000 - (serverTimeMs ?? grant.lease.renewedAt * 1000)
    this.expiresAtMono = performance.now() + remaining
  }

  private interval(): number {
    return Math.max(1000, Math.floor((this.grant.ttl * 1000) / 3))
  }

  private schedule(delay: number): void {
    this.clearTimer()
    this.timer = setTimeout(() => {
      this.timer = undefined
      // Failures are handled in renew (retry or lost); nothing to do with them here.
      if (this.current === 'active') this.heartbeat().catch(() => {})
    }, delay)
    // A seat alone never keeps the process alive.
    this.timer.unref()
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
  }
}

/**
 * The seat client for vendors' applications: check out a floating seat, keep it with automatic
 * heartbeats, release it on exit.
 *
 *   const seats = new SeatClient({server: 'http://licenses.lan:22350', token: process.env.LICADM_TOKEN!, publicKeys: keys,
 *     maxSkewMs: 5 * 60_000, onLost: (error) => stopWork(error)})
 *   const seat = await seats.checkout({product: 7, features: 0x1})
 *   // … work …
 *   await seat.release()
 */
export class SeatClient {
  readonly client: ServerClient
  private readonly held = new Set<SeatLease>()
  private readonly releases = new Set<Promise<unknown>>()
  private exitHooks?: {signal?: (s: NodeJS.Signals) => void; beforeExit: () => void}
  private closed = false
  /** Checkouts waiting for a free seat: close() stops them. */
  private readonly waiting = new Set<AbortController>()

  constructor(private readonly options: SeatClientOptions) {
    const max = options.maxSkewMs
    if (max !== undefined) {
      if (!(typeof max === 'number' && max >= 0 && Number.isFinite(max))) throw new UsageError(`maxSkewMs must be a number of milliseconds, not ${String(max)}`, {details: {option: 'maxSkewMs'}})
      if (!options.publicKeys) throw new UsageError('maxSkewMs needs publicKeys: only a signed server time can be trusted to measure the skew', {details: {option: 'maxSkewMs'}})
    }
    this.client = new ServerClient({server: options.server, token: options.token, publicKeys: options.publicKeys, trust: options.trust, timeoutMs: options.timeoutMs})
  }

  /**
   * Server time minus local time in milliseconds (positive: this machine is behind), from the last
   * signed response; undefined before any response or without publicKeys.
   */
  get skewMs(): number | undefined {
    return this.options.publicKeys ? this.client.lastTime?.skewMs : undefined
  }

  /**
   * Asks the server for its signed time and returns the skew; throws ClockSkewError beyond
   * maxSkewMs. Needs publicKeys. `checkout` does it first when maxSkewMs is set.
   */
  async checkClock(): Promise<number> {
    if (!this.options.publicKeys) throw new UsageError('checkClock needs publicKeys: only a signed server time can be trusted to measure the skew')
    await this.client.health()
    return this.checkSkew()
  }

  /**
   * Checks out a seat by license id or product code (and feature bits); refusals throw LicadmError.
   * With publicKeys, the lease token is verified before the seat is handed over (a seat whose token
   * does not verify is released at once). `waitMs` waits that long for a seat while none is free
   * (see ServerClient.checkout); `close()` meanwhile ends the wait.
   */
  async checkout(target: CheckoutTarget, options: {autoHeartbeat?: boolean} & CheckoutWaitOptions = {}): Promise<SeatLease> {
    this.refuseIfClosed()
    // Measure the clock before a seat is taken, so a skewed machine never holds one.
    if (this.options.maxSkewMs !== undefined && this.skewMs === undefined) await this.checkClock()
    const {autoHeartbeat, signal, ...wait} = options
    // close() ends a wait for a free seat, as does the caller's signal.
    const stop = new AbortController()
    const abort = () => stop.abort()
    if (signal?.aborted) abort()
    signal?.addEventListener('abort', abort, {once: true})
    this.waiting.add(stop)
    let grant: Grant
    try {
      grant = await this.client.checkout(
        {
          ...target,
          user: this.options.user ?? safeUser(),
          host: this.options.host ?? hostname(),
          process: target.process ?? `pid:${process.pid}`,
        },
        {...wait, signal: stop.signal},
      )
    } catch (error) {
      this.refuseIfClosed()
      throw error
    } finally {
      this.waiting.delete(stop)
      signal?.removeEventListener('abort', abort)
    }
    let serverTime: number | undefined
    try {
      serverTime = this.accept(grant)
      this.refuseIfClosed()
    } catch (error) {
      await this.client.release(grant.lease.id).catch(() => {})
      throw error
    }
    const seat = new SeatLease(this, grant, serverTime, autoHeartbeat ?? true)
    this.held.add(seat)
    this.installExitHooks()
    return seat
  }

  /** Every seat this client holds (active). */
  get seats(): SeatLease[] {
    return [...this.held]
  }

  /**
   * Releases every held seat and waits for it, and for releases already under way (e.g. started
   * by the signal handler). Never rejects: a seat the server could not be told about is reclaimed
   * when its lease expires.
   */
  async releaseAll(): Promise<void> {
    await Promise.allSettled([...[...this.held].map((s) => s.release()), ...this.releases])
  }

  /** releaseAll, then no more checkouts, and the exit hooks are removed. For an app's own shutdown. */
  async close(): Promise<void> {
    this.closed = true
    for (const stop of this.waiting) stop.abort()
    this.removeExitHooks()
    await this.releaseAll()
  }

  /**
   * @internal Verifies a grant's lease token with the pinned keys at the server's signed time (so
   * this machine's skew never fails it), checks that it is this lease's, and checks the skew.
   * Returns the server's time of that response, or undefined without pinned keys.
   */
  accept(grant: Grant, leaseId?: string): number | undefined {
    const keys = this.options.publicKeys
    if (!keys) return undefined
    // Read right after the awaited request: lastTime is set in the same run of microtasks that
    // resolves that request, so it is that response's time.
    const serverTime = this.client.lastTime!.serverTime
    const {claims} = verifyLeaseToken(grant.token, keys, Math.floor(serverTime / 1000))
    const lease = grant.lease
    if (claims.sub !== lease.id || (leaseId !== undefined && claims.sub !== leaseId) || claims.lic !== lease.licenseId || claims.exp !== lease.expiresAt) {
      throw new VerificationError('wrong-target', `the lease token is for lease ${claims.sub} of license ${claims.lic} until ${isoSeconds(claims.exp)}, not for lease ${leaseId ?? lease.id} as the server's answer says`)
    }
    this.checkSkew()
    return serverTime
  }

  /** @internal */
  forget(seat: SeatLease): void {
    this.held.delete(seat)
    this.unhookIfIdle()
  }

  /** @internal A release under way: close() and the exit hooks wait for it. */
  pending(release: Promise<unknown>): void {
    this.releases.add(release)
    const done = () => {
      this.releases.delete(release)
      this.unhookIfIdle()
    }
    release.then(done, done)
  }

  /**
   * @internal Calls an app callback. One that throws is the app's bug: it is rethrown on its own
   * tick, so it surfaces as an uncaught exception without breaking the seat's bookkeeping.
   */
  notify<K extends 'onRenewed' | 'onLost' | 'onHeartbeatError'>(name: K, ...args: Parameters<NonNullable<SeatClientOptions[K]>>): void {
    const callback = this.options[name] as ((...a: unknown[]) => void) | undefined
    if (!callback) return
    try {
      callback(...args)
    } catch (error) {
      process.nextTick(() => {
        throw error
      })
    }
  }

  private checkSkew(): number {
    const skew = this.client.lastTime!.skewMs
    const max = this.options.maxSkewMs
    if (max !== undefined && Math.abs(skew) > max) throw new ClockSkewError(skew, max)
    return skew
  }

  private refuseIfClosed(): void {
    if (this.closed) throw new UsageError('this seat client is closed: make a new one to check out seats')
  }

  private unhookIfIdle(): void {
    if (this.held.size === 0 && this.releases.size === 0) this.removeExitHooks()
  }

  private installExitHooks(): void {
    if (this.exitHooks || !(this.options.releaseOnExit ?? true)) return
    const beforeExit = () => void this.releaseAll()
    this.exitHooks = {beforeExit}
    process.on('beforeExit', beforeExit)
    if (!(this.options.handleSignals ?? true)) return
    const signal = (s: NodeJS.Signals) => {
      this.removeExitHooks()
      const released = this.releaseAll()
      // The app's own handler decides when to exit (it can await close()). Alone, end the process
      // as the signal would have, once the seats are released (or after 2 s at most).
      if (process.listenerCount(s) > 0) return
      const done = () => process.kill(process.pid, s)
      const timer = setTimeout(done, 2000)
      void released.finally(() => {
        clearTimeout(timer)
        done()
      })
    }
    this.exitHooks.signal = signal
    // First in line, so the app's own listeners (even `once` ones) are still registered and counted.
    process.prependOnceListener('SIGINT', signal)
    process.prependOnceListener('SIGTERM', signal)
  }

  private removeExitHooks(): void {
    if (!this.exitHooks) return
    if (this.exitHooks.signal) {
      process.removeListener('SIGINT', this.exitHooks.signal)
      process.removeListener('SIGTERM', this.exitHooks.signal)
    }
    process.removeListener('beforeExit', this.exitHooks.beforeExit)
    this.exitHooks = undefined
  }
}

/** A lease that no heartbeat could renew before it expired. */
function unrenewed(lease: Lease, cause: unknown): LicadmError {
  const why = cause instanceof Error ? cause.message : String(cause)
  return new LicadmError('LEASE_EXPIRED', ExitCode.expired, `lease ${lease.id} expired at ${isoSeconds(lease.expiresAt)} (server time): no heartbeat renewed it (last failure: ${why})`, {
    cause,
    hint: 'Check the network and the license server, then check out a new seat.',
    details: {leaseId: lease.id, expiresAt: isoSeconds(lease.expiresAt)},
  })
}

/** 48.0 h, 12.5 min, 40.2 s. */
function duration(ms: number): string {
  if (ms >= 2 * 3_600_000) return `${(ms / 3_600_000).toFixed(1)} h`
  if (ms >= 2 * 60_000) return `${(ms / 60_000).toFixed(1)} min`
  return `${(ms / 1000).toFixed(1)} s`
}

function safeUser(): string {
  try {
    return userInfo().username
  } catch {
    return 'unknown'
  }
}
