import {ExitCode, LicadmError, UsageError} from '../domain/errors.js'
import type {Principal} from '../domain/tokens.js'
import type {Services} from './backend.js'

/**
 * The operations a licadm server offers to remote commands: each is a service method (the one
 * definition of that operation) named "service.method". The HTTP route and the remote backend are
 * generic over this table, so an operation is never written twice.
 *
 * A vendor token may call every operation. A group-admin token may call only those with a
 * `groupAdmin` scope, which checks (or narrows) the arguments to the token's own group. A client
 * token calls none: it reaches only the seat API.
 */

/** Who calls, as the server's authentication established it. */
export type Caller = Principal

/** Checks a group-admin's arguments against its group; returns the arguments to call with. */
type Scope = (services: Services, caller: Caller, args: unknown[]) => Promise<unknown[]>

export interface Operation {
  groupAdmin?: Scope
}

/** Each operation's service and method names. */
export type OperationName = `${keyof Services}.${string}`

const vendorOnly: Operation = {}

/** Refusal of a group-admin token outside its group: 403, and nothing was done. */
export function outsideGroup(caller: Caller, what: string): LicadmError {
  return new LicadmError('FORBIDDEN', ExitCode.auth, `token "${caller.name}" manages group ${caller.groupName ?? '?'} only; ${what}`, {
    details: {reason: 'group', group: caller.groupName},
  })
}

/** The container must be an enterprise container of the caller's group. */
async function ownContainer(services: Services, caller: Caller, serialArg: unknown): Promise<void> {
  const container = await services.containers.get(String(serialArg))
  if (container.kind !== 'enterprise' || container.owner.group?.id !== caller.groupId) {
    throw outsideGroup(caller, `container ${container.serial} is not an enterprise container of that group`)
  }
}

const onContainer: Operation = {
  async groupAdmin(services, caller, args) {
    await ownContainer(services, caller, args[0])
    return args
  },
}

/** A group admin moves licenses that are its group's: in one of its containers, or issued to it (customer) and free. */
const onContainerLicense: Operation = {
  async groupAdmin(services, caller, args) {
    await ownContainer(services, caller, args[0])
    const place = await services.containers.placeOf(String(args[1]))
    const ours = place.container ? place.container.groupId === caller.groupId : place.customer === caller.groupName
    if (!ours) throw outsideGroup(caller, `license ${place.licenseId} is not the group's (issued to it, or in one of its containers)`)
    return args
  },
}

const onGroup: Operation = {
  async groupAdmin(services, caller, args) {
    const group = await services.directory.group(String(args[0]))
    if (group.id !== caller.groupId) throw outsideGroup(caller, `group ${group.name} is another group`)
    return args
  },
}

export const OPERATIONS: Readonly<Record<OperationName, Operation>> = {
  'vendor.get': vendorOnly,
  'vendor.listKeys': vendorOnly,
  'vendor.exportKey': vendorOnly,

  'products.create': vendorOnly,
  'products.list': vendorOnly,
  'products.get': vendorOnly,
  'products.delete': vendorOnly,

  'licenses.create': vendorOnly,
  'licenses.list': vendorOnly,
  'licenses.get': vendorOnly,
  'licenses.revoke': vendorOnly,
  'licenses.export': vendorOnly,
  'licenses.verify': vendorOnly,
  'bulk.run': vendorOnly,

  'directory.createUser': vendorOnly,
  'directory.listUsers': vendorOnly,
  'directory.user': vendorOnly,
  'directory.userDetails': vendorOnly,
  'directory.deleteUser': vendorOnly,
  'directory.createGroup': vendorOnly,
  'directory.listGroups': vendorOnly,
  'directory.deleteGroup': vendorOnly,
  'directory.group': onGroup,
  'directory.groupDetails': onGroup,
  'directory.addMember': onGroup,
  'directory.removeMember': onGroup,
  'directory.setRole': onGroup,

  'containers.create': vendorOnly,
  'containers.list': {
    // A group admin sees its group's containers, whatever filter it asked for.
    async groupAdmin(_services, caller, args) {
      const filter = (args[0] ?? {}) as {group?: string}
      return [{...filter, group: caller.groupId}]
    },
  },
  'containers.get': onContainer,
  'containers.details': onContainer,
  'containers.delete': vendorOnly,
  'containers.assign': vendorOnly,
  'containers.unassign': vendorOnly,
  'containers.addLicense': onContainerLicense,
  'containers.removeLicense': onContainerLicense,
  'containers.resetCredentials': onContainer,

  'devices.activate': onContainer,
  'devices.deactivate': onContainer,
  'devices.list': {
    async groupAdmin(services, caller, args) {
      const filter = (args[0] ?? {}) as {container?: string}
      if (filter.container === undefined) throw outsideGroup(caller, 'name one of its containers (--container)')
      await ownContainer(services, caller, filter.container)
      return args
    },
  },
  'devices.show': vendorOnly,
  'devices.access': vendorOnly,
  'saws.create': onContainer,
  'saws.inspect': vendorOnly,

  'audit.list': vendorOnly,
  'audit.verify': vendorOnly,

  'offline.fulfill': vendorOnly,
  'offline.confirm': vendorOnly,
  'offline.inspect': vendorOnly,
  'offline.list': vendorOnly,

  'tokens.create': vendorOnly,
  'tokens.list': vendorOnly,
  'tokens.get': vendorOnly,
  'tokens.revoke': vendorOnly,
}

export function operation(name: string): Operation | undefined {
  return Object.hasOwn(OPERATIONS, name) ? OPERATIONS[name as OperationName] : undefined
}

/** What a remote command cannot do: the operations that need the vendor's key or store on this machine. */
export function notRemote(name: string): UsageError {
  return new UsageError(`"${name}" is not available with --server: it works on this machine's profile only`, {
    hint: 'Run it without --server (and without LICADM_SERVER or a server in the profile).',
    details: {operation: name},
  })
}

/** Arguments as they cross the wire: JSON turns a missing argument into null; the method wants its default. */
export function argumentsFromWire(args: unknown[]): unknown[] {
  return args.map((a) => (a === null ? undefined : a))
}
