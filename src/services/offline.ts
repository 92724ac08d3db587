import type {KeyObject} from 'node:crypto'

import {epochSeconds} from '../domain/clock.js'
import {newSerial, normalizeSerial} from '../domain/container.js'
import {ConflictError, ExitCode, LicadmError, NotFoundError, UsageError, VerificationError} from '../domain/errors.js'
import {newId} from '../domain/ids.js'
import {LIMITS} from '../domain/license.js'
import {formatDuration, isoSeconds, parseUint} from '../domain/values.js'
import {keyId} from '../crypto/keys.js'
import {ed25519FromRaw} from '../formats/device.js'
import {
  encodeUpdate,
  peekOffline,
  requestKeys,
  sha256,
  verifyReceipt,
  verifyRequest,
  verifyUpdate,
  type ReceiptClaims,
  type RequestClaims,
  type RequestPurpose,
} from '../formats/offline.js'
import type {Vendor} from '../formats/license.js'
import type {ContainerTable, DeviceTable} from '../store/schema.js'
import type {OfflineUpdateTable} from '../store/schema-offline.js'
import type {Tx} from '../store/store.js'
import {appendAudit} from './audit.js'
import {ContainerService} from './containers.js'
import type {ServiceContext} from './context.js'
import {DeviceService} from './devices.js'
import {assertActiveSigner, withActiveSigner} from './signer-check.js'
import {VendorService} from './vendor.js'

/** How old a request may be when it is fulfilled, unless --max-age says otherwise. */
export const DEFAULT_REQUEST_MAX_AGE_SECONDS = 14 * 86_400

/** Which licenses an activation request is fulfilled with. */
export interface FulfillSelection {
  licenses?: string[]
  tickets?: string[]
  products?: unknown[]
}

export interface FulfillOptions {
  maxAgeSeconds?: number
}

export interface OfflineUpdate {
  jti: string
  request: string
  purpose: RequestPurpose
  device: string
  container: string
  counter: number
  added: string[]
  removed: string[]
  holds: string[]
  state: OfflineUpdateTable['state']
  issuedAt: number
  confirmedAt: number | null
  receipt: string | null
  mismatch: string | null
}

export interface FulfillResult extends OfflineUpdate {
  /** The armored update file. */
  file: string
  /** True when the request was fulfilled before and the same update is returned. */
  replayed: boolean
  /** True when a new local container was made for the device. */
  containerCreated: boolean
}

export interface ConfirmResult {
  update: string
  receipt: string
  device: string
  container: string
  counter: number
  state: 'confirmed'
  /** False when this update was confirmed before. */
  changed: boolean
}

/** What this profile says about a file: would it be accepted now, and if not, why. */
export interface VendorVerdict {
  status: string
  reason?: string
  exitCode?: number
  update?: string
}

/** A request that passed every check, with what fulfilling it needs. */
interface CheckedRequest {
  claims: RequestClaims
  device: DeviceTable | null
  container: ContainerTable | null
  /** The update issued for it before, if any. */
  issued: OfflineUpdateTable | null
}

/**
 * Offline activation on the vendor's side: requests become updates (signed, bound to the device,
 * the container and the next counter), receipts confirm them. One definition per operation; the
 * commands and (later) the server call these.
 */
export class OfflineService {
  private readonly vendor: VendorService
  private readonly containers: ContainerService
  private readonly devices: DeviceService

  constructor(private readonly ctx: ServiceContext) {
    this.vendor = new VendorService(ctx)
    this.containers = new ContainerService(ctx)
    this.devices = new DeviceService(ctx)
  }

  /**
   * Turns a request into an update. An activation request is fulfilled with the licenses selected
   * (each must be available: not in another container, not revoked or expired); a return request
   * frees its license. Fulfilling the same request again returns the same update.
   */
  async fulfill(text: string, selection: FulfillSelection = {}, options: FulfillOptions = {}): Promise<FulfillResult> {
    const maxAge = options.maxAgeSeconds ?? DEFAULT_REQUEST_MAX_AGE_SECONDS
    const input = normalizeSelection(selection)
    const given = input.licenses.length + input.tickets.length + input.products.length > 0
    // Signature and idempotency first: a request fulfilled before gets its update back, whatever its age.
    const vendor = await this.vendor.get()
    const first = await this.checkRequest(this.ctx.store.db, text, maxAge, vendor)
    if (first.issued) return this.replay(first.issued, input, given)
    if (first.claims.purpose === 'return' && given) {
      throw new UsageError('a return request frees the license it names: give no --license, --ticket or --product')
    }
    if (first.claims.purpose === 'activate' && !given) {
      throw new UsageError('say which licenses to put in the container: give --license, --ticket or --product', {details: {flag: '--license'}})
    }
    let created = false
    // The signer is loaded before the transaction (a passphrase may be asked for); a key rotated
    // meanwhile is refused inside it, and the update is made again with the new active key.
    const result = await withActiveSigner(() => this.vendor.signer(), (signer) => this.ctx.store.write(async (tx) => {
      created = false
      const checked = await this.checkRequest(tx, text, maxAge, vendor)
      if (checked.issued) return {row: checked.issued, replayed: true}
      await assertActiveSigner(tx, signer.kid)
      const {claims} = checked
      const now = epochSeconds(this.ctx.clock)
      let container = checked.container
      if (container === null) {
        const identity = {fingerprint: claims.sub, name: claims.device.name, platform: claims.device.platform, signKey: claims.device.keys.sig, encKey: claims.device.keys.enc}
        const known = checked.device !== null
        await this.devices.register(tx, identity, null, now)
        container = await this.containers.insert(tx, {serial: newSerial('local'), kind: 'local', user: null, group: null, device: claims.sub, maxDevices: null, secretHash: null})
        await tx.insertInto('activations').values({serial: container.serial, fingerprint: claims.sub, user_id: null, state: 'active', pending_removal: 0, activated_at: now, deactivated_at: null, last_seen: now, generation: 1}).execute()
        await appendAudit(tx, this.ctx, {action: 'device.activate', subject: `container:${container.serial}`, after: {device: claims.sub, state: 'active', via: 'offline', registered: !known}})
        created = true
      }
      const before = await this.held(tx, container.serial)
      const added: string[] = []
      const removed: string[] = []
      if (claims.purpose === 'return') {
        const license = await this.containers.takeLicense(tx, container, claims.license!)
        removed.push(license.id)
      } else {
        const refs = [...input.licenses, ...input.tickets]
        for (const code of input.products) refs.push(await this.pickAvailable(tx, code, now))
        for (const ref of refs) {
          const {license} = await this.containers.placeLicense(tx, container, ref)
          if (!before.some((h) => h.id === license.id) && !added.includes(license.id)) added.push(license.id)
        }
      }
      const after = await this.held(tx, container.serial)
      const counter = claims.counter + 1
      const jti = newId('upd', this.ctx.clock.now())
      const {file, jws} = encodeUpdate(
        {
          iss: String(vendor.code),
          sub: claims.sub,
          jti,
          iat: now,
          purpose: claims.purpose,
          request: claims.jti,
          container: container.serial,
          containerKind: container.kind,
          counter,
          licenses: after.map((h) => h.jws),
          added,
          removed,
        },
        signer,
      )
      const row: OfflineUpdateTable = {
        jti,
        request_jti: claims.jti,
        purpose: claims.purpose,
        fingerprint: claims.sub,
        serial: container.serial,
        counter,
        added: JSON.stringify(added),
        removed: JSON.stringify(removed),
        holds: JSON.stringify(after.map((h) => h.id).sort()),
        input: JSON.stringify(input),
        update_hash: sha256(jws),
        file,
        state: 'pending',
        request_iat: claims.iat,
        created_at: now,
        confirmed_at: null,
        receipt_jti: null,
        mismatch: null,
      }
      await tx.insertInto('offline_updates').values(row).execute()
      await tx.updateTable('containers').set({update_counter: container.update_counter + 1}).where('serial', '=', container.serial).execute()
      await appendAudit(tx, this.ctx, {
        action: claims.purpose === 'return' ? 'offline.return' : 'offline.fulfill',
        subject: `container:${container.serial}`,
        before: {counter: claims.counter, licenses: before.map((h) => h.id)},
        after: {request: claims.jti, update: jti, device: claims.sub, counter, added, removed, licenses: after.map((h) => h.id)},
      })
      return {row, replayed: false}
    }))
    return {...view(result.row), file: result.row.file, replayed: result.replayed, containerCreated: created}
  }

  /**
   * Checks a receipt against the update it names. A receipt whose counter or content differs from
   * what was issued is recorded as a mismatch and refused (exit 4): it is never accepted silently.
   */
  async confirm(text: string): Promise<ConfirmResult> {
    const {claims, issued} = await this.checkReceipt(text)
    const problems = receiptProblems(claims, issued)
    const now = epochSeconds(this.ctx.clock)
    const outcome = await this.ctx.store.write(async (tx) => {
      const row = await tx.selectFrom('offline_updates').selectAll().where('jti', '=', issued.jti).executeTakeFirstOrThrow()
      const seen = await tx.selectFrom('offline_receipts').select('result').where('jti', '=', claims.jti).executeTakeFirst()
      if (!seen) {
        await tx
          .insertInto('offline_receipts')
          .values({jti: claims.jti, update_jti: row.jti, fingerprint: claims.sub, serial: claims.container, counter: claims.counter, result: problems.length === 0 ? 'confirmed' : 'mismatch', reason: problems.length === 0 ? null : problems.join('; '), received_at: now})
          .execute()
      }
      if (problems.length > 0) {
        if (!seen) {
          await tx.updateTable('offline_updates').set({state: row.state === 'confirmed' ? 'confirmed' : 'mismatch', mismatch: problems.join('; '), receipt_jti: claims.jti}).where('jti', '=', row.jti).execute()
          await appendAudit(tx, this.ctx, {action: 'offline.mismatch', subject: `container:${row.serial}`, before: {state: row.state}, after: {update: row.jti, receipt: claims.jti, device: claims.sub, problems}})
        }
        return {changed: false}
      }
      if (row.state === 'confirmed') {
        // Another matching receipt for a confirmed update: recorded, and the record is audited.
        if (!seen) await appendAudit(tx, this.ctx, {action: 'offline.receipt', subject: `container:${row.serial}`, after: {update: row.jti, receipt: claims.jti, device: claims.sub, state: 'confirmed'}})
        return {changed: false}
      }
      await tx.updateTable('offline_updates').set({state: 'confirmed', confirmed_at: now, receipt_jti: claims.jti}).where('jti', '=', row.jti).execute()
      await tx.updateTable('activations').set({last_seen: now}).where('serial', '=', row.serial).where('fingerprint', '=', row.fingerprint).execute()
      await appendAudit(tx, this.ctx, {action: 'offline.confirm', subject: `container:${row.serial}`, before: {state: row.state}, after: {update: row.jti, receipt: claims.jti, device: claims.sub, counter: row.counter, state: 'confirmed'}})
      return {changed: true}
    })
    if (problems.length > 0) {
      throw new ConflictError('RECEIPT_MISMATCH', `the receipt does not match update ${issued.jti} as it was issued: ${problems.join('; ')}. It was recorded as a mismatch (possible manipulation), not accepted`, {
        hint: 'Compare with "licadm activation inspect" of the update and the receipt; ask the customer for the receipt that "activation apply" wrote.',
        details: {update: issued.jti, receipt: claims.jti, problems},
      })
    }
    return {update: issued.jti, receipt: claims.jti, device: claims.sub, container: issued.serial, counter: issued.counter, state: 'confirmed', changed: outcome.changed}
  }

  /** This profile's verdict on any offline file, without changing anything. */
  async inspect(text: string, options: FulfillOptions = {}): Promise<VendorVerdict> {
    const peeked = peekOffline(text)
    try {
      if (peeked.kind === 'request' || peeked.kind === 'return') {
        const checked = await this.checkRequest(this.ctx.store.db, text, options.maxAgeSeconds ?? DEFAULT_REQUEST_MAX_AGE_SECONDS, await this.vendor.get())
        if (checked.issued) {
          return {status: 'fulfilled', reason: `fulfilled at ${isoSeconds(Number(checked.issued.created_at))} with update ${checked.issued.jti} (counter ${checked.issued.counter}); fulfilling it again returns that update`, update: checked.issued.jti}
        }
        return {status: 'acceptable', reason: peeked.kind === 'return' ? 'fulfilling it frees the license and writes the update that confirms the return' : 'it can be fulfilled'}
      }
      if (peeked.kind === 'update') {
        verifyUpdate(text, await this.vendor.verificationKeys(), epochSeconds(this.ctx.clock))
        const row = await this.ctx.store.db.selectFrom('offline_updates').selectAll().where('jti', '=', String(peeked.claims.jti)).executeTakeFirst()
        if (!row) return {status: 'unknown', reason: 'signed by this vendor, but this profile has no record of issuing it (another store?)'}
        if (row.state === 'confirmed') return {status: 'confirmed', reason: `the device confirmed it at ${isoSeconds(Number(row.confirmed_at))} (receipt ${row.receipt_jti})`}
        if (row.state === 'mismatch') return {status: 'mismatch', reason: `a receipt for it did not match: ${row.mismatch}`}
        return {status: 'pending', reason: 'issued; no receipt yet'}
      }
      const {claims, issued} = await this.checkReceipt(text)
      const problems = receiptProblems(claims, issued)
      if (problems.length > 0) return {status: 'mismatch', reason: `it does not match the update as issued: ${problems.join('; ')}`, exitCode: ExitCode.conflict, update: issued.jti}
      if (issued.state === 'confirmed') return {status: 'confirmed', reason: `update ${issued.jti} is confirmed already`, update: issued.jti}
      return {status: 'acceptable', reason: `it matches update ${issued.jti}; "activation confirm" will confirm it`, update: issued.jti}
    } catch (error) {
      if (error instanceof LicadmError && error.exit !== ExitCode.internal) return {status: 'refused', reason: error.message, exitCode: error.exit}
      throw error
    }
  }

  /** Updates issued, newest first: pending (no receipt yet), confirmed, or mismatch. */
  async list(filter: {state?: string; container?: string; device?: string} = {}): Promise<OfflineUpdate[]> {
    let q = this.ctx.store.db.selectFrom('offline_updates').selectAll().orderBy('created_at', 'desc').orderBy('jti', 'desc')
    if (filter.state) {
      if (!['pending', 'confirmed', 'mismatch'].includes(filter.state)) throw new UsageError(`--state: "${filter.state}" is not one of pending, confirmed, mismatch`)
      q = q.where('state', '=', filter.state as 'pending')
    }
    if (filter.container) q = q.where('serial', '=', normalizeSerial(filter.container))
    if (filter.device) q = q.where('fingerprint', '=', filter.device.trim())
    return (await q.execute()).map(view)
  }

  /**
   * Every check a request must pass before it is fulfilled, in this order: the file and its kind;
   * the signature (the key registered for the device, or for a device new to this vendor the key
   * it carries); whether it was fulfilled before (then nothing else matters); its age; the vendor;
   * the device's link to the container (unknown, revoked, another device's container); the counter.
   */
  private async checkRequest(tx: Tx, text: string, maxAge: number, vendor: Vendor): Promise<CheckedRequest> {
    const peeked = peekOffline(text, 'REQUEST')
    const now = epochSeconds(this.ctx.clock)
    const fingerprint = typeof peeked.claims.sub === 'string' ? peeked.claims.sub : ''
    const serial = typeof peeked.claims.container === 'string' ? normalizeSerial(peeked.claims.container) : null
    const device = (await tx.selectFrom('devices').selectAll().where('fingerprint', '=', fingerprint).executeTakeFirst()) ?? null
    let keys: Map<string, KeyObject>
    if (serial !== null) {
      if (!device) {
        throw new LicadmError('UNKNOWN_DEVICE', ExitCode.unknownKey, `the request comes from device ${fingerprint}, which this vendor does not know: its signature cannot be checked`, {
          hint: `Activate the device on ${serial} first ("licadm device activate --container ${serial} --identity FILE"), or have it ask with "activation request --vendor CODE" for a new local container.`,
          details: {device: fingerprint, container: serial},
        })
      }
      keys = deviceKeys(device)
    } else {
      keys = requestKeys(peeked.claims)
      if (device && !keys.has(keyId(ed25519FromRaw(device.sign_key)))) {
        throw new VerificationError('unknown-key', `the request is signed by key ${String(peeked.header.kid)}, but device ${fingerprint} is registered with another key`, {
          hint: 'Two machines claim the same fingerprint, or the device was re-initialized; a re-initialized device needs a new fingerprint.',
          details: {device: fingerprint},
        })
      }
    }
    let claims: RequestClaims
    try {
      claims = verifyRequest(text, keys, now)
    } catch (error) {
      if (error instanceof VerificationError && error.reason === 'unknown-key') {
        throw new VerificationError('unknown-key', `the request is signed by key ${String(peeked.header.kid)}, not by the key registered for device ${fingerprint}`, {details: {device: fingerprint, kid: peeked.header.kid ?? null}})
      }
      throw error
    }
    const issued = (await tx.selectFrom('offline_updates').selectAll().where('request_jti', '=', claims.jti).executeTakeFirst()) ?? null
    // Request ids are no secret (updates, lists and the audit trail show them): the update goes back
    // only to the device it was issued to, whose registered key signed this request.
    if (issued && issued.fingerprint !== claims.sub) {
      throw new VerificationError('replayed', `request id ${claims.jti} was fulfilled for device ${issued.fingerprint}, not for device ${claims.sub} that signed this request`, {
        hint: 'A request id is used once: make a new request on the device ("licadm activation request").',
        details: {request: claims.jti, device: claims.sub},
      })
    }
    if (issued) return {claims, device, container: null, issued}
    const age = now - claims.iat
    if (age > maxAge) {
      throw new VerificationError('expired', `the ${claims.purpose === 'return' ? 'return' : 'activation'} request was made at ${isoSeconds(claims.iat)}, ${formatAge(age)} ago; requests older than ${formatDuration(maxAge)} are refused`, {
        hint: 'Ask the customer for a new request ("licadm activation request"), or pass a larger --max-age.',
        details: {iat: isoSeconds(claims.iat), maxAgeSeconds: maxAge},
      })
    }
    if (claims.vendor !== null && claims.vendor !== vendor.code) {
      throw new VerificationError('wrong-target', `the request is addressed to vendor ${claims.vendor}, not to this profile's vendor ${vendor.code}`, {details: {vendor: claims.vendor}})
    }
    if (serial === null) return {claims, device, container: null, issued: null}
    const container = await tx.selectFrom('containers').selectAll().where('serial', '=', serial).executeTakeFirst()
    if (!container) throw new NotFoundError('container', serial, {hint: 'The request names a container this profile does not have (another vendor profile?).'})
    const link = await tx.selectFrom('activations').select('state').where('serial', '=', serial).where('fingerprint', '=', fingerprint).executeTakeFirst()
    if (container.kind === 'local' && container.owner_fingerprint !== fingerprint) {
      throw new VerificationError('wrong-target', `container ${serial} is bound to device ${container.owner_fingerprint}, not to ${fingerprint} that made the request`, {details: {container: serial, device: fingerprint}})
    }
    if (container.kind !== 'local' && !link) {
      throw new VerificationError('wrong-target', `device ${fingerprint} is not activated on container ${serial}`, {details: {container: serial, device: fingerprint}})
    }
    if (link?.state === 'inactive') {
      throw new VerificationError('revoked', `device ${fingerprint} was deactivated on container ${serial}: its requests are refused`, {
        hint: `Activate it again first if it should have access ("licadm device activate --container ${serial} …").`,
        details: {container: serial, device: fingerprint},
      })
    }
    // Each device counts its own updates of the container (a cloud container serves several).
    const last = await tx.selectFrom('offline_updates').select(['jti', 'counter']).where('serial', '=', serial).where('fingerprint', '=', fingerprint).orderBy('counter', 'desc').executeTakeFirst()
    const issuedCounter = last?.counter ?? 0
    if (claims.counter < issuedCounter) {
      throw new VerificationError('out-of-order', `the request was made at counter ${claims.counter}, but update ${last!.jti} (counter ${issuedCounter}) was issued for container ${serial} since: the device must apply it first`, {
        hint: `Apply the missing update on the device (re-fulfilling its request, or "activation list --container ${serial}", shows it), then make a new request.`,
        details: {counter: claims.counter, issued: issuedCounter, update: last!.jti},
      })
    }
    if (claims.counter > issuedCounter) {
      throw new VerificationError('out-of-order', `the request claims counter ${claims.counter} for container ${serial}, but this vendor issued updates up to counter ${issuedCounter} only`, {
        hint: 'The device state does not come from this vendor profile, or was changed.',
        details: {counter: claims.counter, issued: issuedCounter},
      })
    }
    if (claims.purpose === 'return') {
      const holder = await tx.selectFrom('container_licenses').select('serial').where('license_id', '=', claims.license!).executeTakeFirst()
      if (holder?.serial !== serial) {
        throw new NotFoundError('license', claims.license!, {hint: `The return request gives back a license that is not in container ${serial}${holder ? ` (it is in ${holder.serial})` : ''}.`})
      }
    }
    return {claims, device, container, issued: null}
  }

  /** Signature (the device's registered key), the update it names, and the device it was issued to. */
  private async checkReceipt(text: string): Promise<{claims: ReceiptClaims; issued: OfflineUpdateTable}> {
    const peeked = peekOffline(text, 'RECEIPT')
    const fingerprint = typeof peeked.claims.sub === 'string' ? peeked.claims.sub : ''
    const db = this.ctx.store.db
    const device = await db.selectFrom('devices').selectAll().where('fingerprint', '=', fingerprint).executeTakeFirst()
    if (!device) {
      throw new LicadmError('UNKNOWN_DEVICE', ExitCode.unknownKey, `the receipt comes from device ${fingerprint}, which this vendor does not know: its signature cannot be checked`, {details: {device: fingerprint}})
    }
    let claims: ReceiptClaims
    try {
      claims = verifyReceipt(text, deviceKeys(device), epochSeconds(this.ctx.clock))
    } catch (error) {
      if (error instanceof VerificationError && error.reason === 'unknown-key') {
        throw new VerificationError('unknown-key', `the receipt is signed by key ${String(peeked.header.kid)}, not by the key registered for device ${fingerprint}`, {details: {device: fingerprint}})
      }
      throw error
    }
    const issued = await db.selectFrom('offline_updates').selectAll().where('jti', '=', claims.update).executeTakeFirst()
    if (!issued) {
      throw new LicadmError('UPDATE_NOT_ISSUED', ExitCode.notFound, `the receipt is for update ${claims.update}, which this vendor never issued`, {
        hint: 'The receipt belongs to another vendor profile, or the update it names was forged.',
        details: {update: claims.update, receipt: claims.jti},
      })
    }
    if (issued.fingerprint !== claims.sub) {
      throw new VerificationError('wrong-target', `update ${issued.jti} was issued to device ${issued.fingerprint}, but this receipt comes from device ${claims.sub}`, {details: {update: issued.jti, device: claims.sub}})
    }
    return {claims, issued}
  }

  private async replay(row: OfflineUpdateTable, input: NormalizedSelection, given: boolean): Promise<FulfillResult> {
    if (given && JSON.stringify(input) !== row.input) {
      throw new ConflictError('REQUEST_FULFILLED', `request ${row.request_jti} was fulfilled already, with other licenses (update ${row.jti})`, {
        hint: 'Run the command again without --license/--ticket/--product to get that update again; for more licenses, the device makes a new request after applying it.',
        details: {update: row.jti, request: row.request_jti},
      })
    }
    return {...view(row), file: row.file, replayed: true, containerCreated: false}
  }

  /** The licenses a container holds now (revoked ones are not handed out), with their signed files. */
  private async held(tx: Tx, serial: string): Promise<Array<{id: string; jws: string}>> {
    return tx
      .selectFrom('container_licenses')
      .innerJoin('licenses', 'licenses.id', 'container_licenses.license_id')
      .select(['licenses.id', 'licenses.jws'])
      .where('container_licenses.serial', '=', serial)
      .where('licenses.status', '!=', 'revoked')
      .orderBy('licenses.id')
      .execute()
  }

  /** The oldest available license of a product that is usable now: not in a container, not revoked or expired. */
  private async pickAvailable(tx: Tx, code: number, now: number): Promise<string> {
    const row = await tx
      .selectFrom('licenses')
      .select('id')
      .where('product_code', '=', code)
      .where('status', '=', 'available')
      .where('id', 'not in', tx.selectFrom('container_licenses').select('license_id'))
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .orderBy('created_at')
      .orderBy('id')
      .executeTakeFirst()
    if (!row) {
      throw new ConflictError('NO_AVAILABLE_LICENSE', `no license of product ${code} is available (every one is in a container, revoked or expired)`, {
        hint: `Issue one ("licadm license create --product ${code}") or free one.`,
        details: {product: code},
      })
    }
    return row.id
  }
}

interface NormalizedSelection {
  licenses: string[]
  tickets: string[]
  products: number[]
}

function normalizeSelection(s: FulfillSelection): NormalizedSelection {
  return {
    licenses: (s.licenses ?? []).map((l) => l.trim()).sort(),
    tickets: (s.tickets ?? []).map((t) => t.trim()).sort(),
    products: (s.products ?? []).map((p) => parseUint(p, '--product', LIMITS.code, {required: true})!).sort((a, b) => a - b),
  }
}

function deviceKeys(device: DeviceTable): Map<string, KeyObject> {
  const key = ed25519FromRaw(device.sign_key)
  return new Map([[keyId(key), key]])
}

/** How a receipt differs from the update as it was issued (empty when it matches). */
function receiptProblems(claims: ReceiptClaims, issued: OfflineUpdateTable): string[] {
  const problems: string[] = []
  if (normalizeSerial(claims.container) !== issued.serial) problems.push(`it names container ${claims.container}, the update was for ${issued.serial}`)
  if (claims.counter !== issued.counter) problems.push(`it reports counter ${claims.counter}, the update carried counter ${issued.counter}`)
  if (claims.updateHash !== issued.update_hash) problems.push('the update it applied is not the one issued (its content differs)')
  const expected = (JSON.parse(issued.holds) as string[]).sort()
  const holds = [...claims.holds].sort()
  const extra = holds.filter((id) => !expected.includes(id))
  const missing = expected.filter((id) => !holds.includes(id))
  if (extra.length > 0) problems.push(`it holds license(s) ${extra.join(', ')} that the update did not give`)
  if (missing.length > 0) problems.push(`it lacks license(s) ${missing.join(', ')} that the update gave`)
  return problems
}

function view(row: OfflineUpdateTable): OfflineUpdate {
  return {
    jti: row.jti,
    request: row.request_jti,
    purpose: row.purpose,
    device: row.fingerprint,
    container: row.serial,
    counter: row.counter,
    added: JSON.parse(row.added),
    removed: JSON.parse(row.removed),
    holds: JSON.parse(row.holds),
    state: row.state,
    issuedAt: Number(row.created_at),
    confirmedAt: row.confirmed_at === null ? null : Number(row.confirmed_at),
    receipt: row.receipt_jti,
    mismatch: row.mismatch,
  }
}

function formatAge(seconds: number): string {
  if (seconds >= 86_400) return `${Math.floor(seconds / 86_400)}d ${Math.floor((seconds % 86_400) / 3600)}h`
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`
  return `${Math.floor(seconds / 60)}m`
}
