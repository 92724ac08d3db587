import {epochSeconds} from '../domain/clock.js'
import {isCloud, normalizeSerial, type ActivationState} from '../domain/container.js'
import {AuthError, ConflictError, InvalidValueError, LicadmError, ExitCode, NotFoundError} from '../domain/errors.js'
import {secretMatches} from '../crypto/secrets.js'
import {checkIdentity, type DeviceIdentity} from '../formats/device.js'
import type {ContainerTable, DeviceTable} from '../store/schema.js'
import type {Tx} from '../store/store.js'
import {appendAudit} from './audit.js'
import {ContainerService} from './containers.js'
import type {ServiceContext} from './context.js'
import {DirectoryService} from './directory.js'
import {DEFAULT_SAW_TTL_SECONDS, SawService, type IssuedSaw} from './saw.js'
import {withActiveSigner} from './signer-check.js'

export interface Activation {
  serial: string
  fingerprint: string
  state: ActivationState
  user: string | null
  generation: number
  /** False when the device was active already: re-activating is not a second slot. */
  changed: boolean
  saw?: IssuedSaw
}

export interface DeviceView {
  fingerprint: string
  name: string
  platform: string
  user: string | null
  createdAt: number
  activations: Array<{serial: string; kind: string; state: ActivationState; pendingRemoval: boolean; lastSeen: number | null}>
}

export interface AccessGrant {
  serial: string
  kind: string
  generation: number
  restored: boolean
  licenses: Array<{id: string; productCode: number; kind: string; quantity: number; features: number; expiresAt: number | null}>
}

const FINGERPRINT = /^[A-Za-z0-9._:-]{4,128}$/

export function checkFingerprint(fp: string, flag = '--fingerprint'): string {
  const v = fp.trim()
  if (!FINGERPRINT.test(v)) throw new InvalidValueError(flag, `"${fp}" is not a device fingerprint (4-128 letters, digits, '.', '_', ':' or '-')`)
  return v
}

/** Devices and their links (activations) to containers. */
export class DeviceService {
  private readonly containers: ContainerService
  private readonly directory: DirectoryService
  private readonly saws: SawService

  constructor(private readonly ctx: ServiceContext) {
    this.containers = new ContainerService(ctx)
    this.directory = new DirectoryService(ctx)
    this.saws = new SawService(ctx)
  }

  /**
   * Links a device to a container. The device limit is checked and the link written in one write
   * transaction, so concurrent activations can never exceed it. Re-activating an active device
   * changes nothing.
   *
   * The user is the activation's user. On the vendor's authority it becomes the device's user too
   * (an audited change); `asGroup` (a group's id: its admin acts, the server sets it) never changes
   * a known device's record, which other groups' containers may share, and refuses a fingerprint
   * known with other keys in the same words whether or not the group has seen that device.
   */
  async activate(serialInput: string, identityInput: DeviceIdentity, options: {user?: string; secret?: string; sawTtlSeconds?: number; asGroup?: string} = {}): Promise<Activation> {
    const serial = normalizeSerial(serialInput)
    const checked = checkIdentity(identityInput)
    const fingerprint = checkFingerprint(checked.fingerprint)
    const identity = {...checked, fingerprint}
    const now = epochSeconds(this.ctx.clock)
    // A key rotated between loading the signer and the transaction: the SAW is signed with the new active key.
    const load = async () => (options.secret === undefined ? null : await this.saws.issuer())
    return withActiveSigner(load, (issuer) => this.ctx.store.write(async (tx) => {
      const container = await this.containers.row(serial, tx)
      const user = options.user === undefined ? null : await this.directory.user(options.user, tx)
      const {device, ownerBefore} = await this.register(tx, identity, user?.id ?? null, now, {keepOwner: options.asGroup !== undefined})
      // The device's user changed (the vendor acts): the activation's audit event records it.
      const owner = ownerBefore === undefined ? {} : {before: {owner: await this.emailOf(tx, ownerBefore)}, after: {owner: user?.email ?? null}}
      if (options.secret !== undefined && !secretMatches(options.secret, container.secret_hash)) {
        throw new AuthError(`the secret given is not the current secret of container ${serial}`, {hint: 'Use the credentials of the last "container create" or "container reset-credentials".'})
      }
      await this.checkOwner(tx, container, fingerprint, user)
      const existing = await tx.selectFrom('activations').selectAll().where('serial', '=', serial).where('fingerprint', '=', fingerprint).executeTakeFirst()
      if (existing && existing.state !== 'inactive') {
        const same: Activation = {serial, fingerprint, state: existing.state, user: user?.email ?? null, generation: existing.generation, changed: false}
        if (owner.before) await appendAudit(tx, this.ctx, {action: 'device.activate', subject: `container:${serial}`, before: {device: fingerprint, state: existing.state, ...owner.before}, after: {device: fingerprint, state: existing.state, ...owner.after}})
        if (issuer) same.saw = await this.saws.issue(tx, issuer, container, device, options.secret!, options.sawTtlSeconds ?? DEFAULT_SAW_TTL_SECONDS)
        return same
      }
      await this.checkLimit(tx, container)
      const values = {state: 'active' as const, user_id: user?.id ?? device.user_id, pending_removal: 0, activated_at: now, deactivated_at: null, generation: container.generation}
      if (existing) await tx.updateTable('activations').set(values).where('serial', '=', serial).where('fingerprint', '=', fingerprint).execute()
      else await tx.insertInto('activations').values({serial, fingerprint, last_seen: null, ...values}).execute()
      const before = existing || owner.before ? {...(existing ? {state: existing.state} : {}), ...owner.before} : undefined
      await appendAudit(tx, this.ctx, {action: 'device.activate', subject: `container:${serial}`, before, after: {device: fingerprint, user: user?.email, state: 'active', ...owner.after}})
      const activation: Activation = {serial, fingerprint, state: 'active', user: user?.email ?? null, generation: container.generation, changed: true}
      if (issuer) activation.saw = await this.saws.issue(tx, issuer, container, device, options.secret!, options.sawTtlSeconds ?? DEFAULT_SAW_TTL_SECONDS)
      return activation
    }))
  }

  /**
   * Records the device, or checks that a known fingerprint still comes with the same keys. A known
   * device takes the user given as its user, unless `keepOwner` (a group's admin acts: the device may
   * be on other groups' containers too); `ownerBefore` is set when its user changed.
   */
  async register(tx: Tx, identity: DeviceIdentity, userId: string | null, now: number, options: {keepOwner?: boolean} = {}): Promise<{device: DeviceTable; ownerBefore?: string | null}> {
    const known = await tx.selectFrom('devices').selectAll().where('fingerprint', '=', identity.fingerprint).executeTakeFirst()
    if (known) {
      if (known.sign_key !== identity.signKey || known.enc_key !== identity.encKey) {
        // A group's admin is not told that the fingerprint is registered, nor where: the same words
        // whether the device is on its group's containers or not.
        if (options.keepOwner) {
          throw new ConflictError('DEVICE_KEYS_DIFFER', `device ${identity.fingerprint} cannot be activated here: its identity does not match`, {
            hint: 'The public keys given are not the ones this fingerprint goes with. Check the device; a re-initialized device needs a new fingerprint.',
          })
        }
        throw new ConflictError('DEVICE_KEYS_DIFFER', `device ${identity.fingerprint} is registered with other public keys`, {
          hint: 'Two machines claim the same fingerprint, or the device was re-initialized. Check the device; a re-initialized device needs a new fingerprint.',
        })
      }
      if (options.keepOwner || userId === null || known.user_id === userId) return {device: known}
      await tx.updateTable('devices').set({user_id: userId}).where('fingerprint', '=', known.fingerprint).execute()
      return {device: {...known, user_id: userId}, ownerBefore: known.user_id}
    }
    const row: DeviceTable = {fingerprint: identity.fingerprint, name: identity.name, platform: identity.platform, sign_key: identity.signKey, enc_key: identity.encKey, user_id: userId, created_at: now}
    await tx.insertInto('devices').values(row).execute()
    return {device: row}
  }

  private async emailOf(tx: Tx, userId: string | null): Promise<string | null> {
    if (userId === null) return null
    return (await tx.selectFrom('users').select('email').where('id', '=', userId).executeTakeFirst())?.email ?? null
  }

  private async checkOwner(tx: Tx, container: ContainerTable, fingerprint: string, user: {id: string; email: string} | null): Promise<void> {
    if (container.kind === 'local' && container.owner_fingerprint !== fingerprint) {
      throw new ConflictError('WRONG_DEVICE', `container ${container.serial} is bound to device ${container.owner_fingerprint}, not ${fingerprint}`)
    }
    if (container.kind === 'enterprise') {
      if (container.owner_group_id === null) {
        throw new ConflictError('CONTAINER_UNASSIGNED', `container ${container.serial} is not assigned to a group yet`, {hint: `Run "licadm container assign ${container.serial} --group NAME".`})
      }
      if (user === null) throw new LicadmError('USAGE', ExitCode.usage, 'an enterprise container accepts devices of its group\'s members: give --user EMAIL', {details: {flag: '--user'}})
      if (!(await this.directory.isMember(tx, container.owner_group_id, user.id))) {
        throw new ConflictError('NOT_A_MEMBER', `${user.email} is not a member of the group that holds container ${container.serial}`, {
          hint: 'Add them to the group first ("licadm group add-member GROUP EMAIL").',
        })
      }
    }
    if (container.kind === 'personal' && user !== null && container.owner_user_id !== null && container.owner_user_id !== user.id) {
      throw new ConflictError('NOT_THE_OWNER', `container ${container.serial} belongs to another user than ${user.email}`)
    }
  }

  private async checkLimit(tx: Tx, container: ContainerTable): Promise<void> {
    const limit = container.kind === 'local' ? 1 : container.max_devices
    if (limit === null) return
    // Stale links hold their slot: their devices get it back when they apply their SAW.
    const holders = await tx
      .selectFrom('activations')
      .innerJoin('devices', 'devices.fingerprint', 'activations.fingerprint')
      .select(['activations.fingerprint', 'devices.name', 'activations.state'])
      .where('activations.serial', '=', container.serial)
      .where('activations.state', '!=', 'inactive')
      .execute()
    if (holders.length >= limit) {
      throw new ConflictError('DEVICE_LIMIT_REACHED', `container ${container.serial} is active on ${holders.length} of ${limit} device(s): ${holders.map((h) => `${h.name} (${h.fingerprint})`).join(', ')}`, {
        hint: `Free a slot with "licadm device deactivate --container ${container.serial} FINGERPRINT".`,
        details: {limit, devices: holders},
      })
    }
  }

  /** Unlinks a device: its slot is free at once, and its credential is refused from now on. */
  async deactivate(serialInput: string, fingerprint: string): Promise<{serial: string; fingerprint: string; changed: boolean}> {
    const serial = normalizeSerial(serialInput)
    return this.ctx.store.write(async (tx) => {
      await this.containers.row(serial, tx)
      const link = await tx.selectFrom('activations').select('state').where('serial', '=', serial).where('fingerprint', '=', fingerprint).executeTakeFirst()
      if (!link) throw new NotFoundError('activation', `${fingerprint} on ${serial}`, {hint: `Run "licadm container show ${serial}" to see its devices.`})
      if (link.state === 'inactive') return {serial, fingerprint, changed: false}
      await tx.updateTable('activations').set({state: 'inactive', deactivated_at: epochSeconds(this.ctx.clock), pending_removal: 0}).where('serial', '=', serial).where('fingerprint', '=', fingerprint).execute()
      await appendAudit(tx, this.ctx, {action: 'device.deactivate', subject: `container:${serial}`, before: {device: fingerprint, state: link.state}, after: {state: 'inactive'}})
      return {serial, fingerprint, changed: true}
    })
  }

  /**
   * Devices by name. `group` (name or id) keeps the devices activated on that group's containers and
   * shows only those activations, each device with the user of its activations there, never the
   * device's own record of its user: a group's admin does not learn of other groups' containers or
   * users. With `group`, `user` means the user of those activations; `membersOnly` (a group admin's
   * view) looks it up among that group's members only: anyone else, known or not, matches nothing.
   */
  async list(filter: {container?: string; user?: string; group?: string; membersOnly?: boolean} = {}): Promise<DeviceView[]> {
    const db = this.ctx.store.db
    let q = db.selectFrom('devices').selectAll().orderBy('name').orderBy('fingerprint')
    const serial = filter.container ? normalizeSerial(filter.container) : undefined
    let userId: string | undefined
    if (filter.user) {
      if (filter.membersOnly && filter.group !== undefined) {
        const member = await this.directory.member((await this.directory.group(filter.group)).id, filter.user)
        if (!member) return []
        userId = member.id
      } else userId = (await this.directory.user(filter.user)).id
    }
    if (serial) q = q.where('fingerprint', 'in', db.selectFrom('activations').select('fingerprint').where('serial', '=', serial))
    const groupId = filter.group === undefined ? undefined : (await this.directory.group(filter.group)).id
    if (groupId !== undefined) {
      q = q.where(
        'fingerprint',
        'in',
        db
          .selectFrom('activations')
          .innerJoin('containers', 'containers.serial', 'activations.serial')
          .select('activations.fingerprint')
          .where('containers.owner_group_id', '=', groupId)
          .$if(userId !== undefined, (sub) => sub.where('activations.user_id', '=', userId!).$if(serial !== undefined, (s2) => s2.where('activations.serial', '=', serial!))),
      )
    } else if (userId !== undefined) q = q.where('user_id', '=', userId)
    const rows = await q.execute()
    return Promise.all(rows.map((r) => this.view(r, groupId)))
  }

  async show(fingerprint: string): Promise<DeviceView> {
    const row = await this.ctx.store.db.selectFrom('devices').selectAll().where('fingerprint', '=', fingerprint.trim()).executeTakeFirst()
    if (!row) throw new NotFoundError('device', fingerprint, {hint: 'Run "licadm device list" to see the devices.'})
    return this.view(row)
  }

  /**
   * A device as the vendor sees it, or (`groupId`) as that group's admin does: its links to the
   * group's containers only, and as its user the user of those links (the latest active or stale
   * one, else the latest), not the device's record, which another group may have set.
   */
  private async view(row: DeviceTable, groupId?: string): Promise<DeviceView> {
    const db = this.ctx.store.db
    let linksQuery = db
      .selectFrom('activations')
      .innerJoin('containers', 'containers.serial', 'activations.serial')
      .select(['activations.serial', 'containers.kind', 'activations.state', 'activations.pending_removal', 'activations.last_seen', 'activations.user_id', 'activations.activated_at'])
      .where('activations.fingerprint', '=', row.fingerprint)
    if (groupId !== undefined) linksQuery = linksQuery.where('containers.owner_group_id', '=', groupId)
    const links = await linksQuery.orderBy('activations.serial').execute()
    let userId = row.user_id
    if (groupId !== undefined) {
      const latest = [...links].sort((a, b) => Number(a.state === 'inactive') - Number(b.state === 'inactive') || Number(b.activated_at) - Number(a.activated_at))[0]
      userId = latest?.user_id ?? null
    }
    const user = userId === null ? undefined : await db.selectFrom('users').select('email').where('id', '=', userId).executeTakeFirst()
    return {
      fingerprint: row.fingerprint,
      name: row.name,
      platform: row.platform,
      user: user?.email ?? null,
      createdAt: Number(row.created_at),
      activations: links.map((l) => ({serial: l.serial, kind: l.kind, state: l.state, pendingRemoval: l.pending_removal === 1, lastSeen: l.last_seen === null ? null : Number(l.last_seen)})),
    }
  }

  /**
   * A device uses its container: the secret must be the current one and the link not inactive. A
   * stale link (after a reset) is restored by the first use of the new secret, and only if this
   * device was given a SAW for this generation that is unused and unexpired: the SAW is consumed.
   * `saw` names the SAW the device applied (from its state), which is then marked used too.
   */
  async access(serialInput: string, fingerprint: string, secret: string, options: {saw?: string} = {}): Promise<AccessGrant> {
    const serial = normalizeSerial(serialInput)
    const now = epochSeconds(this.ctx.clock)
    return this.ctx.store.write(async (tx) => {
      const container = await this.containers.row(serial, tx)
      if (!isCloud(container.kind)) throw new ConflictError('NOT_A_CLOUD_CONTAINER', `container ${serial} is local: it is used offline, not with credentials`)
      const link = await tx.selectFrom('activations').selectAll().where('serial', '=', serial).where('fingerprint', '=', fingerprint).executeTakeFirst()
      if (!link || link.state === 'inactive') {
        throw new AuthError(`device ${fingerprint} is not activated on container ${serial}`, {hint: 'Ask your administrator to activate this device.'})
      }
      if (!secretMatches(secret, container.secret_hash)) {
        throw new AuthError(`the credential for container ${serial} was refused: it is not the current one (generation ${container.generation})`, {
          hint: 'The credentials were reset. Apply the SAW file your administrator gives you ("licadm saw apply FILE").',
        })
      }
      let restored = false
      if (link.state === 'stale') {
        const saw = await tx
          .selectFrom('saws')
          .select(['jti', 'expires_at'])
          .where('serial', '=', serial)
          .where('fingerprint', '=', fingerprint)
          .where('generation', '=', container.generation)
          .where('used_at', 'is', null)
          .$if(options.saw !== undefined, (q) => q.where('jti', '=', options.saw!))
          .orderBy('created_at', 'desc')
          .executeTakeFirst()
        if (!saw) throw new AuthError(`device ${fingerprint} was not given access after the last credential reset of ${serial}`, {hint: 'Ask your administrator for a SAW file for this device.'})
        if (Number(saw.expires_at) <= now) throw new AuthError(`the SAW file for device ${fingerprint} expired before it was used`, {hint: 'Ask your administrator for a new SAW file ("licadm saw create").'})
        await tx.updateTable('saws').set({used_at: now}).where('jti', '=', saw.jti).execute()
        await appendAudit(tx, this.ctx, {action: 'saw.restore', subject: `container:${serial}`, before: {device: fingerprint, state: 'stale'}, after: {state: 'active', saw: saw.jti, generation: container.generation}})
        restored = true
      } else if (options.saw !== undefined) {
        // The device applied a SAW while its link was active (one given at activation): it is used
        // now, so that "saw inspect" says so and it can never restore a link later.
        const saw = await tx.selectFrom('saws').select(['jti', 'generation']).where('jti', '=', options.saw).where('serial', '=', serial).where('fingerprint', '=', fingerprint).where('used_at', 'is', null).executeTakeFirst()
        if (saw) {
          await tx.updateTable('saws').set({used_at: now}).where('jti', '=', saw.jti).execute()
          await appendAudit(tx, this.ctx, {action: 'saw.use', subject: `container:${serial}`, after: {device: fingerprint, saw: saw.jti, generation: saw.generation}})
        }
      }
      await tx.updateTable('activations').set({state: 'active', generation: container.generation, last_seen: now}).where('serial', '=', serial).where('fingerprint', '=', fingerprint).execute()
      const licenses = await tx
        .selectFrom('container_licenses')
        .innerJoin('licenses', 'licenses.id', 'container_licenses.license_id')
        .select(['licenses.id', 'licenses.product_code', 'licenses.kind', 'licenses.quantity', 'licenses.features', 'licenses.expires_at'])
        .where('container_licenses.serial', '=', serial)
        .where('licenses.status', '!=', 'revoked')
        .execute()
      return {
        serial,
        kind: container.kind,
        generation: container.generation,
        restored,
        licenses: licenses.map((l) => ({id: l.id, productCode: Number(l.product_code), kind: l.kind, quantity: l.quantity, features: Number(l.features), expiresAt: l.expires_at === null ? null : Number(l.expires_at)})),
      }
    })
  }
}
