import {createPublicKey, type KeyObject} from 'node:crypto'
import {existsSync, rmSync} from 'node:fs'
import {isIPv4, isIPv6} from 'node:net'

import type {FastifyInstance} from 'fastify'

import {ManualClock, systemClock, type Clock} from '../domain/clock.js'
import {ConflictError, LicadmError, ExitCode, UsageError} from '../domain/errors.js'
import {describeHolder, LockFile, type LockOwner} from '../domain/lock-file.js'
import {principalActor} from '../domain/tokens.js'
import {publicKeyPem} from '../crypto/keys.js'
import type {Ed25519Backend} from '../crypto/ed25519.js'
import {SigningThread, threadedSigner} from '../crypto/signing-thread.js'
import {servicesOver} from '../services/backend.js'
import {ContainerService} from '../services/containers.js'
import type {ServiceContext} from '../services/context.js'
import {KeyRing, type PassphraseSource} from '../services/keyring.js'
import {DEFAULT_SEAT_SETTINGS, SeatService, type SeatSettings} from '../services/seats.js'
import {TokenService} from '../services/tokens.js'
import {VendorService} from '../services/vendor.js'
import {keyDirIn, storeFileIn} from '../store/layout.js'
import {openStore, type Store} from '../store/store.js'
import {buildApp, DEFAULT_BODY_LIMIT} from './app.js'
import {ServerAuth, TokenSet, type RateLimitOptions, type TokenRole} from './auth.js'
import {StderrLines, type LogLevel, type LogStream} from './logging.js'
import {MemoryKeyRing} from './memory-keyring.js'
import {applySeed, parseSeed, seedTokens, tokenGrant, type SeededLicense} from './seed.js'
import {ensureVendor, namedVendor} from './server-vendor.js'
import {Sweeper} from './sweeper.js'

export const DEFAULT_PORT = 22350

/** Where the server's store and vendor key come from. */
export type ServerData =
  /** A profile's store and keys (the default of `server start`). */
  | {kind: 'profile'; storePath: string; keyDir: string; passphrase?: PassphraseSource}
  /** A data directory of the server's own: DIR/licadm.db and DIR/keys (a key is made on first start). */
  | {kind: 'dir'; dir: string; passphrase?: PassphraseSource; newKeyPassphrase?: string}
  /** Nothing on disk: an in-memory store and an ephemeral vendor key. */
  | {kind: 'memory'}

export interface ServerOptions {
  host?: string
  port?: number
  data: ServerData
  clock: Clock
  /** Enables POST /v1/test/clock/advance; `clock` must then be a ManualClock. */
  testMode?: boolean
  /** The vendor of a new store (--vendor-code/--vendor-name); a store of another vendor is refused. */
  vendor?: {code?: string; name?: string}
  /** Seed file text (JSON or NDJSON). */
  seed?: string
  seedSource?: string
  /** Tokens given by flag (kept in memory only); a group-admin token names its group; `where` names its flag in refusals. */
  tokens?: Array<{token: string; role: TokenRole; name: string; group?: string; where?: string}>
  /** Failed authentications allowed per client address (default 10 per 60 s). */
  authRateLimit?: Partial<RateLimitOptions>
  /**
   * The clock of that limit's window: real time by default, not the server's clock, which a test
   * clock may hold still (a blocked address would stay blocked, the clock's own endpoint included).
   */
  authRateLimitClock?: Clock
  /** How long a stop waits for requests still arriving before it closes their connections (CLOSE_GRACE_MS). */
  closeGraceMs?: number
  settings?: Partial<SeatSettings>
  bodyLimit?: number
  /** Serve HTTPS with this PEM key and certificate (see src/crypto/certs.ts); plain HTTP without. */
  tls?: {key: string; cert: string}
  sweepIntervalMs?: number
  version?: string
  actor?: string
  onInternalError?: (error: unknown) => void
  /** JSON logs (one line per request at info) at this level; none when absent. */
  logLevel?: LogLevel
  /** Where log lines go (default: standard error). */
  logStream?: LogStream
}

export interface RunningServer {
  url: string
  host: string
  port: number
  app: FastifyInstance
  store: Store
  seats: SeatService
  sweeper: Sweeper
  clock: Clock
  vendor: {code: number; name: string}
  kid: string
  /** The library the signing thread signs with (node:crypto when there is no thread). */
  signingLibrary: Ed25519Backend
  publicKeyPem: string
  /** The vendor's verification keys (pinned key map for clients and tests). */
  publicKeys: Map<string, KeyObject>
  licenses: SeededLicense[]
  tokens: TokenSet
  /** Authentication (flag, seed and stored tokens) and its rate limit of failures. */
  auth: ServerAuth
  /** Stops accepting connections, finishes in-flight requests, stops the sweeper, closes the store. */
  close(): Promise<void>
}

/** Opens the store, seeds it, builds the app and listens. Resolves once connections are accepted. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  if (options.testMode && !(options.clock instanceof ManualClock)) throw new UsageError('--test-mode needs a manual clock')
  const seed = options.seed === undefined ? undefined : parseSeed(options.seed, options.seedSource)
  const {data} = options
  const storePath = data.kind === 'memory' ? ':memory:' : data.kind === 'dir' ? storeFileIn(data.dir) : data.storePath
  const keys =
    data.kind === 'memory' ? new MemoryKeyRing() : new KeyRing(data.kind === 'dir' ? keyDirIn(data.dir) : data.keyDir, data.passphrase)
  // A data directory this start makes is taken away again if the start is refused: a corrected
  // start must not find a store (and a vendor) made by the refused one.
  const made = data.kind === 'dir' ? {store: !existsSync(storePath), keys: !existsSync(keyDirIn(data.dir))} : undefined
  const store = await openStore({path: storePath})
  // One license server per store: its line of waiting checkouts, its rate limits and its sweeper live
  // in its memory, so a second server on the same store would break first-come order (and a test
  // clock of its own would reclaim the other's leases).
  const lock = storePath === ':memory:' ? undefined : new LockFile(`${storePath}.server.lock`)
  let locked: LockOwner | undefined
  const unlock = () => locked && lock?.release(locked)
  let logStream: LogStream | undefined
  let signingThread: SigningThread | undefined
  // Every thread made, to end them all when the server stops (a rotated key's thread ends itself once idle).
  const threads = new Set<SigningThread>()
  const closeThreads = () => Promise.all([...threads].map((t) => t.close()))
  try {
    if (lock) {
      const got = lock.acquire()
      if ('held' in got) {
        throw new ConflictError('STORE_IN_USE', `${describeHolder(got.held)} serves the store ${storePath} already: one license server per store`, {
          hint: `Stop that server first, or serve another --data directory. If no licadm server is running, remove the lock file ${lock.path}.`,
          details: {lockFile: lock.path, ...(got.held ? {pid: got.held.pid, host: got.held.host} : {})},
        })
      }
      locked = got.owner
    }
    const ctx: ServiceContext = {store, keys, clock: options.clock, actor: options.actor ?? 'server'}
    const vendorService = new VendorService(ctx)
    const {placeholder} = await ensureVendor(ctx, namedVendor(options.vendor, seed?.vendor), {
      describe: data.kind === 'dir' ? `the store in ${data.dir}` : "the profile's store",
      mayCreate: data.kind !== 'profile',
      passphrase: data.kind === 'dir' ? data.newKeyPassphrase : undefined,
    })
    // A data directory's first start without a vendor named: a placeholder, said so once started.
    const placeholderIn = placeholder && data.kind === 'dir' ? data.dir : undefined
    // Lease tokens and responses are signed on a thread of their own: the event loop goes on serving.
    // A rotated key gets a thread of its own; the previous key's thread ends once it has signed what it was asked.
    const seats = new SeatService(ctx, {...DEFAULT_SEAT_SETTINGS, ...options.settings}, (signer) => {
      if (!signer.privateKey) return signer
      signingThread?.retire()
      signingThread = new SigningThread(signer.privateKey)
      threads.add(signingThread)
      return threadedSigner(signer, signingThread)
    })
    const tokens = new TokenSet()
    let licenses: SeededLicense[] = []
    if (seed) {
      licenses = await applySeed(ctx, seats, seed, options.seed!)
      await seedTokens(ctx, seed, tokens)
    }
    for (const t of options.tokens ?? []) {
      const where = t.where ?? `token "${t.name}"`
      tokens.add(t.token, await tokenGrant(ctx, t, where), where)
    }
    const storedTokens = new TokenService(ctx)
    const containers = new ContainerService(ctx)
    if (tokens.size === 0 && !(await storedTokens.anyActive()) && !(await containers.anyEnterprise())) throw noClientAccess()
    const auth = new ServerAuth({tokens, stored: storedTokens, containers, clock: options.authRateLimitClock ?? systemClock, rateLimit: options.authRateLimit})
    const {vendor, signer} = await seats.signing()
    const signingLibrary = await signingThread?.ready()
    const publicKeys = await vendorService.verificationKeys()
    const publicKey = publicKeys.get(signer.kid) ?? createPublicKey((await keys.publicKey(signer.kid)) as KeyObject)
    const sweeper = new Sweeper(seats, options.sweepIntervalMs ?? 1000, options.onInternalError)
    await sweeper.run() // leases that expired while the server was down are reclaimed first
    // Wall-clock time (the uptime and the metrics' start time), not the server clock's.
    const startedAt = Date.now()
    // silent: no logger at all (Fastify then makes no per-request child logger).
    logStream = options.logLevel === undefined || options.logLevel === 'silent' ? undefined : (options.logStream ?? new StderrLines())
    const app = await buildApp({
      seats,
      auth,
      clock: options.clock,
      sweeper,
      signer: () => seats.currentSigner(),
      version: options.version ?? '0.0.0',
      startedAt,
      testClock: options.testMode ? (options.clock as ManualClock) : undefined,
      bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
      https: options.tls,
      onInternalError: options.onInternalError,
      log: logStream && {level: options.logLevel!, stream: logStream},
      services: (caller) => servicesOver({...ctx, actor: principalActor(caller)}),
    })
    const host = options.host ?? '127.0.0.1'
    try {
      await app.listen({host, port: options.port ?? DEFAULT_PORT, backlog: 4096, listenTextResolver: (address) => `licadm server listening on ${address}`})
    } catch (error) {
      await app.close()
      const code = (error as NodeJS.ErrnoException).code
      throw new LicadmError(code === 'EADDRINUSE' ? 'PORT_IN_USE' : 'LISTEN_FAILED', ExitCode.conflict, `cannot listen on ${host}:${options.port ?? DEFAULT_PORT}: ${(error as Error).message}`, {
        hint: code === 'EADDRINUSE' ? 'Another process uses this port: choose another with --port (0 picks a free one).' : undefined,
        cause: error,
      })
    }
    sweeper.log = app.log
    sweeper.start()
    if (placeholderIn !== undefined) {
      app.log.warn(
        {vendor},
        `the new store in ${placeholderIn} got the placeholder vendor ${vendor.code} (${vendor.name}), which every lease token and borrow file names: for a server of your own, start a new data directory with --vendor-code and --vendor-name (or a --seed file's "vendor"), or serve a profile's store ("licadm init")`,
      )
    }
    const address = app.server.address()
    const port = typeof address === 'object' && address ? address.port : (options.port ?? DEFAULT_PORT)
    const urlHost = listenUrlHost(host)
    let closing: Promise<void> | undefined
    return {
      url: `${options.tls ? 'https' : 'http'}://${urlHost}:${port}`,
      host,
      port,
      app,
      store,
      seats,
      sweeper,
      clock: options.clock,
      vendor,
      kid: signer.kid,
      signingLibrary: signingLibrary ?? 'node:crypto',
      publicKeyPem: publicKeyPem(publicKey),
      publicKeys,
      licenses,
      tokens,
      auth,
      close() {
        closing ??= (async () => {
          // Checkouts waiting for a seat are answered now (their last refusal), not when their wait ends.
          seats.queue.close()
          await closeWithin(app, options.closeGraceMs ?? CLOSE_GRACE_MS)
          await sweeper.stop()
          // The usage counted since the last sweep goes into the store before it closes.
          await seats.flushUsage().catch((error: unknown) => app.log.error({err: error}, 'the seat usage could not be saved'))
          await closeThreads()
          await store.close()
          unlock()
          if (logStream instanceof StderrLines) logStream.close()
        })()
        return closing
      },
    }
  } catch (error) {
    await closeThreads()
    await store.close().catch(() => undefined)
    unlock()
    if (logStream instanceof StderrLines) logStream.close()
    if (made && data.kind === 'dir') discardMade(storePath, keyDirIn(data.dir), made)
    throw error
  }
}

/** How long a stopping server waits for requests still arriving (a client that sent half a request) before it drops them. */
export const CLOSE_GRACE_MS = 10_000

/**
 * Stops the app: in-flight requests finish; connections that are still sending a request after
 * `graceMs` are closed, so one stalled client cannot hold a stop (and its store) for ever.
 */
async function closeWithin(app: FastifyInstance, graceMs: number): Promise<void> {
  const timer = setTimeout(() => app.server.closeAllConnections(), graceMs)
  timer.unref()
  try {
    await app.close()
  } finally {
    clearTimeout(timer)
  }
}

/** Removes the store file (with its journal) and key directory that a refused start made, and nothing else. */
function discardMade(storePath: string, keyDir: string, made: {store: boolean; keys: boolean}): void {
  if (made.store) for (const file of [storePath, `${storePath}-wal`, `${storePath}-shm`]) rmSync(file, {force: true})
  if (made.keys) rmSync(keyDir, {recursive: true, force: true})
}

function noClientAccess(): UsageError {
  return new UsageError(
    'the seat API needs a client token or a container credential: give --client-token (or LICADM_CLIENT_TOKEN), tokens in the --seed file, create one with "licadm token create", or an enterprise container ("licadm container create --kind enterprise")',
    {details: {flag: '--client-token'}},
  )
}

/**
 * The host of the URL the ready line gives for a listen address: a wildcard address (0.0.0.0, ::)
 * is no address a client can connect to, nor one a certificate names, so its loopback stands in.
 */
export function listenUrlHost(host: string): string {
  if (isIPv4(host)) return host === '0.0.0.0' ? '127.0.0.1' : host
  if (isIPv6(host)) return new URL(`http://[${host}]`).hostname === '[::]' ? '[::1]' : `[${host}]`
  return host
}
