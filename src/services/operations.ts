import {ExitCode, LicadmError, NotFoundError, UsageError} from '../domain/errors.js'
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

/**
 * What one parameter of an operation may be on the wire: a JSON string, number or object, or a
 * scalar (a string or a number: a product code, a count, as a flag gives it); "?" when it may be
 * left out (null). The methods check the values themselves.
 */
export type ArgType = 'string' | 'number' | 'object' | 'scalar'
export type ArgSpec = ArgType | `${ArgType}?`

export interface Operation {
  /**
   * The parameters a remote caller gives, in order. A call with more arguments than this, or one of
   * another type, is refused before the method runs: the wire never reaches a parameter meant for
   * the server's own use (a method's transaction) or a value the method would trip over.
   */
  args: readonly ArgSpec[]
  groupAdmin?: Scope
}

/** Each operation's service and method names. */
export type OperationName = `${keyof Services}.${string}`

function op(args: readonly ArgSpec[], groupAdmin?: Scope): Operation {
  return groupAdmin ? {args, groupAdmin} : {args}
}

/** Refusal of a group-admin token outside its group: 403, and nothing was done. */
export function outsideGroup(caller: Caller, what: string): LicadmError {
  return new LicadmError('FORBIDDEN', ExitCode.auth, `token "${caller.name}" manages group ${caller.groupName ?? '?'} only; ${what}`, {
    details: {reason: 'group', group: caller.groupName},
  })
}

/**
 * What a group admin looks up must not tell it what exists outside its group: a thing that is not
 * found gets the same refusal as another group's, in words that only repeat what the caller sent.
 */
async function orOutside<T>(caller: Caller, what: string, lookup: () => Promise<T>): Promise<T> {
  try {
    return await lookup()
  } catch (error) {
    if (error instanceof NotFoundError) throw outsideGroup(caller, what)
    throw error
  }
}

/** The container must be an enterprise container of the caller's group. */
async function ownContainer(services: Services, caller: Caller, serialArg: unknown): Promise<void> {
  const what = `container ${String(serialArg).trim()} is not an enterprise container of that group`
  const container = await orOutside(caller, what, () => services.containers.get(String(serialArg)))
  if (container.kind !== 'enterprise' || container.owner.group?.id !== caller.groupId) throw outsideGroup(caller, what)
}

const onContainer: Scope = async (services, caller, args) => {
  await ownContainer(services, caller, args[0])
  return args
}

/** A group admin moves licenses that are its group's: in one of its containers, or issued to it (customer) and free. */
const onContainerLicense: Scope = async (services, caller, args) => {
  await ownContainer(services, caller, args[0])
  const what = `license ${String(args[1]).trim()} is not the group's (issued to it, or in one of its containers)`
  const place = await orOutside(caller, what, () => services.containers.placeOf(String(args[1])))
  const ours = place.container ? place.container.groupId === caller.groupId : place.customer === caller.groupName
  if (!ours) throw outsideGroup(caller, what)
  return args
}

const onGroup: Scope = async (services, caller, args) => {
  const what = `group ${String(args[0]).trim()} is not that group`
  const group = await orOutside(caller, what, () => services.directory.group(String(args[0])))
  if (group.id !== caller.groupId) throw outsideGroup(caller, what)
  return args
}

export const OPERATIONS: Readonly<Record<OperationName, Operation>> = {
  'vendor.get': op([]),
  'vendor.listKeys': op([]),
  'vendor.exportKey': op(['string?']),

  'products.create': op(['object']),
  'products.list': op([]),
  'products.get': op(['scalar']),
  'products.delete': op(['scalar']),

  'licenses.create': op(['object', 'object?']),
  'licenses.list': op(['object?']),
  'licenses.get': op(['string']),
  'licenses.revoke': op(['string']),
  'licenses.export': op(['string']),
  'licenses.verify': op(['string', 'object?']),
  'bulk.run': op(['string', 'string', 'object?']),

  'directory.createUser': op(['object']),
  'directory.listUsers': op([]),
  'directory.user': op(['string']),
  'directory.userDetails': op(['string']),
  'directory.deleteUser': op(['string']),
  'directory.createGroup': op(['object']),
  'directory.listGroups': op([]),
  'directory.deleteGroup': op(['string']),
  'directory.group': op(['string'], onGroup),
  'directory.groupDetails': op(['string'], onGroup),
  'directory.addMember': op(['string', 'string', 'string?'], onGroup),
  'directory.removeMember': op(['string', 'string'], onGroup),
  'directory.setRole': op(['string', 'string', 'string'], onGroup),

  'containers.create': op(['object']),
  // A group admin sees its group's containers, whatever filter it asked for; a user is looked up among its members only.
  'containers.list': op(['object?'], async (_services, caller, args) => [{...(args[0] as object | undefined), group: caller.groupId, membersOnly: true}]),
  'containers.get': op(['string'], onContainer),
  'containers.details': op(['string'], onContainer),
  'containers.delete': op(['string']),
  'containers.assign': op(['string', 'object']),
  'containers.unassign': op(['string']),
  'containers.addLicense': op(['string', 'string'], onContainerLicense),
  'containers.removeLicense': op(['string', 'string', 'object?'], onContainerLicense),
  'containers.resetCredentials': op(['string', 'object?'], onContainer),

  // A group admin's activation never changes a known device's record (other groups' containers may share it).
  'devices.activate': op(['string', 'object', 'object?'], async (services, caller, args) => {
    await ownContainer(services, caller, args[0])
    return [args[0], args[1], {...(args[2] as object | undefined), asGroup: caller.groupId}]
  }),
  'devices.deactivate': op(['string', 'string'], onContainer),
  'devices.list': op(['object?'], async (services, caller, args) => {
    const filter = (args[0] ?? {}) as {container?: string}
    if (filter.container === undefined) throw outsideGroup(caller, 'name one of its containers (--container)')
    await ownContainer(services, caller, filter.container)
    // Each device's activations on other groups' containers are left out, and so are their users.
    return [{...filter, group: caller.groupId, membersOnly: true}]
  }),
  'devices.show': op(['string']),
  'devices.access': op(['string', 'string', 'string', 'object?']),
  'saws.create': op(['string', 'string', 'string', 'number?'], onContainer),
  'saws.inspect': op(['string']),

  'audit.list': op(['object?']),
  'audit.verify': op([]),

  'offline.fulfill': op(['string', 'object?', 'object?']),
  'offline.confirm': op(['string']),
  'offline.inspect': op(['string', 'object?']),
  'offline.list': op(['object?']),

  'tokens.create': op(['object']),
  'tokens.list': op(['object?']),
  'tokens.get': op(['string']),
  'tokens.revoke': op(['string']),
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

/** What to check when a call does not fit the server's operations. */
export const VERSION_HINT = 'Is the server a newer or older licadm than this command? Compare "licadm --version" with GET /healthz.'

/**
 * Arguments as they cross the wire, checked against the operation's parameters: JSON turns a
 * missing argument into null, which the method gets as undefined (its default).
 */
export function argumentsFromWire(name: string, spec: readonly ArgSpec[], args: unknown[]): unknown[] {
  const signature = `${name}(${spec.join(', ')})`
  const refuse = (problem: string, argument?: number) =>
    new LicadmError('INVALID_ARGUMENTS', ExitCode.usage, `operation ${signature}${argument === undefined ? '' : `: argument ${argument}`} ${problem}`, {
      hint: VERSION_HINT,
      details: {operation: name, expected: spec, ...(argument === undefined ? {} : {argument})},
    })
  if (args.length > spec.length) throw refuse(`takes ${spec.length === 0 ? 'no arguments' : `at most ${spec.length} argument(s)`}, not ${args.length}`)
  return spec.map((want, i) => {
    const value = args[i] ?? null
    const type = want.replace('?', '') as ArgType
    if (value === null) {
      if (want.endsWith('?')) return undefined
      throw refuse(`is missing: a ${type} is required`, i + 1)
    }
    const found = Array.isArray(value) ? 'array' : typeof value
    const fits = type === 'scalar' ? found === 'string' || found === 'number' : found === type
    if (!fits) throw refuse(`is a${/^[aeiou]/.test(found) ? 'n' : ''} ${found}, not a ${type === 'scalar' ? 'string or number' : type}`, i + 1)
    return value
  })
}
