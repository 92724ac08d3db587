import {randomBytes} from 'node:crypto'

import {ConflictError, InvalidValueError} from './errors.js'
import type {LicenseKind} from './license.js'

export const CONTAINER_KINDS = ['local', 'personal', 'enterprise'] as const
export type ContainerKind = (typeof CONTAINER_KINDS)[number]

export const ACTIVATION_STATES = ['active', 'inactive', 'stale'] as const
export type ActivationState = (typeof ACTIVATION_STATES)[number]

export const GROUP_ROLES = ['member', 'admin'] as const
export type GroupRole = (typeof GROUP_ROLES)[number]

/** The vendor's license-quantity setting: how many devices a personal container serves at once. */
export const DEFAULT_MAX_DEVICES = 3
export const MAX_DEVICES_RANGE = {min: 1, max: 1000}

const PREFIX: Record<ContainerKind, string> = {local: 'L', personal: 'P', enterprise: 'E'}
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/** A readable serial with its kind up front: `P-7KQ2-M9XZ-4TBD`. */
export function newSerial(kind: ContainerKind, random: Buffer = randomBytes(12)): string {
  const chars = [...random].map((b) => ALPHABET[b % 32]).join('')
  return `${PREFIX[kind]}-${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}`
}

export function normalizeSerial(input: string): string {
  if (typeof input !== 'string') throw new InvalidValueError('serial', 'expected a container serial (a string)')
  return input.trim().toUpperCase()
}

/** The shape newSerial gives, as a regular-expression source (for patterns that contain one). */
export const SERIAL_PATTERN = `[LPE]-[${ALPHABET}]{4}-[${ALPHABET}]{4}-[${ALPHABET}]{4}`
const SERIAL = new RegExp(`^${SERIAL_PATTERN}$`)

/** A serial chosen by the caller (a seed file's fixture): the format newSerial makes, with its kind's letter. */
export function parseSerial(input: string, kind: ContainerKind, flag = 'serial'): string {
  const serial = normalizeSerial(input)
  if (!SERIAL.test(serial)) throw new InvalidValueError(flag, `"${input}" is not a container serial (like ${PREFIX[kind]}-7KQ2-M9XZ-4TBD: 4-character groups of ${ALPHABET})`)
  if (serial[0] !== PREFIX[kind]) throw new InvalidValueError(flag, `serial ${serial} does not start with ${PREFIX[kind]}-, the letter of a ${kind} container`)
  return serial
}

export function parseContainerKind(v: string, flag = '--kind'): ContainerKind {
  if (!(CONTAINER_KINDS as readonly string[]).includes(v)) {
    throw new InvalidValueError(flag, `unknown container kind "${v}": expected one of ${CONTAINER_KINDS.join(', ')}`)
  }
  return v as ContainerKind
}

/**
 * Which licenses a container can hold. A personal container serves one user, so it holds single
 * licenses; an enterprise container shares seats among a group, so it holds concurrent ones; a local
 * container (a PC or a license server) holds either.
 */
export function checkLicenseFits(kind: ContainerKind, license: {id: string; kind: LicenseKind}): void {
  if (kind === 'enterprise' && license.kind !== 'concurrent') {
    throw new ConflictError('LICENSE_KIND_MISMATCH', `license ${license.id} is a single license; an enterprise container holds concurrent licenses for its group`, {
      hint: 'Put single licenses in a personal or local container.',
      details: {licenseId: license.id, licenseKind: license.kind, containerKind: kind},
    })
  }
  if (kind === 'personal' && license.kind !== 'single') {
    throw new ConflictError('LICENSE_KIND_MISMATCH', `license ${license.id} is a concurrent license; a personal container holds single licenses of one user`, {
      hint: 'Put concurrent licenses in an enterprise container (or a local container on a license server).',
      details: {licenseId: license.id, licenseKind: license.kind, containerKind: kind},
    })
  }
}

export function isCloud(kind: ContainerKind): boolean {
  return kind !== 'local'
}
