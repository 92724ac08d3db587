import {Flags} from '@oclif/core'

import {UsageError} from '../domain/errors.js'
import type {ServerClient} from '../client/http.js'

/** The flags of every command that talks to a license server. */
export const serverFlags = {
  server: Flags.string({
    summary: 'License server URL (e.g. http://127.0.0.1:22350).',
    env: 'LICADM_SERVER',
    helpGroup: 'SERVER',
  }),
  token: Flags.string({
    summary: 'API token of the server (better: set LICADM_TOKEN; a token is never printed).',
    env: 'LICADM_TOKEN',
    helpGroup: 'SERVER',
  }),
  'public-key': Flags.string({
    summary: "Vendor public key file (PEM or JWK): verify every response's signature with it.",
    helpGroup: 'SERVER',
  }),
}

/** A client of the server named by --server / LICADM_SERVER. */
export async function serverClient(flags: {server?: string; token?: string; 'public-key'?: string}, options: {needsToken?: boolean} = {}): Promise<ServerClient> {
  if (!flags.server) {
    throw new UsageError('missing required flag --server', {hint: 'Pass --server URL or set LICADM_SERVER (e.g. http://127.0.0.1:22350).', details: {flag: '--server'}})
  }
  if (options.needsToken !== false && !flags.token) {
    throw new UsageError('missing the server token', {hint: 'Set LICADM_TOKEN (or pass --token).', details: {flag: '--token'}})
  }
  let publicKeys
  if (flags['public-key']) {
    const {readInput} = await import('./files.js')
    const {parsePublicKeys} = await import('../crypto/keys.js')
    publicKeys = new Map(parsePublicKeys(readInput(flags['public-key'], '--public-key'), '--public-key').map((k) => [k.kid, k.key]))
  }
  const {ServerClient} = await import('../client/http.js')
  return new ServerClient({server: flags.server, token: flags.token, publicKeys})
}

/** Who holds a seat by default: the OS user and the host name. */
export async function defaultHolder(): Promise<{user: string; host: string}> {
  const {hostname, userInfo} = await import('node:os')
  let user = 'unknown'
  try {
    user = userInfo().username
  } catch {
    // no user name in this environment
  }
  return {user, host: hostname()}
}

export const seatTargetFlags = {
  license: Flags.string({char: 'l', summary: 'License id of a concurrent license.', exclusive: ['product']}),
  product: Flags.string({char: 'p', summary: 'Product code: any concurrent license of it with a free seat.'}),
  features: Flags.string({summary: 'Feature bits the license must have (with --product; decimal or 0x…).', dependsOn: ['product']}),
  user: Flags.string({summary: 'Who holds the seat (default: your OS user name).'}),
  host: Flags.string({summary: 'Host that holds the seat (default: this host name).'}),
}

export function parseTarget(flags: {license?: string; product?: string; features?: string}): {license?: string; product?: number; features?: number} {
  if (!flags.license && !flags.product) throw new UsageError('give --license ID or --product CODE', {details: {flag: '--license'}})
  const num = (v: string | undefined, flag: string): number | undefined => {
    if (v === undefined) return undefined
    const s = v.trim()
    const n = /^0x[0-9a-f]+$/i.test(s) ? Number.parseInt(s.slice(2), 16) : /^\d+$/.test(s) ? Number(s) : Number.NaN
    if (!Number.isSafeInteger(n) || n > 0xffff_ffff) throw new UsageError(`${flag}: "${v}" is not a whole number from 0 to 4294967295`, {details: {flag}})
    return n
  }
  return {license: flags.license, product: num(flags.product, '--product'), features: num(flags.features, '--features')}
}
