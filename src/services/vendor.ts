import {createPublicKey, type KeyObject} from 'node:crypto'
import {rmSync} from 'node:fs'

import {epochSeconds} from '../domain/clock.js'
import {ConflictError, LicadmError, ExitCode, NotFoundError} from '../domain/errors.js'
import {LIMITS} from '../domain/license.js'
import {parseText, parseUint} from '../domain/values.js'
import {generateSigningKey, keyId, publicJwk, publicKeyPem, type PublicJwk, type Signer} from '../crypto/keys.js'
import type {Vendor} from '../formats/license.js'
import {appendAudit} from './audit.js'
import type {ServiceContext} from './context.js'

export interface VendorKey {
  kid: string
  status: 'active' | 'retired'
  createdAt: number
  retiredAt: number | null
  /** Whether this machine holds the private key (a retired key's file may be deleted). */
  hasPrivateKey: boolean
}

export interface KeyExport {
  kid: string
  status: 'active' | 'retired'
  pem: string
  jwk: PublicJwk
}

/** Where a vendor's code and name were given (flags or seed fields), for refusals. */
export interface VendorLabels {
  code: string
  name: string
}

/** A vendor code and name checked: the code in range, the name 1 to 200 characters once trimmed. */
export function vendorIdentity(code: unknown, name: unknown, labels: VendorLabels = {code: '--vendor-code', name: '--name'}): Vendor {
  const checkedCode = parseUint(code, labels.code, LIMITS.code, {required: true})!
  return {code: checkedCode, name: parseText(name, labels.name, {required: true})!}
}

/** The vendor of a profile and its signing keys. */
export class VendorService {
  constructor(private readonly ctx: ServiceContext) {}

  /** Creates the vendor and its first key in an empty store. */
  /** `labels` name the code and name in refusals (the flags or seed fields they came from). */
  async init(input: {code: unknown; name: string; passphrase?: string}, labels?: VendorLabels): Promise<Vendor & {kid: string; keyPath: string}> {
    const {code, name} = vendorIdentity(input.code, input.name, labels)
    const now = epochSeconds(this.ctx.clock)
    const {privateKey, publicKey} = generateSigningKey()
    const kid = keyId(publicKey)
    const keyPath = this.ctx.keys.save(kid, privateKey, input.passphrase)
    // The key file exists before the store records it; if the store refuses, the file goes too.
    await this.ctx.store.write(async (tx) => {
      const existing = await tx.selectFrom('vendor').select('code').executeTakeFirst()
      if (existing) throw new ConflictError('VENDOR_EXISTS', `this store already belongs to vendor ${existing.code}`)
      await tx.insertInto('vendor').values({id: 1, code, name, created_at: now}).execute()
      await tx.insertInto('vendor_keys').values({kid, public_pem: publicKeyPem(publicKey), status: 'active', created_at: now, retired_at: null}).execute()
      await appendAudit(tx, this.ctx, {action: 'vendor.init', subject: `vendor:${code}`, after: {name, kid}})
    }).catch((error: unknown) => {
      rmSync(keyPath, {force: true})
      throw error
    })
    return {code, name, kid, keyPath}
  }

  async get(): Promise<Vendor> {
    const row = await this.ctx.store.db.selectFrom('vendor').select(['code', 'name']).executeTakeFirst()
    if (!row) {
      throw new LicadmError('PROFILE_NOT_INITIALIZED', ExitCode.notFound, 'this profile has no vendor yet', {
        hint: 'Run "licadm init" first.',
      })
    }
    return {code: Number(row.code), name: row.name}
  }

  async listKeys(): Promise<VendorKey[]> {
    const rows = await this.ctx.store.db.selectFrom('vendor_keys').selectAll().orderBy('status').orderBy('created_at', 'desc').execute()
    return rows.map((r) => ({
      kid: r.kid,
      status: r.status,
      createdAt: Number(r.created_at),
      retiredAt: r.retired_at === null ? null : Number(r.retired_at),
      hasPrivateKey: this.ctx.keys.has(r.kid),
    }))
  }

  async activeKid(): Promise<string> {
    const row = await this.ctx.store.db.selectFrom('vendor_keys').select('kid').where('status', '=', 'active').executeTakeFirst()
    if (!row) throw new LicadmError('NO_ACTIVE_KEY', ExitCode.notFound, 'this profile has no active signing key', {hint: 'Run "licadm init" or "licadm key rotate".'})
    return row.kid
  }

  async signer(): Promise<Signer> {
    return this.ctx.keys.signer(await this.activeKid())
  }

  /** Every key that verifies this vendor's artifacts: the active one and the retired ones kept. */
  async verificationKeys(): Promise<Map<string, KeyObject>> {
    const rows = await this.ctx.store.db.selectFrom('vendor_keys').select(['kid', 'public_pem']).execute()
    return new Map(rows.map((r) => [r.kid, createPublicKey(r.public_pem)]))
  }

  async exportKey(kid?: string): Promise<KeyExport[]> {
    // The active key first, then retired keys newest first (rotations can share a second).
    const rows = await this.ctx.store.db.selectFrom('vendor_keys').selectAll().orderBy('status').orderBy('created_at', 'desc').execute()
    const chosen = kid ? rows.filter((r) => r.kid === kid) : rows
    if (kid && chosen.length === 0) throw new NotFoundError('key', kid)
    return chosen.map((r) => {
      const key = createPublicKey(r.public_pem)
      return {kid: r.kid, status: r.status, pem: publicKeyPem(key), jwk: publicJwk(key)}
    })
  }

  /**
   * Starts signing with a new key. The old key stays as retired, so everything it signed still
   * verifies until it is removed.
   */
  async rotate(passphrase?: string): Promise<{kid: string; retired: string[]}> {
    const now = epochSeconds(this.ctx.clock)
    const {privateKey, publicKey} = generateSigningKey()
    const kid = keyId(publicKey)
    this.ctx.keys.save(kid, privateKey, passphrase)
    const retired = await this.ctx.store.write(async (tx) => {
      const old = await tx.selectFrom('vendor_keys').select('kid').where('status', '=', 'active').execute()
      await tx.updateTable('vendor_keys').set({status: 'retired', retired_at: now}).where('status', '=', 'active').execute()
      await tx.insertInto('vendor_keys').values({kid, public_pem: publicKeyPem(publicKey), status: 'active', created_at: now, retired_at: null}).execute()
      await appendAudit(tx, this.ctx, {action: 'key.rotate', subject: `key:${kid}`, before: {active: old.map((r) => r.kid)}, after: {active: kid}})
      return old.map((r) => r.kid)
    })
    return {kid, retired}
  }

  /** Removes a retired key: what it signed no longer verifies with this profile. */
  async removeKey(kid: string): Promise<void> {
    await this.ctx.store.write(async (tx) => {
      const row = await tx.selectFrom('vendor_keys').select('status').where('kid', '=', kid).executeTakeFirst()
      if (!row) throw new NotFoundError('key', kid)
      if (row.status === 'active') {
        throw new ConflictError('KEY_ACTIVE', `key ${kid} is the active signing key and cannot be removed`, {hint: 'Run "licadm key rotate" first.'})
      }
      await tx.deleteFrom('vendor_keys').where('kid', '=', kid).execute()
      await appendAudit(tx, this.ctx, {action: 'key.remove', subject: `key:${kid}`, before: {status: 'retired'}})
    })
  }
}
