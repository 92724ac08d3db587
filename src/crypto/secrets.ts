import {createHash, randomBytes, timingSafeEqual} from 'node:crypto'

/**
 * Access secrets: 256 random bits with a recognisable prefix (so secret scanners can find a leaked
 * one). Stored only as a SHA-256 hash: with this much entropy a slow hash adds nothing.
 */
export function newSecret(prefix: 'lcs' | 'ldc' | 'lat'): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`
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
