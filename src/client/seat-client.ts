import type {KeyObject} from 'node:crypto'
import {hostname, userInfo} from 'node:os'

import {CancelledError, ExitCode, LicadmError, NotFoundError, UsageError, VerificationError} from '../domain/errors.js'
import {isoSeconds} from '../domain/values.js'
import {verifyLeaseToken, type SeatClaims} from '../formats/lease.js'
import {checkRequester, checkTarget} from '../services/seat-refusals.js'
import type {CheckoutInput, Grant, Lease} from '../services/seats.js'
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
  /**
   * Milliseconds before a request is given up (default 10 s). A heartbeat is given up sooner when
   * half the time its lease has left is shorter (1 s at least), so that a retry fits before it expires.
   */
  timeoutMs?: number
  /** Who holds the seat (default: the OS user and host name). */
  user?: string
  host?: string
  /** Release held seats when the process ends (beforeExit, and SIGINT/SIGTERM unless handleSignals is false). Default true. */
  releaseOnExit?: boolean
  /**
   * Install SIGINT and SIGTERM handlers that release held seats (default true, with releaseOnExit).
   * One handler serves every client of the process. When the app has a handler of its own for that
   * signal, the clients release but leave the exit to the app, which can `await seats.close()`;
   * alone, it re-raises the signal once the seats of all of them are released.
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
   * (CLOCK_SKEW). Heartbeats have stopped; the app should stop using the licensed feature. Also
   * called (RELEASED_ON_SIGNAL, the seat then `released`) for the seats released on a SIGINT or
   * SIGTERM that the app handles itself, as it may go on running.
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
 * The least time one heartbeat attempt is given, however close the lease is to its expiry: a
 * shorter one would fail on a slow but sound network.
 */
const MIN_ATTEMPT_MS = 1000

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
    /** The feature bits the checkout asked for: every renewal's license must still have them. */
    private readonly features = 0,
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
   * renewed token is verified like the checkout's, and the renewed lease must be this one (same id,
   * license, seats, user, host, process; else wrong-target). A refusal that means the lease is gone
   * makes the seat lost; other failures are retried by the automatic heartbeat until the lease
   * expires, each attempt given up early enough for a retry (see attempt).
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
      grant = await this.attempt()
      serverTime = this.owner.accept(grant, heldLease(this.grant.lease, this.features))
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

  /**
   * One heartbeat request, given up after half the time the lease has left (MIN_ATTEMPT_MS at
   * least), so that a retry still fits before it expires; the client's timeoutMs applies when
   * shorter. ServerClient.heartbeat takes no timeout of its own: a request given up on ends by
   * itself, and its late answer is ignored (a renewal is idempotent).
   */
  private attempt(): Promise<Grant> {
    const limitMs = Math.max(MIN_ATTEMPT_MS, Math.floor((this.expiresAtMono - performance.now()) / 2))
    return within(this.owner.client.heartbeat(this.id), limitMs, () => heartbeatTimeout(this.grant.lease, limitMs))
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
    // Jitter, so that clients cut off together do not come back together; capped after it, so the
    // retry is never later than the next beat would have been, nor than the expiry.
    const backoff = FIRST_RETRY_MS * 2 ** this.failures++
    this.schedule(Math.min(Math.round(backoff * (0.8 + Math.random() * 0.4)), this.interval(), remaining))
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
  /** Checkouts and releases under way: releaseAll(), close() and the exit hooks wait for them. */
  private readonly underway = new Set<Promise<unknown>>()
  /** One per checkout under way: close() and releaseAll() stop it (see take). */
  private readonly checkouts = new Set<AbortController>()
  private closed = false

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
   * The lease granted must be the one asked for (license or product, features, seats, user, host,
   * process): another is refused (VerificationError wrong-target) and its seat released. With
   * publicKeys, the lease token is verified first (a seat whose token does not verify is released
   * too). `waitMs` waits that long for a seat while none is free (see ServerClient.checkout), and
   * outlasts a restart of the server meanwhile (asking the restarted server, `onRetry` told);
   * `close()` and `releaseAll()` meanwhile end the checkout, and give back a seat it gets.
   */
  async checkout(target: CheckoutTarget, options: {autoHeartbeat?: boolean} & CheckoutWaitOptions = {}): Promise<SeatLease> {
    this.refuseIfClosed()
    const stop = new AbortController()
    this.checkouts.add(stop)
    const checkout = this.take(target, options, stop).finally(() => this.checkouts.delete(stop))
    this.pending(checkout)
    // Hooked from the request on: a signal while it is under way waits for it, and its seat is released.
    this.installExitHooks()
    return checkout
  }

  /** Every seat this client holds (active). */
  get seats(): SeatLease[] {
    return [...this.held]
  }

  /**
   * Releases every held seat and waits for it, and for releases already under way (e.g. started
   * by the signal handler). A checkout under way ends too (CANCELLED), the seat it gets given back:
   * none is held when this resolves. Never rejects: a seat the server could not be told about is
   * reclaimed when its lease expires.
   */
  async releaseAll(): Promise<void> {
    this.stopCheckouts('released')
    await this.settle()
  }

  /**
   * Ends checkouts under way (USAGE "closed"; a seat one gets is released), releases every seat and
   * waits for all of it; then no more checkouts, and the exit hooks are removed. For an app's own shutdown.
   */
  async close(): Promise<void> {
    this.closed = true
    this.stopCheckouts('closed')
    this.removeExitHooks()
    await this.settle()
  }

  /**
   * @internal Accepts a grant only if it is the lease wanted: with pinned keys its token verifies
   * at the server's signed time (so this machine's skew never fails it), says what the lease in the
   * answer says, and its license has the features asked for; and the lease is the one asked for
   * (checkout) or held (heartbeat). Then checks the skew. Returns the server's time of that
   * response, or undefined without pinned keys.
   */
  accept(grant: Grant, wanted: Wanted): number | undefined {
    const keys = this.options.publicKeys
    let serverTime: number | undefined
    let claims: SeatClaims | undefined
    if (keys) {
      // Read right after the awaited request: lastTime is set in the same run of microtasks that
      // resolves that request, so it is that response's time.
      serverTime = this.client.lastTime!.serverTime
      claims = verifyLeaseToken(grant.token, keys, Math.floor(serverTime / 1000)).claims
      checkToken(claims, grant.lease)
    }
    checkLease(grant.lease, claims, wanted)
    if (keys) this.checkSkew()
    return serverTime
  }

  /** @internal */
  forget(seat: SeatLease): void {
    this.held.delete(seat)
    this.unhookIfIdle()
  }

  /** @internal A checkout or release under way: releaseAll(), close() and the exit hooks wait for it. */
  pending(work: Promise<unknown>): void {
    this.underway.add(work)
    const done = () => {
      this.underway.delete(work)
      this.unhookIfIdle()
    }
    work.then(done, done)
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

  /**
   * The checkout itself. `stop` is aborted by close() or releaseAll(): it ends a wait in line, and
   * a seat granted after it (the first request cannot be cut short without losing the lease id) is
   * released before the checkout rejects, so none outlives the call that stopped it.
   */
  private async take(target: CheckoutTarget, options: {autoHeartbeat?: boolean} & CheckoutWaitOptions, stop: AbortController): Promise<SeatLease> {
    // Measure the clock before a seat is taken, so a skewed machine never holds one.
    if (this.options.maxSkewMs !== undefined && this.skewMs === undefined) await this.checkClock()
    refuseIfStopped(stop)
    const {autoHeartbeat, ...wait} = options
    const input: CheckoutInput = {
      ...target,
      user: this.options.user ?? safeUser(),
      host: this.options.host ?? hostname(),
      process: target.process ?? `pid:${process.pid}`,
    }
    const grant = await this.request(input, wait, stop)
    let wanted: Wanted
    let serverTime: number | undefined
    try {
      wanted = askedFor(input)
      serverTime = this.accept(grant, wanted)
      refuseIfStopped(stop)
    } catch (error) {
      await this.client.release(grant.lease.id).catch(() => {})
      throw error
    }
    const seat = new SeatLease(this, grant, serverTime, autoHeartbeat ?? true, wanted.features)
    this.held.add(seat)
    return seat
  }

  /** The checkout request: the caller's signal ends a wait (its last refusal is thrown), as `stop` does (its reason). */
  private async request(input: CheckoutInput, options: CheckoutWaitOptions, stop: AbortController): Promise<Grant> {
    const {signal, ...wait} = options
    const either = new AbortController()
    const abort = () => either.abort()
    const signals = [stop.signal, signal].filter((s): s is AbortSignal => s !== undefined)
    for (const s of signals) {
      if (s.aborted) abort()
      s.addEventListener('abort', abort, {once: true})
    }
    try {
      return await this.client.checkout(input, {...wait, signal: either.signal})
    } catch (error) {
      refuseIfStopped(stop)
      throw error
    } finally {
      for (const s of signals) s.removeEventListener('abort', abort)
    }
  }

  private stopCheckouts(reason: StopReason): void {
    for (const stop of this.checkouts) stop.abort(reason)
  }

  /**
   * Waits for every checkout and release under way and releases every held seat. Checkouts are
   * stopped first, so none adds a seat meanwhile: each gives back the seat it gets itself.
   */
  private async settle(): Promise<void> {
    await Promise.allSettled([...[...this.held].map((s) => s.release()), ...this.underway])
  }

  private checkSkew(): number {
    const skew = this.client.lastTime!.skewMs
    const max = this.options.maxSkewMs
    if (max !== undefined && Math.abs(skew) > max) throw new ClockSkewError(skew, max)
    return skew
  }

  private refuseIfClosed(): void {
    if (this.closed) throw stopped('closed')
  }

  private unhookIfIdle(): void {
    if (this.held.size === 0 && this.underway.size === 0) this.removeExitHooks()
  }

  private installExitHooks(): void {
    if (this.options.releaseOnExit ?? true) processHooks.add(this, this.options.handleSignals ?? true)
  }

  private removeExitHooks(): void {
    processHooks.remove(this)
  }
}

/** Why close() or releaseAll() stopped a checkout under way. */
type StopReason = 'closed' | 'released'

function stopped(reason: StopReason): LicadmError {
  if (reason === 'closed') return new UsageError('this seat client is closed: make a new one to check out seats')
  return new CancelledError('releaseAll() released every seat of this client while this checkout was under way: the seat it got, if any, was given back')
}

function refuseIfStopped(stop: AbortController): void {
  if (stop.signal.aborted) throw stopped(stop.signal.reason as StopReason)
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const

/** How long a signal waits for the releases before it ends the process anyway. */
const SIGNAL_GRACE_MS = 2000

/**
 * The process hooks of every SeatClient in this process, shared: one beforeExit and one
 * SIGINT/SIGTERM listener however many clients hold seats. A signal then waits for the releases of
 * all of them before it ends the process, and the library's own listener is never taken for the
 * app's (per-client listeners each counted the others as the app's, and the last one ended the
 * process as soon as its own seats were released).
 */
class ProcessHooks {
  /** Clients with seats held or under way that release them on exit. */
  private readonly releasing = new Set<SeatClient>()
  /** Of those, the clients that release on SIGINT and SIGTERM. */
  private readonly signalled = new Set<SeatClient>()
  private readonly onBeforeExit = () => {
    for (const client of this.releasing) void client.releaseAll()
  }
  private readonly onSignal = (signal: NodeJS.Signals) => this.signal(signal)

  add(client: SeatClient, signals: boolean): void {
    if (this.releasing.size === 0) process.on('beforeExit', this.onBeforeExit)
    this.releasing.add(client)
    if (!signals) return
    // First in line, so the app's own listeners (even `once` ones) are still registered when it runs.
    if (this.signalled.size === 0) for (const s of SIGNALS) process.prependListener(s, this.onSignal)
    this.signalled.add(client)
  }

  remove(client: SeatClient): void {
    if (this.signalled.delete(client) && this.signalled.size === 0) for (const s of SIGNALS) process.removeListener(s, this.onSignal)
    if (this.releasing.delete(client) && this.releasing.size === 0) process.removeListener('beforeExit', this.onBeforeExit)
  }

  private signal(signal: NodeJS.Signals): void {
    const clients = [...this.signalled]
    for (const client of clients) this.remove(client)
    const held = clients.flatMap((client) => client.seats.map((seat) => ({client, seat})))
    const released = Promise.allSettled(clients.map((client) => client.releaseAll()))
    // The app's own handler decides when to exit (it can await close()). It may also go on running
    // (a SIGINT that cancels one task): so it hears, through onLost, that it holds those seats no more.
    if (process.listeners(signal).some((listener) => listener !== this.onSignal)) {
      void released.then(() => {
        for (const {client, seat} of held) {
          client.notify('onLost', new LicadmError('RELEASED_ON_SIGNAL', ExitCode.cancelled, `the seat of lease ${seat.id} was released on ${signal}: the app holds it no more`, {
            hint: 'Check out again to go on using the licensed feature, or start the client with handleSignals: false to keep seats across signals the app handles.',
            details: {leaseId: seat.id, signal},
          }), seat)
        }
      })
      return
    }
    // Alone, end the process as the signal would have, once every client's seats are released (or after SIGNAL_GRACE_MS).
    let raised = false
    const raise = () => {
      if (raised) return
      raised = true
      clearTimeout(timer)
      process.kill(process.pid, signal)
    }
    const timer = setTimeout(raise, SIGNAL_GRACE_MS)
    void released.finally(raise)
  }
}

const processHooks = new ProcessHooks()

/**
 * @internal What a granted lease must be: at checkout, the one asked for; on a heartbeat, the very
 * lease held. Fields left undefined are not asked about.
 */
export interface Wanted {
  /** Whose the wanted values are, for the refusal: "the checkout asked for", "the lease held has". */
  of: string
  id?: string
  licenseId?: string
  productCode?: number
  /** Bits the license's features must include (as the server matches a checkout by product). */
  features: number
  /** Set on heartbeats only: a checkout does not choose the license's mode. */
  mode?: Lease['mode']
  seats: number
  user: string
  host: string
  process: string | null
}

/** The lease a checkout asks for, its values read as the server reads them (trimmed, features 0 by default). */
function askedFor(input: CheckoutInput): Wanted {
  const {license, product, features} = checkTarget(input)
  const who = checkRequester(input)
  return {of: 'the checkout asked for', licenseId: license, productCode: product, features, seats: input.seats ?? 1, user: who.user, host: who.host, process: who.process ?? null}
}

/** A renewal is the lease held: the same id, license, mode, seats and holder. */
function heldLease(lease: Lease, features: number): Wanted {
  const {id, licenseId, productCode, mode, seats, user, host, process} = lease
  return {of: 'the lease held has', id, licenseId, productCode, features, mode, seats, user, host, process}
}

/**
 * Refuses a lease other than the one wanted (a proxy may have rewritten the request, or answered
 * with another lease). `claims`: its verified token's, which alone say the license's features.
 */
function checkLease(lease: Lease, claims: SeatClaims | undefined, wanted: Wanted): void {
  // An exclusive lease takes the license whole (its quantity of seats) for a checkout of one.
  const seats = wanted.mode === undefined && lease.mode === 'exclusive' ? 1 : lease.seats
  const fields: Array<[string, unknown, unknown]> = [
    ['id', lease.id, wanted.id],
    ['license', lease.licenseId, wanted.licenseId],
    ['product', lease.productCode, wanted.productCode],
    ['mode', lease.mode, wanted.mode],
    ['seats', seats, wanted.seats],
    ['user', lease.user, wanted.user],
    ['host', lease.host, wanted.host],
    ['process', lease.process, wanted.process],
  ]
  for (const [field, got, want] of fields) {
    if (want !== undefined && got !== want) throw wrongLease(lease, `${field} ${show(got)}, but ${wanted.of} ${field} ${show(want)}`, {field, granted: got, wanted: want})
  }
  // A token without features (none of its checks requires them) has none.
  const licensed = claims && Number(claims.features ?? 0) >>> 0
  if (licensed !== undefined && (licensed & wanted.features) >>> 0 !== wanted.features) {
    const what = `license features 0x${licensed.toString(16)}, without the features 0x${wanted.features.toString(16)} its checkout asked for`
    throw wrongLease(lease, what, {field: 'features', granted: licensed, wanted: wanted.features})
  }
}

/** A lease token must say what the lease in the same answer says. */
function checkToken(claims: SeatClaims, lease: Lease): void {
  const seats = lease.mode === 'checkout' ? lease.seats : 1
  const same =
    claims.sub === lease.id &&
    claims.lic === lease.licenseId &&
    claims.exp === lease.expiresAt &&
    claims.product === lease.productCode &&
    claims.user === lease.user &&
    claims.host === lease.host &&
    claims.mode === lease.mode &&
    (claims.seats ?? 1) === seats
  if (!same) {
    throw new VerificationError(
      'wrong-target',
      `the lease token is for lease ${claims.sub} of license ${claims.lic} (product ${claims.product}, ${claims.user}@${claims.host}, ${claims.mode}, ${claims.seats ?? 1} seat(s)) until ${isoSeconds(claims.exp)}, not for lease ${lease.id} of license ${lease.licenseId} (product ${lease.productCode}, ${lease.user}@${lease.host}, ${lease.mode}, ${seats} seat(s)) until ${isoSeconds(lease.expiresAt)} as the server's answer says`,
    )
  }
}

function wrongLease(lease: Lease, what: string, details: Record<string, unknown>): VerificationError {
  return new VerificationError('wrong-target', `the server's lease ${lease.id} has ${what}: refused`, {
    hint: 'Something between this app and the license server changed the request or the answer (a proxy?), or the server is not the one it claims to be: check the server URL and the network path.',
    details: {leaseId: lease.id, ...details},
  })
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value)
}

/** `work`, or `late()` if it has not settled within `ms`; a later failure of `work` is nobody's to handle. */
function within<T>(work: Promise<T>, ms: number, late: () => Error): Promise<T> {
  work.catch(() => {})
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms)
    timer.unref()
  })
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}

/** A heartbeat attempt given up on, early enough that another can follow before the lease expires. */
function heartbeatTimeout(lease: Lease, ms: number): LicadmError {
  return new LicadmError('SERVER_UNREACHABLE', ExitCode.unreachable, `no answer to the heartbeat of lease ${lease.id} within ${(ms / 1000).toFixed(1)} s: given up, to retry before the lease expires`, {
    hint: 'Check the network and the license server.',
    details: {leaseId: lease.id, timeoutMs: ms},
  })
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
