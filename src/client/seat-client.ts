import type {KeyObject} from 'node:crypto'
import {hostname, userInfo} from 'node:os'

import type {Grant, Lease} from '../services/seats.js'
import {ServerClient} from './http.js'

export interface SeatClientOptions {
  /** The license server's URL. */
  server: string
  /** A client token of the server. */
  token: string
  /** The vendor's public keys: responses and lease tokens are then verified (recommended). */
  publicKeys?: ReadonlyMap<string, KeyObject>
  /** Who holds the seat (default: the OS user and host name). */
  user?: string
  host?: string
  /** Release held seats when the process ends (SIGINT, SIGTERM, beforeExit). Default true. */
  releaseOnExit?: boolean
  /** Called when an automatic heartbeat fails (the lease may be lost). */
  onHeartbeatError?: (error: unknown, lease: SeatLease) => void
}

/**
 * A held seat: renews itself with heartbeats at a third of its TTL until released. `token` is the
 * signed lease token (typ licadm-lease+jwt), renewed with each heartbeat.
 */
export class SeatLease {
  private timer?: NodeJS.Timeout
  private released = false

  constructor(
    private readonly owner: SeatClient,
    private grant: Grant,
    autoHeartbeat: boolean,
  ) {
    if (autoHeartbeat) this.schedule()
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

  get active(): boolean {
    return !this.released
  }

  /** Renews now (the automatic heartbeat calls this). */
  async heartbeat(): Promise<Grant> {
    this.grant = await this.owner.client.heartbeat(this.id)
    return this.grant
  }

  /** Frees the seat; calling it again does nothing. */
  async release(): Promise<void> {
    if (this.released) return
    this.released = true
    if (this.timer) clearTimeout(this.timer)
    this.owner.forget(this)
    await this.owner.client.release(this.id)
  }

  private schedule(): void {
    const delay = Math.max(1000, Math.floor((this.grant.ttl * 1000) / 3))
    this.timer = setTimeout(async () => {
      if (this.released) return
      try {
        await this.heartbeat()
      } catch (error) {
        this.owner.heartbeatFailed(error, this)
      }
      if (!this.released) this.schedule()
    }, delay)
    // A seat alone never keeps the process alive.
    this.timer.unref()
  }
}

/**
 * The seat client for vendors' applications: check out a floating seat, keep it with automatic
 * heartbeats, release it on exit.
 *
 *   const seats = new SeatClient({server: 'http://licenses.lan:22350', token: process.env.LICADM_TOKEN!})
 *   const seat = await seats.checkout({product: 7, features: 0x1})
 *   // … work …
 *   await seat.release()
 */
export class SeatClient {
  readonly client: ServerClient
  private readonly held = new Set<SeatLease>()
  private exitHooks?: {signal: (s: NodeJS.Signals) => void; beforeExit: () => void}

  constructor(private readonly options: SeatClientOptions) {
    this.client = new ServerClient({server: options.server, token: options.token, publicKeys: options.publicKeys})
  }

  /** Checks out a seat by license id or product code (and feature bits); refusals throw LicadmError. */
  async checkout(target: {license?: string; product?: number; features?: number; process?: string}, options: {autoHeartbeat?: boolean} = {}): Promise<SeatLease> {
    const grant = await this.client.checkout({
      ...target,
      user: this.options.user ?? safeUser(),
      host: this.options.host ?? hostname(),
      process: target.process ?? `pid:${process.pid}`,
    })
    if (this.options.publicKeys) {
      const {verifyLeaseToken} = await import('../formats/lease.js')
      verifyLeaseToken(grant.token, this.options.publicKeys, grant.lease.renewedAt)
    }
    const seat = new SeatLease(this, grant, options.autoHeartbeat ?? true)
    this.held.add(seat)
    if (this.options.releaseOnExit ?? true) this.installExitHooks()
    return seat
  }

  /** Every seat this client holds. */
  get seats(): SeatLease[] {
    return [...this.held]
  }

  /** Releases every held seat. */
  async releaseAll(): Promise<void> {
    await Promise.allSettled([...this.held].map((s) => s.release()))
  }

  /** @internal */
  forget(seat: SeatLease): void {
    this.held.delete(seat)
    if (this.held.size === 0) this.removeExitHooks()
  }

  /** @internal */
  heartbeatFailed(error: unknown, seat: SeatLease): void {
    this.options.onHeartbeatError?.(error, seat)
  }

  private installExitHooks(): void {
    if (this.exitHooks) return
    const signal = (s: NodeJS.Signals) => {
      this.removeExitHooks()
      const done = () => process.kill(process.pid, s)
      const timer = setTimeout(done, 2000)
      void this.releaseAll().finally(() => {
        clearTimeout(timer)
        done()
      })
    }
    const beforeExit = () => void this.releaseAll()
    this.exitHooks = {signal, beforeExit}
    process.once('SIGINT', signal)
    process.once('SIGTERM', signal)
    process.on('beforeExit', beforeExit)
  }

  private removeExitHooks(): void {
    if (!this.exitHooks) return
    process.removeListener('SIGINT', this.exitHooks.signal)
    process.removeListener('SIGTERM', this.exitHooks.signal)
    process.removeListener('beforeExit', this.exitHooks.beforeExit)
    this.exitHooks = undefined
  }
}

function safeUser(): string {
  try {
    return userInfo().username
  } catch {
    return 'unknown'
  }
}
