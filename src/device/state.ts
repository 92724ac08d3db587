import {createPrivateKey, createPublicKey, type KeyObject} from 'node:crypto'
import {existsSync, mkdirSync, readFileSync, renameSync} from 'node:fs'
import {join} from 'node:path'

import {ConflictError, LicadmError, ExitCode} from '../domain/errors.js'
import {writeFileAtomic} from '../domain/file-errors.js'
import {describeHolder, LockFile, type LockOwner} from '../domain/lock-file.js'
import {generateEncryptionKey, rawPublic} from '../crypto/jwe.js'
import {pinIssuer} from '../crypto/jws.js'
import {generateSigningKey, keyId, signerFor, writePrivateKey, type Signer} from '../crypto/keys.js'
import type {DeviceIdentity} from '../formats/device.js'

/** What a device keeps about itself and what it was given, in its device directory. */
export interface DeviceFile {
  fingerprint: string
  name: string
  platform: string
  createdAt: string
  signKey: string
  encKey: string
  /** Fingerprint inputs (names only) when the fingerprint was derived from this machine. */
  fingerprintSource: 'machine' | 'given'
}

export interface DeviceCredential {
  secret: string
  generation: number
  kind: string
  receivedAt: string
  via: string
}

/** A license the device holds in a container: the signed license file, verified again at each use. */
export interface HeldLicense {
  /** The armored license file. */
  file: string
  /** The update that brought it. */
  update: string
  receivedAt: string
}

/** A container as the device knows it from offline updates. */
export interface OfflineContainer {
  /** The vendor code the updates come from. */
  vendor: string
  kind: string
  /** The counter of the last update applied (0 before the first). */
  counter: number
  licenses: Record<string, HeldLicense>
  /** Update ids applied, so a replayed one is recognized. */
  applied: string[]
  /** The receipt of the last update applied, to hand out again. */
  lastReceipt?: string
  updatedAt: string
}

/** A request this device made and has not seen answered yet. */
export interface PendingRequest {
  purpose: 'activate' | 'return'
  container: string | null
  vendor: number | null
  counter: number
  license?: string
  createdAt: string
  /** The armored request, to hand out again. */
  file: string
}

/**
 * Mutable state: credentials per container, SAW ids already applied, pinned vendor keys; and for
 * offline activation, the containers with their counters and licenses, the requests made, and the
 * clock watermark (the latest time seen, from this clock and from signed files), epoch seconds.
 */
export interface DeviceStateFile {
  credentials: Record<string, DeviceCredential>
  usedSaws: string[]
  /** Vendor public keys this device trusts, by key id (SPKI PEM). */
  trusted: Record<string, {pem: string; vendor?: string; addedAt: string}>
  containers?: Record<string, OfflineContainer>
  requests?: Record<string, PendingRequest>
  watermark?: number
}

/** How long a state change waits for another licadm process to finish its own, by default. */
export const DEVICE_LOCK_TIMEOUT_MS = 5000


/**
 * The device directory (LICADM_DEVICE_DIR): identity, its two private keys (0600), and state. Each
 * file is written whole (temporary file, then rename), so a crash never leaves half a file. State
 * changes hold an exclusive lock file (state.lock), so two licadm processes on one device never lose
 * each other's change, nor both pass a check (a SAW used once, an update counter) on the same state.
 */
export class DeviceStore {
  readonly lockTimeoutMs: number
  /** Set while this store holds the lock (an update inside an update would lose the inner change). */
  private lockDepth = 0

  constructor(
    readonly dir: string,
    options: {lockTimeoutMs?: number} = {},
  ) {
    this.lockTimeoutMs = options.lockTimeoutMs ?? DEVICE_LOCK_TIMEOUT_MS
  }

  private path(name: string): string {
    return join(this.dir, name)
  }

  exists(): boolean {
    return existsSync(this.path('device.json'))
  }

  init(input: {fingerprint: string; name: string; platform: string; fingerprintSource: DeviceFile['fingerprintSource']}, now: Date, force = false): DeviceFile {
    if (this.exists() && !force) {
      throw new ConflictError('DEVICE_EXISTS', `a device is initialized in ${this.dir} already`, {hint: 'Use another LICADM_DEVICE_DIR, or --force to replace it (its keys are moved aside).'})
    }
    if (this.exists()) renameSync(this.dir, `${this.dir}.replaced-${now.getTime()}`)
    mkdirSync(this.dir, {recursive: true, mode: 0o700})
    const sign = generateSigningKey()
    const enc = generateEncryptionKey()
    writePrivateKey(this.path('sign.pem'), sign.privateKey)
    writePrivateKey(this.path('enc.pem'), enc.privateKey)
    const file: DeviceFile = {...input, createdAt: now.toISOString(), signKey: rawPublic(sign.publicKey), encKey: rawPublic(enc.publicKey)}
    this.writeJson('device.json', file, 0o644)
    this.writeJson('state.json', {credentials: {}, usedSaws: [], trusted: {}} satisfies DeviceStateFile, 0o600)
    return file
  }

  device(): DeviceFile {
    if (!this.exists()) {
      throw new LicadmError('DEVICE_NOT_INITIALIZED', ExitCode.notFound, `no device is initialized in ${this.dir}`, {hint: 'Run "licadm device init" first (LICADM_DEVICE_DIR selects the directory).'})
    }
    return JSON.parse(readFileSync(this.path('device.json'), 'utf8')) as DeviceFile
  }

  identity(): DeviceIdentity {
    const d = this.device()
    return {fingerprint: d.fingerprint, name: d.name, platform: d.platform, signKey: d.signKey, encKey: d.encKey}
  }

  signer(): Signer {
    return signerFor(createPrivateKey(readFileSync(this.path('sign.pem'), 'utf8')))
  }

  encryptionKey(): KeyObject {
    return createPrivateKey(readFileSync(this.path('enc.pem'), 'utf8'))
  }

  state(): DeviceStateFile {
    this.device()
    const path = this.path('state.json')
    if (!existsSync(path)) return {credentials: {}, usedSaws: [], trusted: {}}
    return JSON.parse(readFileSync(path, 'utf8')) as DeviceStateFile
  }

  /**
   * Read-modify-write of the state file under the device's lock: `fn` sees the state as it is now
   * (checks belong inside it) and may change it; when it throws, nothing is written.
   */
  update<T>(fn: (state: DeviceStateFile) => T): T {
    this.device()
    return this.locked(() => {
      const state = this.state()
      const result = fn(state)
      this.writeJson('state.json', state, 0o600)
      return result
    })
  }

  /** The lock file: it exists while a process changes the state, and names that process. */
  get lockFile(): string {
    return this.path('state.lock')
  }

  /**
   * Runs `fn` holding the lock file, waiting (short sleeps) while another process holds it, up to
   * lockTimeoutMs. A lock left by a process that is gone is taken over (see LockFile).
   */
  private locked<T>(fn: () => T): T {
    if (this.lockDepth > 0) throw new Error('DeviceStore.update called inside update: the inner change would be lost')
    const lock = new LockFile(this.lockFile)
    const deadline = performance.now() + this.lockTimeoutMs
    let owner: LockOwner
    for (;;) {
      const got = lock.acquire()
      if ('owner' in got) {
        owner = got.owner
        break
      }
      if (performance.now() >= deadline) throw this.busy(got.held)
      sleep(15 + Math.floor(Math.random() * 20))
    }
    this.lockDepth++
    try {
      return fn()
    } finally {
      this.lockDepth--
      // Ours alone: removed only if it is still the one this process made.
      lock.release(owner)
    }
  }

  private busy(holder: LockOwner | null): LicadmError {
    return new ConflictError('DEVICE_BUSY', `${describeHolder(holder)} is using the device directory ${this.dir}: its state stayed locked for ${this.lockTimeoutMs / 1000}s; nothing was changed`, {
      hint: `Wait for the other licadm command on this device to finish, then run this one again. If no licadm process is running, remove the lock file ${this.lockFile}.`,
      details: {lockFile: this.lockFile, ...(holder ? {pid: holder.pid, host: holder.host, since: holder.since} : {})},
    })
  }


  /**
   * Pins a vendor key; with `vendor` (a vendor code), for that vendor alone. Trusting a pinned key
   * again without a vendor keeps the vendor it was pinned for.
   */
  trust(pem: string, vendor?: string): string {
    const key = createPublicKey(pem)
    const kid = keyId(key)
    this.update((s) => {
      s.trusted[kid] = {pem: key.export({format: 'pem', type: 'spki'}).toString(), vendor: vendor ?? s.trusted[kid]?.vendor, addedAt: new Date().toISOString()}
    })
    return kid
  }

  /** The pinned keys, by key id; a key pinned for one vendor verifies only that vendor's files. */
  trustedKeys(): Map<string, KeyObject> {
    return new Map(
      Object.entries(this.state().trusted).map(([kid, t]) => {
        const key = createPublicKey(t.pem)
        return [kid, t.vendor === undefined ? key : pinIssuer(key, t.vendor)]
      }),
    )
  }

  private writeJson(name: string, value: unknown, mode: number): void {
    const path = this.path(name)
    writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, mode, {exact: true})
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4))

/** Blocks this thread for `ms` (the device commands are synchronous). */
function sleep(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms)
}
