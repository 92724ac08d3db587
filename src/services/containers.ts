import {epochSeconds} from '../domain/clock.js'
import {
  checkLicenseFits,
  DEFAULT_MAX_DEVICES,
  isCloud,
  MAX_DEVICES_RANGE,
  newSerial,
  normalizeSerial,
  parseContainerKind,
  parseSerial,
  type ActivationState,
  type ContainerKind,
} from '../domain/container.js'
import {AuthError, ConflictError, InvalidValueError, NotFoundError, UsageError} from '../domain/errors.js'
import {validityAt} from '../domain/license.js'
import {parseUint} from '../domain/values.js'
import {hashSecret, isSecret, newSecret, secretMatches} from '../crypto/secrets.js'
import type {Principal} from '../domain/tokens.js'
import type {ContainerTable, LicenseTable} from '../store/schema.js'
import type {Tx} from '../store/store.js'
import {appendAudit} from './audit.js'
import {findLicenseRow} from './licenses.js'
import type {ServiceContext} from './context.js'
import {DirectoryService} from './directory.js'
import {DEFAULT_SAW_TTL_SECONDS, SawService, type IssuedSaw} from './saw.js'
import {withActiveSigner} from './signer-check.js'

export interface Container {
  serial: string
  kind: ContainerKind
  owner: {user: {id: string; email: string} | null; group: {id: string; name: string} | null; fingerprint: string | null}
  maxDevices: number | null
  generation: number
  updateCounter: number
  createdAt: number
}

export interface ContainerDetails extends Container {
  licenses: Array<{id: string; productCode: number; kind: string; quantity: number; status: string; validity: string; expiresAt: number | null}>
  devices: Array<{
    fingerprint: string
    name: string
    platform: string
    user: string | null
    state: ActivationState
    pendingRemoval: boolean
    generation: number
    activatedAt: number
    lastSeen: number | null
  }>
}

/** The container's access credentials, shown once: licadm keeps only a hash. */
export interface Credentials {
  container: string
  kind: ContainerKind
  generation: number
  secret: string
}

export interface ResetResult {
  credentials: Credentials
  saws: IssuedSaw[]
  leftOut: Array<{fingerprint: string; name: string; user: string | null; reason: string}>
  staled: number
}

/** Compared with when a credential names no container (a hash that no secret has). */
const DUMMY_SECRET_HASH = '0'.repeat(64)

export class ContainerService {
  private readonly directory: DirectoryService
  private readonly saws: SawService

  constructor(private readonly ctx: ServiceContext) {
    this.directory = new DirectoryService(ctx)
    this.saws = new SawService(ctx)
  }

  /**
   * Creates a container; a cloud container gets its credentials. `serial` and `secret` are chosen by
   * the caller only for fixtures (a seed file), so that a test knows the credential in advance.
   */
  async create(input: {kind: string; user?: string; group?: string; device?: string; maxDevices?: unknown; serial?: string; secret?: string}): Promise<{container: Container; credentials: Credentials | null}> {
    const kind = parseContainerKind(input.kind)
    if (kind !== 'personal' && input.maxDevices !== undefined) throw new InvalidValueError('--max-devices', 'applies to personal containers only')
    if (kind !== 'personal' && input.user !== undefined) throw new InvalidValueError('--user', `a ${kind} container is not owned by a user${kind === 'enterprise' ? ': use --group' : ': use --device'}`)
    if (kind !== 'enterprise' && input.group !== undefined) throw new InvalidValueError('--group', `a ${kind} container is not owned by a group${kind === 'personal' ? ': use --user' : ': use --device'}`)
    if (kind !== 'local' && input.device !== undefined) throw new InvalidValueError('--device', 'only a local container is bound to a device fingerprint')
    if (kind === 'local' && input.device === undefined) throw new UsageError('a local container is bound to one device: give --device FINGERPRINT', {details: {flag: '--device'}})
    const maxDevices = kind === 'personal' ? parseUint(input.maxDevices ?? DEFAULT_MAX_DEVICES, '--max-devices', MAX_DEVICES_RANGE, {required: true})! : null
    if (input.secret !== undefined && !isCloud(kind)) throw new InvalidValueError('secret', 'a local container has no credentials')
    if (input.secret !== undefined && !isSecret('lcs', input.secret)) throw new InvalidValueError('secret', 'a container secret is lcs_ and 43 base64url characters (32 random bytes)')
    const secret = isCloud(kind) ? (input.secret ?? newSecret('lcs')) : null
    const serial = input.serial === undefined ? newSerial(kind) : parseSerial(input.serial, kind)
    await this.ctx.store.write(async (tx) => {
      if (input.serial !== undefined && (await tx.selectFrom('containers').select('serial').where('serial', '=', serial).executeTakeFirst())) {
        throw new ConflictError('CONTAINER_EXISTS', `container ${serial} exists already`, {details: {serial}})
      }
      const user = input.user === undefined ? null : await this.directory.user(input.user, tx)
      const group = input.group === undefined ? null : await this.directory.group(input.group, tx)
      await this.insert(tx, {serial, kind, user, group, device: input.device?.trim() ?? null, maxDevices, secretHash: secret === null ? null : hashSecret(secret)})
    })
    return {container: await this.get(serial), credentials: secret === null ? null : {container: serial, kind, generation: 1, secret}}
  }

  /** Inserts a new container (generation 1, counter 0) and its audit event inside the caller's transaction. */
  async insert(
    tx: Tx,
    c: {serial: string; kind: ContainerKind; user: {id: string; email: string} | null; group: {id: string; name: string} | null; device: string | null; maxDevices: number | null; secretHash: string | null},
  ): Promise<ContainerTable> {
    const row: ContainerTable = {
      serial: c.serial,
      kind: c.kind,
      owner_user_id: c.user?.id ?? null,
      owner_group_id: c.group?.id ?? null,
      owner_fingerprint: c.device,
      max_devices: c.maxDevices,
      secret_hash: c.secretHash,
      generation: 1,
      update_counter: 0,
      created_at: epochSeconds(this.ctx.clock),
    }
    await tx.insertInto('containers').values(row).execute()
    await appendAudit(tx, this.ctx, {action: 'container.create', subject: `container:${c.serial}`, after: {kind: c.kind, user: c.user?.email, group: c.group?.name, device: c.device ?? undefined, maxDevices: c.maxDevices}})
    return row
  }

  /**
   * Containers with counts: `devices` hold a slot (active, or stale until they apply their SAW: what
   * the device limit counts), `activeDevices` are active now. `membersOnly` (with `group`: a group
   * admin's view) looks `user` up among that group's members only: anyone else, known or not,
   * matches nothing.
   */
  async list(filter: {kind?: string; user?: string; group?: string; membersOnly?: boolean} = {}): Promise<Array<Container & {licenses: number; devices: number; activeDevices: number}>> {
    const db = this.ctx.store.db
    let q = db.selectFrom('containers').selectAll().orderBy('created_at').orderBy('serial')
    if (filter.kind) q = q.where('kind', '=', parseContainerKind(filter.kind))
    if (filter.membersOnly && filter.group) {
      const group = await this.directory.group(filter.group)
      if (filter.user) {
        const member = await this.directory.member(group.id, filter.user)
        if (!member) return []
        q = q.where('owner_user_id', '=', member.id)
      }
      q = q.where('owner_group_id', '=', group.id)
    } else {
      if (filter.user) q = q.where('owner_user_id', '=', (await this.directory.user(filter.user)).id)
      if (filter.group) q = q.where('owner_group_id', '=', (await this.directory.group(filter.group)).id)
    }
    const rows = await q.execute()
    const licenseCounts = new Map((await db.selectFrom('container_licenses').select(['serial', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('serial').execute()).map((r) => [r.serial, Number(r.n)]))
    const links = await db.selectFrom('activations').select(['serial', 'state', (eb) => eb.fn.countAll<number>().as('n')]).where('state', '!=', 'inactive').groupBy(['serial', 'state']).execute()
    const count = (serial: string, states: string[]) => links.filter((r) => r.serial === serial && states.includes(r.state)).reduce((n, r) => n + Number(r.n), 0)
    const out = []
    for (const row of rows) out.push({...(await this.toContainer(row)), licenses: licenseCounts.get(row.serial) ?? 0, devices: count(row.serial, ['active', 'stale']), activeDevices: count(row.serial, ['active'])})
    return out
  }

  async row(serialInput: string, tx: Tx = this.ctx.store.db): Promise<ContainerTable> {
    const serial = normalizeSerial(serialInput)
    const row = await tx.selectFrom('containers').selectAll().where('serial', '=', serial).executeTakeFirst()
    if (!row) throw new NotFoundError('container', serial, {hint: 'Run "licadm container list" to see the containers.'})
    return row
  }

  /**
   * Who presents a container credential (`<serial>:<secret>`) on the license server's seat API: an
   * enterprise container, with its current secret. The secret's hash is compared with the stored one
   * in constant time; after a credential reset only the new secret works, so a departed user's
   * device loses its seats with its link. Refusals are AuthErrors (401, `details.reason`).
   */
  async seatPrincipal(serialInput: string, secret: string): Promise<Principal> {
    const serial = normalizeSerial(serialInput)
    const row = await this.ctx.store.db
      .selectFrom('containers')
      .leftJoin('groups', 'groups.id', 'containers.owner_group_id')
      .select(['containers.kind', 'containers.secret_hash', 'containers.generation', 'containers.owner_group_id', 'groups.name as group_name'])
      .where('containers.serial', '=', serial)
      .executeTakeFirst()
    // An unknown container is compared with a dummy hash: it takes as long as a wrong secret.
    const matches = secretMatches(secret, row?.secret_hash ?? DUMMY_SECRET_HASH) && row !== undefined
    if (!row || !matches) {
      throw new AuthError(row ? `the credential for container ${serial} is not its current one (generation ${row.generation})` : `the credential names container ${serial}, which is not on this server`, {
        hint: row ? 'Its credentials were reset: use the new ones ("licadm container reset-credentials" hands them out).' : 'Check the credentials file, and that this is the right license server.',
        details: {reason: 'invalid-token', container: serial},
      })
    }
    if (row.kind !== 'enterprise') {
      throw new AuthError(`container ${serial} is ${row.kind}: only an enterprise container's credential reaches the seat API (its concurrent licenses)`, {
        hint: 'Use a client token, or the credentials of the enterprise container that holds the license.',
        details: {reason: 'invalid-token', container: serial},
      })
    }
    return {id: null, name: `container ${serial}`, role: 'client', groupId: row.owner_group_id, groupName: row.group_name, container: serial}
  }

  /** Whether any enterprise container exists (whose credential could reach the seat API). */
  async anyEnterprise(): Promise<boolean> {
    return (await this.ctx.store.db.selectFrom('containers').select('serial').where('kind', '=', 'enterprise').executeTakeFirst()) !== undefined
  }

  async get(serial: string): Promise<Container> {
    return this.toContainer(await this.row(serial))
  }

  /** The admin's view: owner, licenses with their state, devices with their state. */
  async details(serialInput: string): Promise<ContainerDetails> {
    const row = await this.row(serialInput)
    const db = this.ctx.store.db
    const now = epochSeconds(this.ctx.clock)
    const licenses = await db
      .selectFrom('container_licenses')
      .innerJoin('licenses', 'licenses.id', 'container_licenses.license_id')
      .select(['licenses.id', 'licenses.product_code', 'licenses.kind', 'licenses.quantity', 'licenses.status', 'licenses.not_before', 'licenses.expires_at'])
      .where('container_licenses.serial', '=', row.serial)
      .orderBy('licenses.id')
      .execute()
    const devices = await db
      .selectFrom('activations')
      .innerJoin('devices', 'devices.fingerprint', 'activations.fingerprint')
      .leftJoin('users', 'users.id', 'activations.user_id')
      .select(['activations.fingerprint', 'devices.name', 'devices.platform', 'users.email', 'activations.state', 'activations.pending_removal', 'activations.generation', 'activations.activated_at', 'activations.last_seen'])
      .where('activations.serial', '=', row.serial)
      .orderBy('activations.activated_at')
      .execute()
    return {
      ...(await this.toContainer(row)),
      licenses: licenses.map((l) => {
        const license = {status: l.status as 'available', notBefore: Number(l.not_before), expiresAt: l.expires_at === null ? null : Number(l.expires_at)}
        return {id: l.id, productCode: Number(l.product_code), kind: l.kind, quantity: l.quantity, status: l.status, validity: validityAt(license, now), expiresAt: license.expiresAt}
      }),
      devices: devices.map((d) => ({
        fingerprint: d.fingerprint,
        name: d.name,
        platform: d.platform,
        user: d.email,
        state: d.state,
        pendingRemoval: d.pending_removal === 1,
        generation: d.generation,
        activatedAt: Number(d.activated_at),
        lastSeen: d.last_seen === null ? null : Number(d.last_seen),
      })),
    }
  }

  /** Where a license is: its container (with the owning group) if any, and whom it was issued to. */
  async placeOf(licenseRef: string): Promise<{licenseId: string; customer: string | null; container: {serial: string; groupId: string | null} | null}> {
    const db = this.ctx.store.db
    const license = await findLicenseRow(db, licenseRef)
    const holder = await db
      .selectFrom('container_licenses')
      .innerJoin('containers', 'containers.serial', 'container_licenses.serial')
      .select(['containers.serial', 'containers.owner_group_id'])
      .where('container_licenses.license_id', '=', license.id)
      .executeTakeFirst()
    return {licenseId: license.id, customer: license.customer ?? null, container: holder ? {serial: holder.serial, groupId: holder.owner_group_id} : null}
  }

  /** Deletes an empty container: no licenses, no active devices. */
  async delete(serialInput: string): Promise<Container> {
    const container = await this.get(serialInput)
    await this.ctx.store.write(async (tx) => {
      const licenses = await tx.selectFrom('container_licenses').select('license_id').where('serial', '=', container.serial).execute()
      if (licenses.length > 0) {
        throw new ConflictError('CONTAINER_NOT_EMPTY', `container ${container.serial} still holds ${licenses.length} license(s)`, {
          hint: `Remove them first: "licadm container remove-license ${container.serial} LICENSE".`,
          details: {licenses: licenses.map((l) => l.license_id)},
        })
      }
      const active = await tx.selectFrom('activations').select('fingerprint').where('serial', '=', container.serial).where('state', '!=', 'inactive').execute()
      if (active.length > 0) {
        throw new ConflictError('CONTAINER_HAS_DEVICES', `container ${container.serial} is still activated on ${active.length} device(s)`, {
          hint: `Deactivate them first: "licadm device deactivate --container ${container.serial} FINGERPRINT".`,
          details: {devices: active.map((a) => a.fingerprint)},
        })
      }
      await tx.deleteFrom('saws').where('serial', '=', container.serial).execute()
      await tx.deleteFrom('activations').where('serial', '=', container.serial).execute()
      await tx.deleteFrom('containers').where('serial', '=', container.serial).execute()
      await appendAudit(tx, this.ctx, {action: 'container.delete', subject: `container:${container.serial}`, before: {kind: container.kind, owner: container.owner}})
    })
    return container
  }

  /** Hands a personal container to a user, or an enterprise container to a group. */
  async assign(serialInput: string, to: {user?: string; group?: string}): Promise<Container> {
    const serial = normalizeSerial(serialInput)
    await this.ctx.store.write(async (tx) => {
      const row = await this.row(serial, tx)
      if (row.kind === 'local') throw new ConflictError('CONTAINER_KIND_MISMATCH', `container ${serial} is local: it is bound to device ${row.owner_fingerprint}, not assigned`)
      if (row.kind === 'personal' && to.user === undefined) throw new UsageError(`container ${serial} is personal: assign it with --user`, {details: {flag: '--user'}})
      if (row.kind === 'enterprise' && to.group === undefined) throw new UsageError(`container ${serial} is enterprise: assign it with --group`, {details: {flag: '--group'}})
      if (row.owner_user_id !== null || row.owner_group_id !== null) {
        throw new ConflictError('CONTAINER_ASSIGNED', `container ${serial} is assigned already`, {hint: `Unassign it first: "licadm container unassign ${serial}".`})
      }
      if (row.kind === 'personal') {
        const user = await this.directory.user(to.user!, tx)
        await tx.updateTable('containers').set({owner_user_id: user.id}).where('serial', '=', serial).execute()
        // Handed back to a user whose devices were marked at the unassign: theirs are kept.
        await tx.updateTable('activations').set({pending_removal: 0}).where('serial', '=', serial).where('user_id', '=', user.id).execute()
        await appendAudit(tx, this.ctx, {action: 'container.assign', subject: `container:${serial}`, after: {user: user.email}})
      } else {
        const group = await this.directory.group(to.group!, tx)
        await tx.updateTable('containers').set({owner_group_id: group.id}).where('serial', '=', serial).execute()
        // Handed to a group: its members' devices are kept, as when a member rejoins.
        await tx
          .updateTable('activations')
          .set({pending_removal: 0})
          .where('serial', '=', serial)
          .where('user_id', 'in', tx.selectFrom('group_members').select('user_id').where('group_id', '=', group.id))
          .execute()
        await appendAudit(tx, this.ctx, {action: 'container.assign', subject: `container:${serial}`, after: {group: group.name}})
      }
    })
    return this.get(serial)
  }

  /**
   * Takes a container back from its user or group. Its devices keep working until the next
   * credential reset, which drops them: they are marked for removal now.
   */
  async unassign(serialInput: string): Promise<{container: Container; markedDevices: number}> {
    const serial = normalizeSerial(serialInput)
    const marked = await this.ctx.store.write(async (tx) => {
      const before = await this.toContainer(await this.row(serial, tx), tx)
      if (before.owner.user === null && before.owner.group === null) return 0
      await tx.updateTable('containers').set({owner_user_id: null, owner_group_id: null}).where('serial', '=', serial).execute()
      const res = await tx.updateTable('activations').set({pending_removal: 1}).where('serial', '=', serial).where('state', '!=', 'inactive').executeTakeFirst()
      await appendAudit(tx, this.ctx, {action: 'container.unassign', subject: `container:${serial}`, before: before.owner})
      return Number(res.numUpdatedRows)
    })
    return {container: await this.get(serial), markedDevices: marked}
  }

  async addLicense(serialInput: string, licenseRef: string): Promise<{serial: string; licenseId: string}> {
    const serial = normalizeSerial(serialInput)
    return this.ctx.store.write(async (tx) => {
      const container = await this.row(serial, tx)
      const {license, changed} = await this.placeLicense(tx, container, licenseRef)
      if (!changed) return {serial, licenseId: license.id}
      await tx.updateTable('containers').set({update_counter: container.update_counter + 1}).where('serial', '=', serial).execute()
      await appendAudit(tx, this.ctx, {action: 'container.add-license', subject: `container:${serial}`, before: {status: license.status}, after: {license: license.id, status: 'assigned'}})
      return {serial, licenseId: license.id}
    })
  }

  /**
   * The rule for putting a license in a container, inside the caller's transaction: a license is in
   * one container at a time, revoked and expired licenses are refused, and the kinds must fit. The
   * caller bumps the counter and writes the audit event. `changed` is false when it was there already.
   */
  async placeLicense(tx: Tx, container: ContainerTable, licenseRef: string): Promise<{license: LicenseTable; changed: boolean}> {
    const serial = container.serial
    const license = await findLicenseRow(tx, licenseRef)
    const holder = await tx.selectFrom('container_licenses').select('serial').where('license_id', '=', license.id).executeTakeFirst()
    if (holder) {
      if (holder.serial === serial) return {license, changed: false}
      throw new ConflictError('LICENSE_IN_OTHER_CONTAINER', `license ${license.id} is in container ${holder.serial}; a license is in one container at a time`, {
        hint: `Remove it there first: "licadm container remove-license ${holder.serial} ${license.id}".`,
        details: {licenseId: license.id, container: holder.serial},
      })
    }
    if (license.status === 'revoked') throw new ConflictError('LICENSE_REVOKED', `license ${license.id} is revoked`)
    const validity = validityAt({status: 'available', notBefore: Number(license.not_before), expiresAt: license.expires_at === null ? null : Number(license.expires_at)}, epochSeconds(this.ctx.clock))
    if (validity === 'expired') throw new ConflictError('LICENSE_EXPIRED', `license ${license.id} has expired`)
    checkLicenseFits(container.kind, {id: license.id, kind: license.kind as 'single'})
    await tx.insertInto('container_licenses').values({license_id: license.id, serial, added_at: epochSeconds(this.ctx.clock)}).execute()
    await tx.updateTable('licenses').set({status: 'assigned'}).where('id', '=', license.id).execute()
    return {license, changed: true}
  }

  /**
   * Takes a license out of a container. One that an offline update put on a device stays there
   * until the device returns it: taking it here would let it be handed out again while the device
   * still holds a valid copy, so that is refused unless `force`.
   */
  async removeLicense(serialInput: string, licenseRef: string, options: {force?: boolean} = {}): Promise<{serial: string; licenseId: string; offlineDevice: string | null}> {
    const serial = normalizeSerial(serialInput)
    return this.ctx.store.write(async (tx) => {
      const container = await this.row(serial, tx)
      const license = await this.takeLicense(tx, container, licenseRef)
      const offline = await offlineHolder(tx, serial, license.id)
      if (offline && !options.force) {
        throw new ConflictError('LICENSE_ON_OFFLINE_DEVICE', `license ${license.id} is on device ${offline.fingerprint}, put there by offline update ${offline.jti} (counter ${offline.counter}); nothing was changed`, {
          hint: `Have the device return it ("licadm activation return --license ${license.id}" there, then "licadm activation fulfill" the return request here), or pass --force: the device keeps a copy that stays valid until the license expires.`,
          details: {license: license.id, device: offline.fingerprint, update: offline.jti},
        })
      }
      await tx.updateTable('containers').set({update_counter: container.update_counter + 1}).where('serial', '=', serial).execute()
      await appendAudit(tx, this.ctx, {
        action: 'container.remove-license',
        subject: `container:${serial}`,
        before: {license: license.id, status: license.status},
        after: {status: license.status === 'assigned' ? 'available' : license.status, ...(offline ? {forced: true, offlineDevice: offline.fingerprint} : {})},
      })
      return {serial, licenseId: license.id, offlineDevice: offline?.fingerprint ?? null}
    })
  }

  /**
   * Takes a license out of a container inside the caller's transaction; an assigned license is
   * available again. The caller bumps the counter and writes the audit event.
   */
  async takeLicense(tx: Tx, container: ContainerTable, licenseRef: string): Promise<LicenseTable> {
    const serial = container.serial
    const license = await findLicenseRow(tx, licenseRef)
    const holder = await tx.selectFrom('container_licenses').select('serial').where('license_id', '=', license.id).executeTakeFirst()
    if (holder?.serial !== serial) {
      throw new NotFoundError('license', license.id, {hint: `It is not in container ${serial}${holder ? ` but in ${holder.serial}` : ''}.`})
    }
    await tx.deleteFrom('container_licenses').where('license_id', '=', license.id).execute()
    if (license.status === 'assigned') await tx.updateTable('licenses').set({status: 'available'}).where('id', '=', license.id).execute()
    return license
  }

  /**
   * Rotates the secret and bumps the generation: every device link goes stale (the old secret is
   * refused from now on), devices marked for removal are dropped, and each device that may keep
   * access gets a SAW file carrying the new secret.
   */
  async resetCredentials(serialInput: string, options: {sawTtlSeconds?: number; writeSaws?: boolean} = {}): Promise<ResetResult> {
    const serial = normalizeSerial(serialInput)
    const secret = newSecret('lcs')
    const ttl = options.sawTtlSeconds ?? DEFAULT_SAW_TTL_SECONDS
    // A key rotated between loading the signer and the transaction: the SAWs are signed with the new active key.
    const load = async () => (options.writeSaws === false ? null : await this.saws.issuer())
    return withActiveSigner(load, (issuer) => this.ctx.store.write(async (tx) => {
      const container = await this.row(serial, tx)
      if (!isCloud(container.kind)) throw new ConflictError('NOT_A_CLOUD_CONTAINER', `container ${serial} is local: it has no credentials to reset`)
      const generation = container.generation + 1
      const now = epochSeconds(this.ctx.clock)
      await tx.updateTable('containers').set({secret_hash: hashSecret(secret), generation}).where('serial', '=', serial).execute()
      const links = await tx
        .selectFrom('activations')
        .innerJoin('devices', 'devices.fingerprint', 'activations.fingerprint')
        .leftJoin('users', 'users.id', 'activations.user_id')
        .selectAll('devices')
        .select(['activations.state', 'activations.pending_removal', 'activations.user_id as link_user', 'users.email'])
        .where('activations.serial', '=', serial)
        .where('activations.state', '!=', 'inactive')
        .execute()
      const result: ResetResult = {credentials: {container: serial, kind: container.kind, generation, secret}, saws: [], leftOut: [], staled: 0}
      const updated = {...container, generation, secret_hash: hashSecret(secret)}
      for (const link of links) {
        const reason = await this.whyNoAccess(tx, container, link.pending_removal === 1, link.link_user)
        if (reason) {
          await tx.updateTable('activations').set({state: 'inactive', deactivated_at: now, pending_removal: 0}).where('serial', '=', serial).where('fingerprint', '=', link.fingerprint).execute()
          result.leftOut.push({fingerprint: link.fingerprint, name: link.name, user: link.email, reason})
          continue
        }
        await tx.updateTable('activations').set({state: 'stale'}).where('serial', '=', serial).where('fingerprint', '=', link.fingerprint).execute()
        result.staled++
        if (issuer) {
          const {state: _s, pending_removal: _p, link_user: _u, email: _e, ...device} = link
          result.saws.push(await this.saws.issue(tx, issuer, updated, device, secret, ttl))
        }
      }
      await appendAudit(tx, this.ctx, {
        action: 'container.reset-credentials',
        subject: `container:${serial}`,
        before: {generation: container.generation},
        after: {generation, staled: result.staled, sawsIssued: result.saws.map((s) => s.fingerprint), droppedDevices: result.leftOut.map((d) => d.fingerprint)},
      })
      return result
    }))
  }

  private async whyNoAccess(tx: Tx, container: ContainerTable, pendingRemoval: boolean, userId: string | null): Promise<string | null> {
    if (pendingRemoval) return container.kind === 'enterprise' ? "its user left the container's group" : 'the container was taken from its user'
    if (container.kind === 'enterprise') {
      if (container.owner_group_id === null) return 'the container is not assigned to a group'
      if (userId === null) return 'no user is recorded for the device'
      if (!(await this.directory.isMember(tx, container.owner_group_id, userId))) return "its user is not a member of the container's group"
    }
    return null
  }

  private async toContainer(row: ContainerTable, tx: Tx = this.ctx.store.db): Promise<Container> {
    const user = row.owner_user_id === null ? null : await tx.selectFrom('users').select(['id', 'email']).where('id', '=', row.owner_user_id).executeTakeFirst()
    const group = row.owner_group_id === null ? null : await tx.selectFrom('groups').select(['id', 'name']).where('id', '=', row.owner_group_id).executeTakeFirst()
    return {
      serial: row.serial,
      kind: row.kind,
      owner: {user: user ?? null, group: group ?? null, fingerprint: row.owner_fingerprint},
      maxDevices: row.max_devices,
      generation: row.generation,
      updateCounter: row.update_counter,
      createdAt: Number(row.created_at),
    }
  }
}

/**
 * The device that holds a license of a container through offline activation: the one whose latest
 * update for the container (each device counts its own) lists it.
 */
async function offlineHolder(tx: Tx, serial: string, licenseId: string): Promise<{fingerprint: string; jti: string; counter: number} | undefined> {
  const latest = await tx
    .selectFrom('offline_updates as u')
    .select(['u.fingerprint', 'u.jti', 'u.counter', 'u.holds'])
    .where('u.serial', '=', serial)
    .where((eb) => eb('u.counter', '=', eb.selectFrom('offline_updates as v').select((v) => v.fn.max('v.counter').as('c')).whereRef('v.serial', '=', 'u.serial').whereRef('v.fingerprint', '=', 'u.fingerprint')))
    .execute()
  const holder = latest.find((u) => (JSON.parse(u.holds) as string[]).includes(licenseId))
  return holder && {fingerprint: holder.fingerprint, jti: holder.jti, counter: Number(holder.counter)}
}
