import {epochSeconds} from '../domain/clock.js'
import {AuthError, ConflictError, NotFoundError, VerificationError} from '../domain/errors.js'
import {newId} from '../domain/ids.js'
import {normalizeSerial} from '../domain/container.js'
import {x25519PublicFromRaw} from '../crypto/jwe.js'
import {secretMatches} from '../crypto/secrets.js'
import type {Signer} from '../crypto/keys.js'
import type {Vendor} from '../formats/license.js'
import {encodeSaw, peekSaw, verifySaw, type SawClaims} from '../formats/saw.js'
import type {ContainerTable, DeviceTable} from '../store/schema.js'
import type {Tx} from '../store/store.js'
import {appendAudit} from './audit.js'
import type {ServiceContext} from './context.js'
import {assertActiveSigner, withActiveSigner} from './signer-check.js'
import {VendorService} from './vendor.js'

/** How long a SAW file can be applied, unless --expires says otherwise. */
export const DEFAULT_SAW_TTL_SECONDS = 7 * 86_400

export interface IssuedSaw {
  jti: string
  fingerprint: string
  deviceName: string
  serial: string
  generation: number
  expiresAt: number
  file: string
}

export interface SawIssuer {
  vendor: Vendor
  signer: Signer
}

export interface SawInspection {
  claims: Omit<SawClaims, 'cred'>
  /** "valid" or the reason it would be refused, as far as this profile can tell. */
  status: string
  reason?: string
  exitCode?: number
  usedAt?: number | null
}

/**
 * SAW files: the container's current secret, encrypted to one device, signed by the vendor, bound
 * to container, generation and device, with an expiry. Restoring a link consumes the SAW.
 */
export class SawService {
  private readonly vendor: VendorService

  constructor(private readonly ctx: ServiceContext) {
    this.vendor = new VendorService(ctx)
  }

  /**
   * The vendor and its signer, loaded before a transaction starts: the key may need a passphrase
   * typed by a person, and the write lock must not wait for that.
   */
  async issuer(): Promise<SawIssuer> {
    const [vendor, signer] = await Promise.all([this.vendor.get(), this.vendor.signer()])
    return {vendor, signer}
  }

  /**
   * Signs and records a SAW inside the caller's transaction. Refused with SigningKeyRetiredError when
   * the issuer's key was rotated out since it was loaded (the caller's transaction rolls back).
   */
  async issue(tx: Tx, issuer: SawIssuer, container: ContainerTable, device: DeviceTable, secret: string, ttlSeconds: number): Promise<IssuedSaw> {
    const {vendor, signer} = issuer
    await assertActiveSigner(tx, signer.kid)
    const now = epochSeconds(this.ctx.clock)
    const jti = newId('saw', this.ctx.clock.now())
    const expiresAt = now + ttlSeconds
    const file = encodeSaw(
      {iss: String(vendor.code), jti, iat: now, exp: expiresAt, sub: device.fingerprint, container: container.serial, containerKind: container.kind, gen: container.generation},
      secret,
      x25519PublicFromRaw(device.enc_key),
      signer,
    )
    await tx.insertInto('saws').values({jti, serial: container.serial, fingerprint: device.fingerprint, generation: container.generation, created_at: now, expires_at: expiresAt, used_at: null}).execute()
    await appendAudit(tx, this.ctx, {action: 'saw.issue', subject: `container:${container.serial}`, after: {jti, device: device.fingerprint, generation: container.generation, expiresAt}})
    return {jti, fingerprint: device.fingerprint, deviceName: device.name, serial: container.serial, generation: container.generation, expiresAt, file}
  }

  /** A SAW for one device, given the container's current secret (which licadm never stores). */
  async create(serialInput: string, fingerprint: string, secret: string, ttlSeconds = DEFAULT_SAW_TTL_SECONDS): Promise<IssuedSaw> {
    const serial = normalizeSerial(serialInput)
    // A key rotated between loading the signer and the transaction: signed with the new active key.
    return withActiveSigner(() => this.issuer(), (issuer) => this.ctx.store.write(async (tx) => {
      const container = await tx.selectFrom('containers').selectAll().where('serial', '=', serial).executeTakeFirst()
      if (!container) throw new NotFoundError('container', serial)
      if (container.secret_hash === null) {
        throw new ConflictError('NOT_A_CLOUD_CONTAINER', `container ${serial} is a local container: it has no credentials to hand out`)
      }
      if (!secretMatches(secret, container.secret_hash)) {
        throw new AuthError(`the secret given is not the current secret of container ${serial} (generation ${container.generation})`, {
          hint: 'Use the credentials printed by the last "container create" or "container reset-credentials".',
        })
      }
      const activation = await tx.selectFrom('activations').selectAll().where('serial', '=', serial).where('fingerprint', '=', fingerprint).executeTakeFirst()
      if (!activation || activation.state === 'inactive') {
        throw new ConflictError('DEVICE_NOT_ACTIVE', `device ${fingerprint} is not activated on container ${serial}`, {
          hint: `Activate it first: "licadm device activate --container ${serial} --identity FILE".`,
        })
      }
      if (activation.pending_removal === 1) {
        throw new ConflictError('DEVICE_PENDING_REMOVAL', `device ${fingerprint} belongs to a user who left the container's group; it gets no SAW`)
      }
      const device = await tx.selectFrom('devices').selectAll().where('fingerprint', '=', fingerprint).executeTakeFirstOrThrow()
      return this.issue(tx, issuer, container, device, secret, ttlSeconds)
    }))
  }

  /** What a SAW holds (never the secret) and whether this profile would accept it now. */
  async inspect(text: string): Promise<SawInspection> {
    const {cred: _secret, ...claims} = peekSaw(text)
    try {
      verifySaw(text, await this.vendor.verificationKeys(), epochSeconds(this.ctx.clock))
    } catch (error) {
      if (error instanceof VerificationError) return {claims, status: 'refused', reason: error.message, exitCode: error.exit}
      throw error
    }
    const row = await this.ctx.store.db.selectFrom('saws').select('used_at').where('jti', '=', claims.jti).executeTakeFirst()
    const container = await this.ctx.store.db.selectFrom('containers').select('generation').where('serial', '=', claims.container).executeTakeFirst()
    if (!row || !container) return {claims, status: 'unknown', reason: 'this profile did not issue it (another store or vendor profile?)'}
    if (row.used_at !== null) return {claims, status: 'used', reason: `already used at ${new Date(Number(row.used_at) * 1000).toISOString()}`, usedAt: Number(row.used_at)}
    if (container.generation !== claims.gen) {
      return {claims, status: 'superseded', reason: `the container's credentials were reset again (now generation ${container.generation}); this SAW is for generation ${claims.gen}`}
    }
    return {claims, status: 'valid', usedAt: null}
  }
}
