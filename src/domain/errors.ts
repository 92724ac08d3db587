/**
 * Typed errors with stable codes and exit statuses. Every refusal licadm makes is one of these, so
 * the text output, the `--json` envelope and the process exit status always agree.
 */

export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  notFound: 3,
  conflict: 4,
  signatureInvalid: 5,
  expired: 6,
  auth: 7,
  unreachable: 8,
  cancelled: 9,
  malformed: 10,
  unknownKey: 11,
  wrongType: 12,
  algorithmNotAllowed: 13,
  notYetValid: 14,
  issuedInFuture: 15,
  replayed: 16,
  revoked: 17,
  wrongTarget: 18,
  outOfOrder: 19,
  partial: 20,
} as const

export type ExitCodeName = keyof typeof ExitCode

/** The exit-status table, in the order the README and man pages print it. */
export const EXIT_CODE_TABLE: ReadonlyArray<{code: number; name: ExitCodeName; meaning: string}> = [
  {code: 0, name: 'ok', meaning: 'success'},
  {code: 1, name: 'internal', meaning: 'unexpected internal error (a bug: please report it)'},
  {code: 2, name: 'usage', meaning: 'invalid or missing flag, argument or input row'},
  {code: 3, name: 'notFound', meaning: 'profile, product, license or key not found'},
  {code: 4, name: 'conflict', meaning: 'conflict or limit reached (exists already, still in use, idempotency key reused with other input)'},
  {code: 5, name: 'signatureInvalid', meaning: 'signature does not verify: the file was changed'},
  {code: 6, name: 'expired', meaning: 'the artifact or license has expired'},
  {code: 7, name: 'auth', meaning: 'authentication failed (wrong or missing passphrase, token or credential)'},
  {code: 8, name: 'unreachable', meaning: 'server unreachable'},
  {code: 9, name: 'cancelled', meaning: 'cancelled: a confirmation was declined'},
  {code: 10, name: 'malformed', meaning: 'malformed file: not armored, truncated, or not a JWS'},
  {code: 11, name: 'unknownKey', meaning: 'signed by a key that is not pinned (foreign vendor or removed key)'},
  {code: 12, name: 'wrongType', meaning: 'wrong artifact type (typ), e.g. another kind of file'},
  {code: 13, name: 'algorithmNotAllowed', meaning: 'signature algorithm not allowed (only EdDSA is accepted)'},
  {code: 14, name: 'notYetValid', meaning: 'not valid yet (not-before in the future)'},
  {code: 15, name: 'issuedInFuture', meaning: 'issued in the future: clocks disagree by more than 5 minutes'},
  {code: 16, name: 'replayed', meaning: 'already used or replayed'},
  {code: 17, name: 'revoked', meaning: 'revoked'},
  {code: 18, name: 'wrongTarget', meaning: 'made for another device or container'},
  {code: 19, name: 'outOfOrder', meaning: 'out of order or superseded: an older generation or counter, or a missing predecessor'},
  {code: 20, name: 'partial', meaning: 'done, but some output files could not be written: the output lists each, and how to make it again'},
]

export interface ErrorOptions {
  /** What the user can do about it, printed after the message. */
  hint?: string
  /** Machine-readable context for `--json` (offending flag, line numbers, ids). */
  details?: Record<string, unknown>
  cause?: unknown
}

export class LicadmError extends Error {
  readonly code: string
  readonly exit: number
  readonly hint?: string
  readonly details?: Record<string, unknown>

  constructor(code: string, exit: number, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'LicadmError'
    this.code = code
    this.exit = exit
    this.hint = options.hint
    this.details = options.details
  }
}

export class UsageError extends LicadmError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('USAGE', ExitCode.usage, message, options)
  }
}

/** A flag or argument value out of its accepted range; names the flag. */
export class InvalidValueError extends LicadmError {
  constructor(flag: string, message: string, options: ErrorOptions = {}) {
    super('INVALID_VALUE', ExitCode.usage, `${flag}: ${message}`, {
      ...options,
      details: {flag, ...options.details},
    })
  }
}

/** The command that lists what there is of a kind, for the hint of a refusal that names one not found. */
const LISTED_BY: Record<string, string> = {
  license: 'licadm license list',
  product: 'licadm product list',
  key: 'licadm key list',
  container: 'licadm container list',
  user: 'licadm user list',
  group: 'licadm group list',
  token: 'licadm token list',
  device: 'licadm device list',
  lease: 'licadm seat list',
  reservation: 'licadm server reservations list',
  profile: 'licadm profile list',
  activation: 'licadm activation list',
}

export class NotFoundError extends LicadmError {
  constructor(what: string, id: string | number, options: ErrorOptions = {}) {
    const list = LISTED_BY[what]
    super(`${what.toUpperCase().replaceAll(' ', '_')}_NOT_FOUND`, ExitCode.notFound, `${what} ${id} not found`, {
      ...(list === undefined ? {} : {hint: `"${list}" shows the ${what}s there are.`}),
      ...options,
      details: {[camel(what)]: id, ...options.details},
    })
  }
}

export class ConflictError extends LicadmError {
  constructor(code: string, message: string, options: ErrorOptions = {}) {
    super(code, ExitCode.conflict, message, options)
  }
}

/** Why an artifact was refused by verification; each reason has its own code and exit status. */
export type VerifyReason =
  | 'malformed'
  | 'truncated'
  | 'algorithm-not-allowed'
  | 'unknown-key'
  | 'signature-invalid'
  | 'wrong-type'
  | 'issued-in-future'
  | 'not-yet-valid'
  | 'expired'
  | 'replayed'
  | 'revoked'
  | 'wrong-target'
  | 'out-of-order'

const VERIFY_EXIT: Record<VerifyReason, number> = {
  malformed: ExitCode.malformed,
  truncated: ExitCode.malformed,
  'algorithm-not-allowed': ExitCode.algorithmNotAllowed,
  'unknown-key': ExitCode.unknownKey,
  'signature-invalid': ExitCode.signatureInvalid,
  'wrong-type': ExitCode.wrongType,
  'issued-in-future': ExitCode.issuedInFuture,
  'not-yet-valid': ExitCode.notYetValid,
  expired: ExitCode.expired,
  replayed: ExitCode.replayed,
  revoked: ExitCode.revoked,
  'wrong-target': ExitCode.wrongTarget,
  'out-of-order': ExitCode.outOfOrder,
}

export class VerificationError extends LicadmError {
  readonly reason: VerifyReason

  constructor(reason: VerifyReason, message: string, options: ErrorOptions = {}) {
    super(reason.toUpperCase().replaceAll('-', '_'), VERIFY_EXIT[reason], message, {
      ...options,
      details: {reason, ...options.details},
    })
    this.reason = reason
  }
}

export class AuthError extends LicadmError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('AUTH', ExitCode.auth, message, options)
  }
}

export class CancelledError extends LicadmError {
  constructor(message = 'cancelled', options: ErrorOptions = {}) {
    super('CANCELLED', ExitCode.cancelled, message, options)
  }
}

function camel(s: string): string {
  return s.replace(/ (\w)/g, (_m, c: string) => c.toUpperCase())
}

const CLASS_BY_EXIT: ReadonlyMap<number, object> = new Map<number, object>([
  [ExitCode.usage, UsageError.prototype],
  [ExitCode.notFound, NotFoundError.prototype],
  [ExitCode.conflict, ConflictError.prototype],
  [ExitCode.auth, AuthError.prototype],
  [ExitCode.cancelled, CancelledError.prototype],
])

/**
 * A refusal as it crossed the wire (the --json error shape), rebuilt as the same typed error the
 * service raised, so callers that tell errors apart by class behave as they would locally.
 */
export function errorFromEnvelope(e: {code: string; exitCode: number; message: string; hint?: string; details?: Record<string, unknown>}): LicadmError {
  const error = new LicadmError(e.code, e.exitCode, e.message, {hint: e.hint, details: e.details})
  const reason = e.details?.reason as VerifyReason | undefined
  if (reason !== undefined && Object.hasOwn(VERIFY_EXIT, reason) && VERIFY_EXIT[reason] === e.exitCode) {
    Object.setPrototypeOf(error, VerificationError.prototype)
    Object.defineProperty(error, 'reason', {value: reason, enumerable: true})
  } else {
    const proto = CLASS_BY_EXIT.get(e.exitCode)
    if (proto) Object.setPrototypeOf(error, proto)
  }
  error.name = 'LicadmError'
  return error
}
