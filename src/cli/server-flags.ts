import {Flags} from '@oclif/core'

import {ExitCode, LicadmError, UsageError} from '../domain/errors.js'
import type {CheckoutWaitOptions, ServerClient, ServerClientOptions} from '../client/http.js'
import type {TrustOptions} from '../client/transport.js'
import type {ProfileRemote, Profiles} from './profiles.js'

/** The flags of every command that talks to a license server. */
export const serverFlags = {
  server: Flags.string({
    summary: 'License server URL (e.g. http://127.0.0.1:22350; default: the profile\'s "server").',
    env: 'LICADM_SERVER',
    helpGroup: 'SERVER',
  }),
  ca: Flags.string({
    summary: "CA certificate (PEM) that an https server's certificate must chain to; for a self-signed server, its certificate.",
    description:
      'Without it, an https server is checked against the system\'s certificate authorities (and the profile\'s "ca" or "server-fingerprint", see "licadm profile set"). Get a self-signed server\'s certificate with "licadm server cert export --out FILE" on the server.',
    env: 'LICADM_CA',
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

/** The server flags of the seat commands: a client token, or an enterprise container's credentials. */
export const seatServerFlags = {
  ...serverFlags,
  credentials: Flags.string({
    summary: "An enterprise container's credentials file: use the seat API with it instead of a token.",
    description:
      'The file that "licadm container create --out" or "reset-credentials --out" wrote. The server then lets this command reach the licenses that container holds, and nothing else; after a credential reset only the new file works.',
    helpGroup: 'SERVER',
  }),
}

/**
 * A client of the server named by --server / LICADM_SERVER, else by the profile's "server" (when
 * `profiles` is given), with the certificate trust of trustFrom(). `credentials` (the seat
 * commands' --credentials: other commands' flag of that name is the secret they hand to a device)
 * is a container credentials file whose credential replaces the token.
 */
export async function serverClient(
  flags: {server?: string; token?: string; 'public-key'?: string; ca?: string; profile?: string},
  options: {needsToken?: boolean; profiles?: () => Promise<Profiles>; timeoutMs?: number; credentials?: string} = {},
): Promise<ServerClient> {
  const {ServerClient} = await import('../client/http.js')
  return new ServerClient(await serverConnection(flags, options))
}

/** What serverClient() connects with, for a client of another kind (the seat client of "seat run"). */
export async function serverConnection(
  flags: {server?: string; token?: string; 'public-key'?: string; ca?: string; profile?: string},
  options: {needsToken?: boolean; profiles?: () => Promise<Profiles>; timeoutMs?: number; credentials?: string} = {},
): Promise<ServerClientOptions> {
  let remote: ProfileRemote = {}
  if (options.profiles) {
    const profiles = await options.profiles()
    remote = profiles.remote(profiles.resolve(flags.profile))
  }
  const server = flags.server || remote.server
  if (!server) {
    throw new UsageError('missing required flag --server', {
      hint: 'Pass --server URL, set LICADM_SERVER (e.g. http://127.0.0.1:22350), or keep it in the profile: licadm profile set server URL.',
      details: {flag: '--server'},
    })
  }
  const trust = await trustFrom(flags, remote)
  if (trust && /^http:/i.test(server)) {
    // Asked to check a certificate, yet the URL is plain http: never fall back silently.
    throw new UsageError(`${server} is plain http, but ${flags.ca ? '--ca' : 'the profile'} asks for a checked certificate`, {
      hint: 'Use the https:// URL of the server (it serves TLS when started with --tls).',
      details: {flag: '--server'},
    })
  }
  let token = flags.token
  if (options.credentials) {
    const [{readCredentialsFile}, {containerToken}] = await Promise.all([import('./credentials.js'), import('../domain/tokens.js')])
    token = containerToken(readCredentialsFile(options.credentials))
  }
  if (options.needsToken !== false && !token) {
    // A missing token is an authentication failure (exit 7), as the server itself would answer it.
    const credentials = 'credentials' in options ? ', or give an enterprise container\'s --credentials FILE' : ''
    throw new LicadmError('AUTH', ExitCode.auth, 'missing the server token', {hint: `Set LICADM_TOKEN (or pass --token)${credentials}.`, details: {flag: '--token', reason: 'missing-token'}})
  }
  let publicKeys
  if (flags['public-key']) {
    const {readInput} = await import('./files.js')
    const {parsePublicKeys} = await import('../crypto/keys.js')
    publicKeys = new Map(parsePublicKeys(readInput(flags['public-key'], '--public-key'), '--public-key').map((k) => [k.kid, k.key]))
  }
  return {server, token, publicKeys, trust, timeoutMs: options.timeoutMs}
}

/**
 * How to trust the server's certificate: --ca FILE (LICADM_CA) wins; else the profile's pinned
 * fingerprint and/or CA file, when the server is the profile's own (or the profile names none);
 * else undefined, which means the system's CAs. Reads and checks the CA file.
 */
export async function trustFrom(flags: {server?: string; ca?: string}, remote: ProfileRemote = {}): Promise<TrustOptions | undefined> {
  if (flags.ca) return {ca: await readCa(flags.ca, '--ca')}
  if (flags.server && remote.server && !sameOrigin(flags.server, remote.server)) return undefined
  const trust: TrustOptions = {}
  if (remote.serverFingerprint) trust.fingerprint = remote.serverFingerprint
  if (remote.ca) trust.ca = await readCa(remote.ca, 'the profile\'s "ca"')
  return trust.ca === undefined && trust.fingerprint === undefined ? undefined : trust
}

/** A PEM CA file: read, and refused unless it holds certificates. */
export async function readCa(path: string, what: string): Promise<string> {
  const {readInput} = await import('./files.js')
  const {parseCertificates} = await import('../crypto/certs.js')
  const text = readInput(path, what)
  parseCertificates(text, `${what} (${path})`)
  return text
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin
  } catch {
    return false
  }
}

/** The data directory flag of the commands that work on a server's TLS material, as `server start` takes it. */
export const serverDataFlags = {
  data: Flags.string({summary: 'The server\'s own data directory (as given to "server start --data"); default: the profile\'s.'}),
}

/** Where the server keeps tls/: --data DIR, else the profile's data directory (the profile must exist). */
export async function serverDataDir(data: string | undefined, profiles: () => Promise<Profiles>, profile?: string): Promise<string> {
  if (data) return data
  const {dirname} = await import('node:path')
  return dirname(await storeFile(undefined, profiles, profile))
}

/** The store file: DIR/licadm.db of a server's --data DIR, else the profile's store (the profile must exist). */
export async function storeFile(data: string | undefined, profiles: () => Promise<Profiles>, profile?: string): Promise<string> {
  const {storeFileIn} = await import('../store/layout.js')
  if (data) return storeFileIn(data)
  const p = await profiles()
  const name = p.resolve(profile)
  p.require(name)
  return p.paths(name).storePath
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

/** How a checkout asks ("seat checkout", "seat run"): how many seats, what holds them, how long it waits. */
export const seatCheckoutFlags = {
  seats: Flags.integer({summary: 'Seats to take at once (default 1; a license that counts per checkout).', min: 1}),
  process: Flags.string({summary: 'What holds the seat on the host (default: this process id).'}),
  wait: Flags.string({summary: 'While no seat is free, wait in line for one this long (e.g. 30s, 10m).'}),
}

/** --wait as the checkout's wait options; `say` tells once that the checkout waits (not with --json). */
export async function checkoutWait(wait: string | undefined, say?: (message: string) => void): Promise<CheckoutWaitOptions> {
  if (wait === undefined) return {}
  const {parseDurationFlag} = await import('../domain/values.js')
  const waitMs = parseDurationFlag(wait, '--wait', {min: 1, max: 7 * 86_400}) * 1000
  let told = false
  return {
    waitMs,
    onWait: (refusal) => {
      if (told || !say) return
      told = true
      say(`${refusal.message}; waiting up to ${wait} for a free seat…`)
    },
  }
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
