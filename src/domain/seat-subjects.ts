import {BlockList, isIP} from 'node:net'

import {InvalidValueError} from './errors.js'
import {parseText} from './values.js'

/**
 * Who an access rule or a seat reservation names: a user or a host by pattern (wildcards, any case),
 * or a client address by address or CIDR block.
 */
export const RULE_SUBJECTS = ['user', 'host', 'address'] as const
export type RuleSubject = (typeof RULE_SUBJECTS)[number]
export type RuleAction = 'allow' | 'deny'

/** The requester as rules and reservations see it. */
export interface Subject {
  user: string
  host: string
  address?: string
}

export function checkSubject(subject: string): RuleSubject {
  if (!(RULE_SUBJECTS as readonly string[]).includes(subject)) throw new InvalidValueError('subject', `"${subject}" is not a subject: use user, host or address`)
  return subject as RuleSubject
}

/** A user or host pattern (wildcards), or an address or CIDR block for `address`. */
export function checkPattern(subject: RuleSubject, value: unknown): string {
  const pattern = parseText(typeof value === 'number' ? String(value) : value, 'pattern', {required: true, blank: 'refuse'})!
  if (subject === 'address') addressBlock(pattern)
  return pattern
}

export function checkAction(action: string): RuleAction {
  if (action !== 'allow' && action !== 'deny') throw new InvalidValueError('action', `"${action}" is not an action: use allow or deny`)
  return action
}

/**
 * Whether a requester is who a rule or reservation names: its user or host by pattern (wildcards,
 * any case), or its address within the pattern's block (`block`, compiled from an address pattern).
 */
export function subjectMatches(target: {subject: RuleSubject; pattern: string}, block: BlockList | undefined, who: Subject): boolean {
  if (target.subject === 'address') return who.address !== undefined && block !== undefined && block.check(...addressArgs(who.address))
  return glob(target.pattern, target.subject === 'user' ? who.user : who.host)
}

/** `*` and `?` wildcards, case-insensitive. */
function glob(pattern: string, value: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern.toLowerCase() === value.toLowerCase()
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')}$`, 'i')
  return re.test(value)
}

function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address
}

function addressArgs(address: string): [string, 'ipv4' | 'ipv6'] {
  const a = normalizeAddress(address)
  return [a, isIP(a) === 6 ? 'ipv6' : 'ipv4']
}

/** An address rule: one address, or a CIDR block (10.0.0.0/8, fd00::/8). */
export function addressBlock(pattern: string): BlockList {
  const list = new BlockList()
  const [address, prefix] = pattern.split('/')
  const family = isIP(address)
  if (family === 0 || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) {
    throw new InvalidValueError('pattern', `"${pattern}" is not an address or CIDR block (e.g. 10.0.0.5, 192.168.0.0/16, fd00::/8)`)
  }
  const type = family === 6 ? 'ipv6' : 'ipv4'
  if (prefix === undefined) list.addAddress(address, type)
  else {
    const bits = Number(prefix)
    if (bits > (family === 6 ? 128 : 32)) throw new InvalidValueError('pattern', `"${pattern}": the prefix length is out of range`)
    list.addSubnet(address, bits, type)
  }
  return list
}

/** What of the requester a rule of this subject looked at (for refusals). */
export function subjectValue(subject: RuleSubject, who: Subject): string {
  return subject === 'user' ? who.user : subject === 'host' ? who.host : normalizeAddress(who.address ?? '')
}
