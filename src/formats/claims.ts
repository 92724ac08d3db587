import {VerificationError} from '../domain/errors.js'
import {isoSeconds} from '../domain/values.js'

/** How far in the future an `iat` may be before the clocks are said to disagree. */
export const MAX_CLOCK_SKEW_SECONDS = 300

export interface TimeClaims {
  iat: number
  nbf?: number
  exp?: number
}

/** The time checks every artifact shares: issued-at not in the future, not-before, expiry. */
export function checkTimes(claims: Record<string, unknown>, nowSeconds: number, label: string): TimeClaims {
  // Every comparison with NaN is false: a time that is not one would let any file through.
  if (!Number.isFinite(nowSeconds)) throw new TypeError(`the time to check the ${label} at is not a time: ${nowSeconds}`)
  const {iat, nbf, exp} = claims
  if (!isEpoch(iat) || (nbf !== undefined && !isEpoch(nbf)) || (exp !== undefined && !isEpoch(exp))) {
    throw new VerificationError('malformed', `the ${label} has missing or invalid time claims (iat, nbf, exp)`)
  }
  if (iat > nowSeconds + MAX_CLOCK_SKEW_SECONDS) {
    throw new VerificationError('issued-in-future', `the ${label} was issued at ${isoSeconds(iat)}, in the future: the clocks disagree by more than ${MAX_CLOCK_SKEW_SECONDS / 60} minutes`, {
      hint: 'Check the date and time of this machine and of the machine that issued the file.',
      details: {iat: isoSeconds(iat)},
    })
  }
  if (exp !== undefined && nowSeconds >= exp) {
    throw new VerificationError('expired', `the ${label} expired at ${isoSeconds(exp)}`, {details: {exp: isoSeconds(exp)}})
  }
  // The same skew allowance as for iat: a file issued "now" on a clock a little ahead is valid.
  if (nbf !== undefined && nowSeconds + MAX_CLOCK_SKEW_SECONDS < nbf) {
    throw new VerificationError('not-yet-valid', `the ${label} is not valid before ${isoSeconds(nbf)}`, {details: {nbf: isoSeconds(nbf)}})
  }
  return {iat, nbf: nbf as number | undefined, exp: exp as number | undefined}
}

function isEpoch(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}
