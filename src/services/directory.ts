import {epochSeconds} from '../domain/clock.js'
import {GROUP_ROLES, type GroupRole} from '../domain/container.js'
import {ConflictError, InvalidValueError, NotFoundError} from '../domain/errors.js'
import {newId} from '../domain/ids.js'
import {parseText} from '../domain/values.js'
import type {Tx} from '../store/store.js'
import {appendAudit} from './audit.js'
import type {ServiceContext} from './context.js'

export interface User {
  id: string
  email: string
  name: string | null
  createdAt: number
}

export interface GroupMember {
  userId: string
  email: string
  name: string | null
  role: GroupRole
  addedAt: number
}

export interface Group {
  id: string
  name: string
  createdAt: number
}

export interface GroupDetails extends Group {
  members: GroupMember[]
  /** Devices of former members still linked to the group's containers: dropped at the next reset. */
  pendingRemoval: Array<{serial: string; fingerprint: string; userId: string | null; email: string | null}>
  containers: string[]
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

export function parseEmail(v: unknown, flag = '--email'): string {
  if (typeof v !== 'string') throw new InvalidValueError(flag, v === undefined || v === null ? 'is required: give an email address' : 'expected an email address (a string)')
  const email = v.trim().toLowerCase()
  if (!EMAIL.test(email) || email.length > 254) throw new InvalidValueError(flag, `"${v}" is not an email address`)
  return email
}

function parseName(v: unknown, flag: string, required: boolean): string | null {
  return parseText(v, flag, {required}) ?? null
}

/** Users and groups: who containers are handed to. */
export class DirectoryService {
  constructor(private readonly ctx: ServiceContext) {}

  async createUser(input: {email: string; name?: string}): Promise<User> {
    const email = parseEmail(input.email)
    const name = parseName(input.name, '--name', false)
    const now = epochSeconds(this.ctx.clock)
    const user: User = {id: newId('usr', this.ctx.clock.now()), email, name, createdAt: now}
    await this.ctx.store.write(async (tx) => {
      const existing = await tx.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst()
      if (existing) {
        throw new ConflictError('USER_EXISTS', `a user with email ${email} exists already (${existing.id})`, {
          hint: `Use that user ("licadm user show ${email}"), or give another email.`,
          details: {userId: existing.id},
        })
      }
      await tx.insertInto('users').values({id: user.id, email, name, created_at: now}).execute()
      await appendAudit(tx, this.ctx, {action: 'user.create', subject: `user:${user.id}`, after: {email, name}})
    })
    return user
  }

  async listUsers(): Promise<User[]> {
    const rows = await this.ctx.store.db.selectFrom('users').selectAll().orderBy('email').execute()
    return rows.map(toUser)
  }

  /** A user by id or email. */
  async user(ref: string, tx: Tx = this.ctx.store.db): Promise<User> {
    if (typeof ref !== 'string') throw new InvalidValueError('user', 'expected a user id or email address (a string)')
    const q = tx.selectFrom('users').selectAll()
    const row = ref.includes('@') ? await q.where('email', '=', ref.trim().toLowerCase()).executeTakeFirst() : await q.where('id', '=', ref.trim()).executeTakeFirst()
    if (!row) throw new NotFoundError('user', ref, {hint: 'Run "licadm user list" to see the users.'})
    return toUser(row)
  }

  async userDetails(ref: string) {
    const user = await this.user(ref)
    const db = this.ctx.store.db
    const groups = await db
      .selectFrom('group_members')
      .innerJoin('groups', 'groups.id', 'group_members.group_id')
      .select(['groups.id', 'groups.name', 'group_members.role'])
      .where('group_members.user_id', '=', user.id)
      .orderBy('groups.name')
      .execute()
    const containers = await db.selectFrom('containers').select(['serial', 'kind']).where('owner_user_id', '=', user.id).orderBy('serial').execute()
    const devices = await db
      .selectFrom('activations')
      .select(['serial', 'fingerprint', 'state'])
      .where('user_id', '=', user.id)
      .orderBy('serial')
      .execute()
    return {...user, groups, containers, devices}
  }

  /** Deletes a user who owns no container; their group memberships end as with remove-member. */
  async deleteUser(ref: string): Promise<User> {
    return this.ctx.store.write(async (tx) => {
      const user = await this.user(ref, tx)
      const owned = await tx.selectFrom('containers').select('serial').where('owner_user_id', '=', user.id).execute()
      if (owned.length > 0) {
        throw new ConflictError('USER_OWNS_CONTAINERS', `user ${user.email} owns container(s) ${owned.map((c) => c.serial).join(', ')}`, {
          hint: 'Unassign or delete those containers first ("licadm container unassign SERIAL").',
          details: {containers: owned.map((c) => c.serial)},
        })
      }
      const memberships = await tx.selectFrom('group_members').select('group_id').where('user_id', '=', user.id).execute()
      for (const m of memberships) await this.dropMember(tx, m.group_id, user)
      await tx.updateTable('devices').set({user_id: null}).where('user_id', '=', user.id).execute()
      await tx.updateTable('activations').set({user_id: null}).where('user_id', '=', user.id).execute()
      await tx.deleteFrom('users').where('id', '=', user.id).execute()
      await appendAudit(tx, this.ctx, {action: 'user.delete', subject: `user:${user.id}`, before: {email: user.email, name: user.name}})
      return user
    })
  }

  async createGroup(input: {name: string}): Promise<Group> {
    const name = parseName(input.name, '--name', true)!
    const now = epochSeconds(this.ctx.clock)
    const group: Group = {id: newId('grp', this.ctx.clock.now()), name, createdAt: now}
    await this.ctx.store.write(async (tx) => {
      const existing = await tx.selectFrom('groups').select('id').where('name', '=', name).executeTakeFirst()
      if (existing) throw new ConflictError('GROUP_EXISTS', `a group named "${name}" exists already (${existing.id})`, {details: {groupId: existing.id}})
      await tx.insertInto('groups').values({id: group.id, name, created_at: now}).execute()
      await appendAudit(tx, this.ctx, {action: 'group.create', subject: `group:${group.id}`, after: {name}})
    })
    return group
  }

  async listGroups(): Promise<Array<Group & {members: number}>> {
    const rows = await this.ctx.store.db
      .selectFrom('groups')
      .leftJoin('group_members', 'group_members.group_id', 'groups.id')
      .select(['groups.id', 'groups.name', 'groups.created_at', (eb) => eb.fn.count<number>('group_members.user_id').as('members')])
      .groupBy(['groups.id', 'groups.name', 'groups.created_at'])
      .orderBy('groups.name')
      .execute()
    return rows.map((r) => ({id: r.id, name: r.name, createdAt: Number(r.created_at), members: Number(r.members)}))
  }

  /** A group by id or name. */
  async group(ref: string, tx: Tx = this.ctx.store.db): Promise<Group> {
    if (typeof ref !== 'string') throw new InvalidValueError('group', 'expected a group id or name (a string)')
    const row = await tx.selectFrom('groups').selectAll().where((eb) => eb.or([eb('id', '=', ref.trim()), eb('name', '=', ref.trim())])).executeTakeFirst()
    if (!row) throw new NotFoundError('group', ref, {hint: 'Run "licadm group list" to see the groups.'})
    return {id: row.id, name: row.name, createdAt: Number(row.created_at)}
  }

  async groupDetails(ref: string): Promise<GroupDetails> {
    const group = await this.group(ref)
    const db = this.ctx.store.db
    const members = await db
      .selectFrom('group_members')
      .innerJoin('users', 'users.id', 'group_members.user_id')
      .select(['users.id', 'users.email', 'users.name', 'group_members.role', 'group_members.added_at'])
      .where('group_members.group_id', '=', group.id)
      .orderBy('users.email')
      .execute()
    const containers = await db.selectFrom('containers').select('serial').where('owner_group_id', '=', group.id).orderBy('serial').execute()
    const pending = await db
      .selectFrom('activations')
      .innerJoin('containers', 'containers.serial', 'activations.serial')
      .leftJoin('users', 'users.id', 'activations.user_id')
      .select(['activations.serial', 'activations.fingerprint', 'activations.user_id', 'users.email'])
      .where('containers.owner_group_id', '=', group.id)
      .where('activations.pending_removal', '=', 1)
      .orderBy('activations.serial')
      .execute()
    return {
      ...group,
      members: members.map((m) => ({userId: m.id, email: m.email, name: m.name, role: m.role, addedAt: Number(m.added_at)})),
      containers: containers.map((c) => c.serial),
      pendingRemoval: pending.map((p) => ({serial: p.serial, fingerprint: p.fingerprint, userId: p.user_id, email: p.email})),
    }
  }

  async deleteGroup(ref: string): Promise<Group> {
    return this.ctx.store.write(async (tx) => {
      const group = await this.group(ref, tx)
      const owned = await tx.selectFrom('containers').select('serial').where('owner_group_id', '=', group.id).execute()
      if (owned.length > 0) {
        throw new ConflictError('GROUP_OWNS_CONTAINERS', `group "${group.name}" owns container(s) ${owned.map((c) => c.serial).join(', ')}`, {
          hint: 'Unassign or delete those containers first.',
          details: {containers: owned.map((c) => c.serial)},
        })
      }
      await tx.deleteFrom('group_members').where('group_id', '=', group.id).execute()
      await tx.deleteFrom('groups').where('id', '=', group.id).execute()
      await appendAudit(tx, this.ctx, {action: 'group.delete', subject: `group:${group.id}`, before: {name: group.name}})
      return group
    })
  }

  async addMember(groupRef: string, userRef: string, role: GroupRole = 'member'): Promise<{changed: boolean; role: GroupRole}> {
    checkRole(role)
    return this.ctx.store.write(async (tx) => {
      const group = await this.group(groupRef, tx)
      const user = await this.user(userRef, tx)
      const existing = await tx.selectFrom('group_members').select('role').where('group_id', '=', group.id).where('user_id', '=', user.id).executeTakeFirst()
      if (existing) {
        if (existing.role === role) return {changed: false, role}
        throw new ConflictError('ALREADY_MEMBER', `${user.email} is already a ${existing.role} of "${group.name}"`, {
          hint: `Use "licadm group set-role ${group.name} ${user.email} ${role}" to change the role.`,
        })
      }
      await tx.insertInto('group_members').values({group_id: group.id, user_id: user.id, role, added_at: epochSeconds(this.ctx.clock)}).execute()
      // A member who comes back keeps their devices: they are no longer marked for removal.
      await tx
        .updateTable('activations')
        .set({pending_removal: 0})
        .where('user_id', '=', user.id)
        .where('serial', 'in', tx.selectFrom('containers').select('serial').where('owner_group_id', '=', group.id))
        .execute()
      await appendAudit(tx, this.ctx, {action: 'group.add-member', subject: `group:${group.id}`, after: {user: user.email, role}})
      return {changed: true, role}
    })
  }

  /**
   * Removes a member. Their devices on the group's enterprise containers are marked for removal:
   * they keep working until the next credential reset, which drops them.
   */
  async removeMember(groupRef: string, userRef: string): Promise<{markedDevices: Array<{serial: string; fingerprint: string}>}> {
    return this.ctx.store.write(async (tx) => {
      const group = await this.group(groupRef, tx)
      const user = await this.user(userRef, tx)
      const member = await tx.selectFrom('group_members').select('role').where('group_id', '=', group.id).where('user_id', '=', user.id).executeTakeFirst()
      if (!member) throw new NotFoundError('member', user.email, {hint: `${user.email} is not a member of "${group.name}".`})
      return {markedDevices: await this.dropMember(tx, group.id, user)}
    })
  }

  private async dropMember(tx: Tx, groupId: string, user: User): Promise<Array<{serial: string; fingerprint: string}>> {
    const groupSerials = tx.selectFrom('containers').select('serial').where('owner_group_id', '=', groupId)
    const marked = await tx
      .selectFrom('activations')
      .select(['serial', 'fingerprint'])
      .where('user_id', '=', user.id)
      .where('serial', 'in', groupSerials)
      .where('state', '!=', 'inactive')
      .execute()
    await tx
      .updateTable('activations')
      .set({pending_removal: 1})
      .where('user_id', '=', user.id)
      .where('serial', 'in', tx.selectFrom('containers').select('serial').where('owner_group_id', '=', groupId))
      .where('state', '!=', 'inactive')
      .execute()
    await tx.deleteFrom('group_members').where('group_id', '=', groupId).where('user_id', '=', user.id).execute()
    await appendAudit(tx, this.ctx, {action: 'group.remove-member', subject: `group:${groupId}`, before: {user: user.email}, after: {devicesMarkedForRemoval: marked}})
    return marked
  }

  async setRole(groupRef: string, userRef: string, role: GroupRole): Promise<{changed: boolean}> {
    checkRole(role)
    return this.ctx.store.write(async (tx) => {
      const group = await this.group(groupRef, tx)
      const user = await this.user(userRef, tx)
      const member = await tx.selectFrom('group_members').select('role').where('group_id', '=', group.id).where('user_id', '=', user.id).executeTakeFirst()
      if (!member) throw new NotFoundError('member', user.email, {hint: `Add them first: "licadm group add-member ${group.name} ${user.email}".`})
      if (member.role === role) return {changed: false}
      await tx.updateTable('group_members').set({role}).where('group_id', '=', group.id).where('user_id', '=', user.id).execute()
      await appendAudit(tx, this.ctx, {action: 'group.set-role', subject: `group:${group.id}`, before: {user: user.email, role: member.role}, after: {user: user.email, role}})
      return {changed: true}
    })
  }

  /**
   * A user looked up among a group's members only (any role): null for anyone else, known or not,
   * so that a group's admin learns nothing of users outside its group.
   */
  async member(groupId: string, userRef: string, tx: Tx = this.ctx.store.db): Promise<User | null> {
    if (typeof userRef !== 'string') throw new InvalidValueError('user', 'expected a user id or email address (a string)')
    const row = await tx
      .selectFrom('group_members')
      .innerJoin('users', 'users.id', 'group_members.user_id')
      .select(['users.id', 'users.email', 'users.name', 'users.created_at'])
      .where('group_members.group_id', '=', groupId)
      .$if(userRef.includes('@'), (q) => q.where('users.email', '=', userRef.trim().toLowerCase()))
      .$if(!userRef.includes('@'), (q) => q.where('users.id', '=', userRef.trim()))
      .executeTakeFirst()
    return row ? toUser(row) : null
  }

  /** Is the user a member of the group (any role)? */
  async isMember(tx: Tx, groupId: string, userId: string): Promise<boolean> {
    const row = await tx.selectFrom('group_members').select('role').where('group_id', '=', groupId).where('user_id', '=', userId).executeTakeFirst()
    return row !== undefined
  }
}

function checkRole(role: string): asserts role is GroupRole {
  if (!(GROUP_ROLES as readonly string[]).includes(role)) throw new InvalidValueError('role', `unknown role "${role}": expected ${GROUP_ROLES.join(' or ')}`)
}

function toUser(r: {id: string; email: string; name: string | null; created_at: number}): User {
  return {id: r.id, email: r.email, name: r.name, createdAt: Number(r.created_at)}
}
