import {createHash, randomBytes, timingSafeEqual} from 'node:crypto'

/**
 * Access secrets: 256 random bits with a recognisable prefix (so secret scanners can find a leaked
 * one). Stored only as a SHA-256 hash: with this much entropy a slow hash adds nothing.
 */
export function newSecret(prefix: 'lcs' | 'ldc' | 'lat'): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`
}

/** The shape newSecret(prefix) gives, as a regular-expression source (for patterns that contain one). */
export function secretPattern(prefix: 'lcs' | 'ldc' | 'lat'): string {
  return `${prefix}_[A-Za-z0-9_-]{43}`
}

/** Whether `v` has the shape newSecret(prefix) gives (for a secret chosen by a seed file's fixture). */
export function isSecret(prefix: 'lcs' | 'ldc' | 'lat', v: unknown): v is string {
  return typeof v === 'string' && new RegExp(`^${secretPattern(prefix)}$`).test(v)
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex')
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches(secret: string, storedHash: string | null): boolean {
  if (storedHash === null) return false
  const presented = Buffer.from(hashSecret(secret), 'hex')
  const stored = Buffer.from(storedHash, 'hex')
  return stored.length === presented.length && timingSafeEqual(presented, stored)
}
