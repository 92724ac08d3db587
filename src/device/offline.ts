import {randomBytes, type KeyObject} from 'node:crypto'

import {ExitCode, LicadmError, NotFoundError, UsageError, VerificationError} from '../domain/errors.js'
import {newId} from '../domain/ids.js'
import {normalizeSerial} from '../domain/container.js'
import {validityAt} from '../domain/license.js'
import {formatDuration, isoSeconds} from '../domain/values.js'
import {verifyCompact} from '../crypto/jws.js'
import {parsePublicKeys} from '../crypto/keys.js'
import {dearmor} from '../crypto/armor.js'
import {armorLicense, LICENSE_TYP, type LicenseClaims} from '../formats/license.js'
import {
  encodeReceipt,
  encodeRequest,
  licenseIdOf,
  peekOffline,
  sha256,
  verifyUpdate,
  type RequestClaims,
  type UpdateClaims,
} from '../formats/offline.js'
import type {DeviceFile, DeviceStateFile, DeviceStore, HeldLicense, OfflineContainer} from './state.js'

/** How far the clock may be behind the latest time seen before licenses with an expiry are refused. */
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 3600

export interface ClockCheck {
  now: number
  /** The latest time seen before this check (null on a fresh device). */
  watermark: number | null
  /** True when the clock is behind the watermark by more than the tolerance. */
  rolledBack: boolean
  behindSeconds: number
  toleranceSeconds: number
}

/** Compares the clock with the watermark; `observe` then moves the watermark forward (never back). */
export function checkClock(state: DeviceStateFile, nowSeconds: number, toleranceSeconds = DEFAULT_CLOCK_TOLERANCE_SECONDS): ClockCheck {
  const watermark = state.watermark ?? null
  const behind = watermark === null ? 0 : Math.max(0, watermark - nowSeconds)
  return {now: nowSeconds, watermark, rolledBack: behind > toleranceSeconds, behindSeconds: behind, toleranceSeconds}
}

/** The watermark takes the latest of the times given; a clock that was set back never lowers it. */
function observe(state: DeviceStateFile, ...seconds: number[]): void {
  state.watermark = Math.max(state.watermark ?? 0, ...seconds)
}

function clockRefusal(clock: ClockCheck): LicadmError {
  return new LicadmError('CLOCK_ROLLED_BACK', ExitCode.issuedInFuture, `this device's clock (${isoSeconds(clock.now)}) is ${roughDuration(clock.behindSeconds)} behind the latest time it has seen (${isoSeconds(clock.watermark)}): it was set back, so licenses with an expiry are refused`, {
    hint: `Set the date and time of this machine right; a difference up to ${formatDuration(clock.toleranceSeconds)} is tolerated.`,
    details: {now: isoSeconds(clock.now), watermark: isoSeconds(clock.watermark), behindSeconds: clock.behindSeconds, toleranceSeconds: clock.toleranceSeconds},
  })
}

export interface MadeRequest {
  jti: string
  purpose: 'activate' | 'return'
  device: string
  container: string | null
  vendor: number | null
  counter: number
  license?: string
  file: string
  /** True when a return request for this license was made before and is handed out again. */
  repeated: boolean
}

/**
 * An activation request: for a container (at its current counter on this device) or, with a
 * vendor code, for a new local container. Signed with the device key; remembered, so the update
 * that answers it is recognized.
 */
export function makeRequest(store: DeviceStore, target: {container?: string; vendor?: number}, nowSeconds: number): MadeRequest {
  if ((target.container === undefined) === (target.vendor === undefined)) {
    throw new UsageError('give either --container SERIAL (a container this device has) or --vendor CODE (for a new local container)', {details: {flag: '--container'}})
  }
  const me = store.device()
  const state = store.state()
  const serial = target.container === undefined ? null : normalizeSerial(target.container)
  const held = serial === null ? undefined : state.containers?.[serial]
  const vendor = target.vendor ?? (held ? Number(held.vendor) : null)
  const claims: RequestClaims = {
    ...requestedBy(me, 'req', nowSeconds),
    purpose: 'activate',
    container: serial,
    vendor,
    counter: held?.counter ?? 0,
    holds: held ? Object.keys(held.licenses).sort() : [],
  }
  const file = encodeRequest(claims, store.signer())
  const clock = checkClock(state, nowSeconds)
  store.update((s) => {
    s.requests ??= {}
    s.requests[claims.jti] = {purpose: 'activate', container: serial, vendor, counter: claims.counter, createdAt: new Date(nowSeconds * 1000).toISOString(), file}
    if (!clock.rolledBack) observe(s, nowSeconds)
  })
  return {jti: claims.jti, purpose: 'activate', device: me.fingerprint, container: serial, vendor, counter: claims.counter, file, repeated: false}
}

/** What every request of this device says of itself: it signs as itself, now, with a fresh id and nonce. */
function requestedBy(me: DeviceFile, idPrefix: 'req' | 'ret', nowSeconds: number): Pick<RequestClaims, 'iss' | 'sub' | 'jti' | 'iat' | 'nonce' | 'device'> {
  return {
    iss: me.fingerprint,
    sub: me.fingerprint,
    jti: newId(idPrefix, nowSeconds * 1000),
    iat: nowSeconds,
    nonce: randomBytes(16).toString('base64url'),
    device: {name: me.name, platform: me.platform, keys: {sig: me.signKey, enc: me.encKey}},
  }
}

/**
 * A return request: the license leaves this device at once (it is no longer listed or usable
 * here), and the request, bound to the container's counter, lets the vendor free it. Asking again
 * for the same license hands out the same request.
 */
export function makeReturn(store: DeviceStore, licenseId: string, nowSeconds: number): MadeRequest {
  const me = store.device()
  const signer = store.signer()
  const id = licenseId.trim()
  // Under the device's lock: two returns of one license at once make one request.
  return store.update((state): MadeRequest => {
    const pending = Object.entries(state.requests ?? {}).find(([, r]) => r.purpose === 'return' && r.license === id)
    if (pending) {
      const [jti, r] = pending
      return {jti, purpose: 'return', device: me.fingerprint, container: r.container, vendor: r.vendor, counter: r.counter, license: id, file: r.file, repeated: true}
    }
    const found = Object.entries(state.containers ?? {}).find(([, c]) => c.licenses[id] !== undefined)
    if (!found) throw new NotFoundError('license', id, {hint: 'This device does not hold it: "licadm device licenses" lists what it holds.'})
    const [serial, held] = found
    const claims: RequestClaims = {
      ...requestedBy(me, 'ret', nowSeconds),
      purpose: 'return',
      container: serial,
      vendor: Number(held.vendor),
      counter: held.counter,
      holds: Object.keys(held.licenses).filter((l) => l !== id).sort(),
      license: id,
    }
    const file = encodeRequest(claims, signer)
    const clock = checkClock(state, nowSeconds)
    delete held.licenses[id]
    state.requests ??= {}
    state.requests[claims.jti] = {purpose: 'return', container: serial, vendor: claims.vendor, counter: claims.counter, license: id, createdAt: new Date(nowSeconds * 1000).toISOString(), file}
    if (!clock.rolledBack) observe(state, nowSeconds)
    return {jti: claims.jti, purpose: 'return', device: me.fingerprint, container: serial, vendor: claims.vendor, counter: claims.counter, license: id, file, repeated: false}
  })
}

/** An update that passed every check on this device, with what applying it changes. */
export interface CheckedUpdate {
  claims: UpdateClaims
  jws: string
  licenses: Record<string, string>
  added: string[]
  removed: string[]
  changed: string[]
}

/**
 * Every check an update must pass on this device, without changing anything: the vendor's
 * signature (a pinned key), type and times; this device (18); not applied before (16); exactly the
 * next counter (19, naming the counter needed); a request this device made for that container
 * (18); licenses signed by the same vendor.
 */
export function checkUpdate(store: DeviceStore, text: string, vendorKeys: ReadonlyMap<string, KeyObject>, nowSeconds: number, state?: DeviceStateFile): CheckedUpdate {
  const me = store.device()
  if (vendorKeys.size === 0) {
    throw new LicadmError('NO_TRUSTED_KEY', ExitCode.unknownKey, 'this device trusts no vendor key yet', {hint: 'Pin the vendor key first: "licadm device trust vendor-public.pem" (or give --public-key).'})
  }
  const {claims, jws} = verifyUpdate(text, vendorKeys, nowSeconds)
  if (claims.sub !== me.fingerprint) {
    throw new VerificationError('wrong-target', `this update is for device ${claims.sub}, not for this device (${me.fingerprint})`, {details: {for: claims.sub, device: me.fingerprint}})
  }
  state ??= store.state()
  const held: OfflineContainer | undefined = state.containers?.[claims.container]
  if (held?.applied.includes(claims.jti)) {
    throw new VerificationError('replayed', `this update (${claims.jti}) was applied on this device already (container ${claims.container}, counter ${claims.counter})`, {
      // The receipt of the update applied last is kept: one lost on its way can be written again.
      ...(held.counter === claims.counter && held.lastReceipt ? {hint: `Its receipt for the vendor: "licadm activation receipt ${claims.container}" writes it again.`} : {}),
      details: {jti: claims.jti},
    })
  }
  const current = held?.counter ?? 0
  if (claims.counter <= current) {
    throw new VerificationError('out-of-order', `this update carries counter ${claims.counter} for container ${claims.container}, but this device is at counter ${current} already: it was superseded`, {
      details: {counter: claims.counter, current, needed: current + 1},
    })
  }
  if (claims.counter > current + 1) {
    throw new VerificationError('out-of-order', `this update carries counter ${claims.counter} for container ${claims.container}, but this device is at counter ${current}: it needs the update with counter ${current + 1} first`, {
      hint: `Apply the update with counter ${current + 1} first (the vendor can hand it out again by fulfilling its request again).`,
      details: {counter: claims.counter, current, needed: current + 1},
    })
  }
  const request = state.requests?.[claims.request]
  if (!request) {
    throw new VerificationError('wrong-target', `this update answers request ${claims.request}, which this device did not make (or answered already)`, {details: {request: claims.request}})
  }
  if (request.container !== null && request.container !== claims.container) {
    throw new VerificationError('wrong-target', `this update is for container ${claims.container}, but request ${claims.request} was made for container ${request.container}`, {
      details: {container: claims.container, requested: request.container},
    })
  }
  if (request.container === null && held) {
    throw new VerificationError('wrong-target', `this update answers a request for a new container, but container ${claims.container} is on this device already`, {details: {container: claims.container}})
  }
  if ((request.vendor !== null && String(request.vendor) !== claims.iss) || (held && held.vendor !== claims.iss)) {
    throw new VerificationError('wrong-target', `this update comes from vendor ${claims.iss}, but the request was made for vendor ${request.vendor ?? held?.vendor}`, {details: {vendor: claims.iss}})
  }
  if (request.counter + 1 !== claims.counter) {
    throw new VerificationError('out-of-order', `this update carries counter ${claims.counter}, but its request was made at counter ${request.counter}`, {details: {counter: claims.counter, requested: request.counter}})
  }
  const licenses: Record<string, string> = {}
  for (const lic of claims.licenses) {
    const {payload} = verifyCompact(lic, {typ: LICENSE_TYP, keys: vendorKeys, label: 'license file in the update'})
    if (payload.iss !== claims.iss || typeof payload.sub !== 'string') {
      throw new VerificationError('wrong-target', `the update carries a license of vendor ${String(payload.iss)}, not of vendor ${claims.iss}`)
    }
    licenses[licenseIdOf(lic)] = armorLicense(lic)
  }
  const before = held?.licenses ?? {}
  const added = Object.keys(licenses).filter((id) => !before[id]).sort()
  const removed = Object.keys(before).filter((id) => !licenses[id]).sort()
  const changed = Object.keys(licenses).filter((id) => before[id] && before[id].file !== licenses[id]).sort()
  return {claims, jws, licenses, added, removed, changed}
}

export interface AppliedUpdate {
  update: string
  container: string
  counter: number
  added: string[]
  removed: string[]
  changed: string[]
  licenses: string[]
  /** The license whose return this update confirms. */
  returned: string | null
  /** Requests made before this update that it made stale (they would be refused as out of order). */
  superseded: string[]
  receipt: string
  receiptJti: string
}

/**
 * Applies an update, advances the counter, and makes the receipt. The checks of checkUpdate run
 * under the device's lock on the state as it is now, so two processes applying updates at once
 * cannot both pass the counter and replay checks.
 */
export function applyUpdate(store: DeviceStore, text: string, vendorKeys: ReadonlyMap<string, KeyObject>, nowSeconds: number): AppliedUpdate {
  const me = store.device()
  const signer = store.signer()
  return store.update((s) => {
    const checked = checkUpdate(store, text, vendorKeys, nowSeconds, s)
    const {claims} = checked
    const holds = Object.keys(checked.licenses).sort()
    const receiptJti = newId('rcp', nowSeconds * 1000)
    const receipt = encodeReceipt(
      {iss: me.fingerprint, sub: me.fingerprint, jti: receiptJti, iat: nowSeconds, update: claims.jti, container: claims.container, counter: claims.counter, updateHash: sha256(checked.jws), holds, vendor: claims.iss},
      signer,
    )
    const at = new Date(nowSeconds * 1000).toISOString()
    const clock = checkClock(s, nowSeconds)
    let returned: string | null = null
    const superseded: string[] = []
    s.containers ??= {}
    const old = s.containers[claims.container]
    const licenses: Record<string, HeldLicense> = {}
    for (const [id, file] of Object.entries(checked.licenses)) {
      licenses[id] = old?.licenses[id]?.file === file ? old.licenses[id] : {file, update: claims.jti, receivedAt: at}
    }
    s.containers[claims.container] = {
      vendor: claims.iss,
      kind: claims.containerKind,
      counter: claims.counter,
      licenses,
      applied: [...(old?.applied ?? []), claims.jti],
      lastReceipt: receipt,
      updatedAt: at,
    }
    const requests = s.requests ?? {}
    const answered = requests[claims.request]
    if (answered?.purpose === 'return') returned = answered.license ?? null
    delete requests[claims.request]
    for (const [jti, r] of Object.entries(requests)) {
      if (r.container === claims.container && r.counter < claims.counter) {
        superseded.push(jti)
        delete requests[jti]
      }
    }
    s.requests = requests
    observe(s, claims.iat, ...(clock.rolledBack ? [] : [nowSeconds]))
    return {
      update: claims.jti,
      container: claims.container,
      counter: claims.counter,
      added: checked.added,
      removed: checked.removed,
      changed: checked.changed,
      licenses: holds,
      returned,
      superseded,
      receipt,
      receiptJti,
    }
  })
}

export interface HeldLicenseView {
  id: string
  container: string
  vendor: string
  product: number | null
  kind: string | null
  quantity: number | null
  features: number | null
  notBefore: string | null
  expiresAt: string | null
  /** valid, expired, not-yet-valid, clock-rolled-back, or invalid. */
  status: 'valid' | 'expired' | 'not-yet-valid' | 'clock-rolled-back' | 'invalid'
  reason?: string
  file: string
}

export interface DeviceLicenses {
  device: string
  clock: {now: string; watermark: string | null; rolledBack: boolean; behindSeconds: number; toleranceSeconds: number}
  containers: Array<{serial: string; vendor: string; kind: string; counter: number; licenses: number; pendingReturns: string[]}>
  licenses: HeldLicenseView[]
}

/**
 * What this device holds, each license verified again (vendor signature with the pinned keys,
 * expiry) and checked against the clock: when the clock was set back beyond the tolerance, licenses
 * with an expiry are refused. A sound clock moves the watermark forward.
 */
/** The receipt of the update this device applied last for a container, kept for a vendor who did not get it. */
export function lastReceipt(store: DeviceStore, serialInput: string): {container: string; counter: number; update: string; jti: string; file: string} {
  const serial = normalizeSerial(serialInput)
  const held = store.state().containers?.[serial]
  if (!held) throw new NotFoundError('container', serial, {hint: 'Run "licadm device licenses" to see the containers this device holds.'})
  if (!held.lastReceipt) {
    throw new LicadmError('NO_RECEIPT', ExitCode.notFound, `this device has no receipt for container ${serial}: it applied no update of it with this version of licadm`, {details: {container: serial}})
  }
  const {claims} = peekOffline(held.lastReceipt, 'RECEIPT')
  return {container: serial, counter: held.counter, update: String(claims.update), jti: String(claims.jti), file: held.lastReceipt}
}

export function deviceLicenses(store: DeviceStore, vendorKeys: ReadonlyMap<string, KeyObject>, nowSeconds: number, toleranceSeconds = DEFAULT_CLOCK_TOLERANCE_SECONDS): DeviceLicenses {
  const me = store.device()
  const state = store.state()
  const clock = checkClock(state, nowSeconds, toleranceSeconds)
  const licenses: HeldLicenseView[] = []
  const pending = Object.values(state.requests ?? {}).filter((r) => r.purpose === 'return')
  for (const [serial, c] of Object.entries(state.containers ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    for (const [id, held] of Object.entries(c.licenses).sort(([a], [b]) => a.localeCompare(b))) {
      licenses.push(licenseView(id, serial, c.vendor, held.file, vendorKeys, clock))
    }
  }
  if (!clock.rolledBack) store.update((s) => observe(s, nowSeconds))
  return {
    device: me.fingerprint,
    clock: {now: isoSeconds(nowSeconds)!, watermark: isoSeconds(clock.watermark), rolledBack: clock.rolledBack, behindSeconds: clock.behindSeconds, toleranceSeconds},
    containers: Object.entries(state.containers ?? {}).map(([serial, c]) => ({
      serial,
      vendor: c.vendor,
      kind: c.kind,
      counter: c.counter,
      licenses: Object.keys(c.licenses).length,
      pendingReturns: pending.filter((r) => r.container === serial).map((r) => r.license!),
    })),
    licenses,
  }
}

/** The error `device licenses` ends with when the clock was set back (exit 15). */
export function clockRolledBack(result: DeviceLicenses): LicadmError | null {
  if (!result.clock.rolledBack) return null
  const c = result.clock
  return clockRefusal({now: Date.parse(c.now) / 1000, watermark: c.watermark === null ? null : Date.parse(c.watermark) / 1000, rolledBack: true, behindSeconds: c.behindSeconds, toleranceSeconds: c.toleranceSeconds})
}

function licenseView(id: string, serial: string, vendor: string, file: string, keys: ReadonlyMap<string, KeyObject>, clock: ClockCheck): HeldLicenseView {
  const base = {id, container: serial, vendor, file}
  let claims: LicenseClaims
  try {
    // The signature and type only; expiry is judged below, together with the clock check.
    claims = verifyCompact(dearmor(file, 'LICENSE').jws, {typ: LICENSE_TYP, keys, label: 'license file'}).payload as unknown as LicenseClaims
  } catch (error) {
    if (!(error instanceof VerificationError)) throw error
    return {...base, product: null, kind: null, quantity: null, features: null, notBefore: null, expiresAt: null, status: 'invalid', reason: error.message}
  }
  const view = {
    ...base,
    product: claims.product,
    kind: claims.kind,
    quantity: claims.quantity,
    features: claims.features,
    notBefore: isoSeconds(claims.nbf),
    expiresAt: isoSeconds(claims.exp ?? null),
  }
  if (claims.exp !== undefined && clock.rolledBack) {
    return {...view, status: 'clock-rolled-back', reason: `refused: the clock was set back ${roughDuration(clock.behindSeconds)} behind the latest time seen (${isoSeconds(clock.watermark)}), and this license expires`}
  }
  const validity = validityAt({status: 'available', notBefore: claims.nbf, expiresAt: claims.exp ?? null}, clock.now)
  if (validity === 'expired') return {...view, status: 'expired', reason: `expired at ${isoSeconds(claims.exp!)}`}
  if (validity === 'not-yet-valid') return {...view, status: 'not-yet-valid', reason: `not valid before ${isoSeconds(claims.nbf)}`}
  return {...view, status: 'valid'}
}

/** What this device says about an offline file, without changing anything. */
export function inspectOnDevice(store: DeviceStore, text: string, kind: string, claims: Record<string, unknown>, vendorKeys: ReadonlyMap<string, KeyObject>, nowSeconds: number): {status: string; reason?: string; exitCode?: number} {
  const me = store.device()
  const state = store.state()
  if (kind === 'update') {
    try {
      const checked = checkUpdate(store, text, vendorKeys, nowSeconds)
      const parts = [checked.added.length > 0 ? `adds ${checked.added.join(', ')}` : '', checked.removed.length > 0 ? `removes ${checked.removed.join(', ')}` : '', checked.changed.length > 0 ? `changes ${checked.changed.join(', ')}` : '']
      return {status: 'applicable', reason: `"activation apply" would apply it on this device: ${parts.filter(Boolean).join('; ') || 'no change of licenses'}, counter ${checked.claims.counter}`}
    } catch (error) {
      if (error instanceof LicadmError && error.exit !== ExitCode.internal) return {status: 'refused', reason: error.message, exitCode: error.exit}
      throw error
    }
  }
  const jti = String(claims.jti)
  if (claims.sub !== me.fingerprint) return {status: 'other-device', reason: `made by device ${String(claims.sub)}, not by this device (${me.fingerprint})`}
  if (kind === 'receipt') {
    const c = state.containers?.[String(claims.container)]
    return c?.lastReceipt !== undefined && c.counter === claims.counter
      ? {status: 'current', reason: `this device is at counter ${c.counter} of ${String(claims.container)}`}
      : {status: 'old', reason: `this device is at counter ${c?.counter ?? 0} of ${String(claims.container)} now`}
  }
  return state.requests?.[jti]
    ? {status: 'pending', reason: 'made by this device and not answered yet'}
    : {status: 'answered', reason: 'made by this device; answered by an update since, or superseded'}
}

/** The vendor keys this device verifies with: a key file given (--public-key), else the keys pinned with "device trust". */
export function vendorKeysOf(store: DeviceStore, given?: {text: string; source: string}): Map<string, KeyObject> {
  if (given) return new Map(parsePublicKeys(given.text, given.source).map((k) => [k.kid, k.key]))
  return store.trustedKeys()
}

/** A duration for people: "31d 2h", "3h 5m", "12m". */
export function roughDuration(seconds: number): string {
  if (seconds >= 86_400) return `${Math.floor(seconds / 86_400)}d ${Math.floor((seconds % 86_400) / 3600)}h`
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`
  if (seconds >= 60) return `${Math.floor(seconds / 60)}m`
  return `${seconds}s`
}
