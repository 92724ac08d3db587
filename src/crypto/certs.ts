/**
 * TLS certificate material of the license server: its private key, a self-signed certificate with
 * subject alternative names, a CSR for a company CA, the CA-signed certificate taken back, and
 * PKCS#12 export. Keys are made and signatures computed with node:crypto (node-forge's pure-JS RSA
 * is slow); node-forge builds the X.509 and PKCS#10 structures and PKCS#12, which Node lacks.
 * Certificates are read with Node's X509Certificate, which also reads EC and CA-signed chains.
 */
import {createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject} from 'node:crypto'
import {existsSync, mkdirSync, readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {isIP} from 'node:net'
import {join} from 'node:path'

import {ExitCode, InvalidValueError, LicadmError, type ErrorOptions} from '../domain/errors.js'
import {fileError, isFileSystemError, writeFileAtomic} from '../domain/file-errors.js'

type Forge = typeof import('node-forge')

let forgeModule: Forge | undefined
/** node-forge is large: loaded on first use, so reading a certificate or a fingerprint stays cheap. */
function forge(): Forge {
  forgeModule ??= createRequire(import.meta.url)('node-forge') as Forge
  return forgeModule
}

/** Names every server certificate carries, so local clients can always connect. */
export const DEFAULT_SANS: readonly string[] = ['localhost', '127.0.0.1', '::1']

/** How long a self-signed certificate is valid: long enough that pinned fingerprints stay put. */
export const SELF_SIGNED_DAYS = 825

/** Validity starts this much before "now", so a client whose clock is a little behind accepts it. */
const BACKDATE_MS = 5 * 60 * 1000

export interface TlsMaterial {
  /** PEM private key. */
  key: string
  /** PEM certificate, leaf first, then any intermediates. */
  cert: string
}

export interface CertInfo {
  subject: string
  issuer: string
  /** DNS names and IP addresses (IPv6 in its short form). */
  sans: string[]
  notBefore: string
  notAfter: string
  /** SHA-256 of the DER certificate, as `AB:CD:…` (what `openssl x509 -fingerprint -sha256` prints). */
  fingerprint: string
  serialNumber: string
  selfSigned: boolean
  keyType: string
}

export type CertificateProblem = 'not-a-certificate' | 'not-a-key' | 'key-mismatch' | 'expired' | 'not-yet-valid' | 'unsupported-key' | 'no-material'

const PROBLEM: Record<CertificateProblem, [string, number]> = {
  'not-a-certificate': ['NOT_A_CERTIFICATE', ExitCode.malformed],
  'not-a-key': ['NOT_A_PRIVATE_KEY', ExitCode.malformed],
  'key-mismatch': ['CERT_KEY_MISMATCH', ExitCode.wrongTarget],
  expired: ['CERT_EXPIRED', ExitCode.expired],
  'not-yet-valid': ['CERT_NOT_YET_VALID', ExitCode.notYetValid],
  'unsupported-key': ['UNSUPPORTED_KEY', ExitCode.usage],
  'no-material': ['NO_TLS_MATERIAL', ExitCode.notFound],
}

/** Why certificate material was refused; each problem has its own code and exit status. */
export class CertificateError extends LicadmError {
  readonly problem: CertificateProblem

  constructor(problem: CertificateProblem, message: string, options: ErrorOptions = {}) {
    const [code, exit] = PROBLEM[problem]
    super(code, exit, message, {...options, details: {problem, ...options.details}})
    this.problem = problem
  }
}

// ---------------------------------------------------------------------------------------------
// Fingerprints and names

/** `AB:CD:…` of SHA-256 over DER bytes. */
export function fingerprintOf(der: Buffer): string {
  return formatHex(createHash('sha256').update(der).digest('hex'))
}

function formatHex(hex: string): string {
  return hex.toUpperCase().match(/../g)!.join(':')
}

/** A SHA-256 fingerprint as typed by a person (hex, with or without colons) in the `AB:CD:…` form. */
export function normalizeFingerprint(input: string, flag = 'fingerprint'): string {
  const hex = input.trim().replace(/^sha256[:=]\s*/i, '').replaceAll(/[:\s]/g, '')
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new InvalidValueError(flag, `"${input}" is not a SHA-256 fingerprint: give 64 hex digits, with or without colons`, {
      hint: 'Read it from "licadm server cert show" on the server, or "openssl x509 -noout -fingerprint -sha256 -in server.crt".',
    })
  }
  return formatHex(hex)
}

const DNS_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/

/** One SAN: an IP address (IPv6 shortened) or a DNS name (a leading `*.` allowed); lower case. */
export function checkSan(value: string, flag = '--tls-san'): string {
  const v = value.trim().replace(/^\[(.*)\]$/, '$1')
  if (isIP(v) === 4) return v
  if (isIP(v) === 6) return shortIPv6(v)
  const name = v.toLowerCase().replace(/\.$/, '')
  const labels = name.split('.')
  const ok =
    name.length > 0 &&
    name.length <= 253 &&
    !/^\d+$/.test(labels.at(-1)!) && // a mistyped address, not a name: top-level domains are never all digits
    labels.every((label, i) => (i === 0 && label === '*' && labels.length > 2) || DNS_LABEL.test(label))
  if (!ok) throw new InvalidValueError(flag, `"${value}" is neither a host name nor an IP address`)
  return name
}

/** The defaults plus the names given, checked, without duplicates, in the order given. */
export function serverSans(extra: readonly string[] = [], flag = '--tls-san'): string[] {
  return [...new Set([...DEFAULT_SANS, ...extra.map((s) => checkSan(s, flag))])]
}

function shortIPv6(ip: string): string {
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1)
}

// ---------------------------------------------------------------------------------------------
// Keys and signing

/** A new RSA-2048 server key (PKCS#8 PEM). RSA, because node-forge builds only RSA certificates. */
export function generateServerKey(): string {
  return generateKeyPairSync('rsa', {modulusLength: 2048}).privateKey.export({type: 'pkcs8', format: 'pem'}).toString()
}

function privateKeyObject(pem: string, source: string): KeyObject {
  try {
    return createPrivateKey(pem)
  } catch (error) {
    throw new CertificateError('not-a-key', `${source} is not a PEM private key (or it is encrypted: give it unencrypted)`, {cause: error})
  }
}

function rsaPublicKey(key: KeyObject, source: string) {
  if (key.asymmetricKeyType !== 'rsa') {
    throw new CertificateError('unsupported-key', `${source} is a ${key.asymmetricKeyType} key: certificates, CSRs and PKCS#12 are made for RSA keys only`)
  }
  return forge().pki.publicKeyFromPem(createPublicKey(key).export({type: 'spki', format: 'pem'}).toString())
}

/**
 * A forge "key" and "message digest" pair whose signature is computed by node:crypto over the
 * exact bytes forge asks to sign (forge's own RSA takes a quarter of a second).
 */
function nodeSigner(key: KeyObject) {
  let bytes = ''
  const md = {
    algorithm: 'sha256',
    update(data: string) {
      bytes += data
      return md
    },
  }
  const signer = {sign: () => sign('sha256', Buffer.from(bytes, 'binary'), key).toString('binary')}
  return {md: md as never, signer: signer as never}
}

type AltName = {type: 2; value: string} | {type: 7; ip: string}

function altNames(sans: readonly string[]): AltName[] {
  return sans.map((san) => (isIP(san) ? {type: 7, ip: san} : {type: 2, value: san}))
}

function subjectAttributes(commonName: string, organization?: string) {
  return [{name: 'commonName', value: commonName}, ...(organization ? [{name: 'organizationName', value: organization}] : [])]
}

/** The certificate's common name: the first name given that is not a default, else localhost. */
function defaultCommonName(sans: readonly string[]): string {
  return sans.find((s) => !DEFAULT_SANS.includes(s) && !isIP(s)) ?? sans.find((s) => !isIP(s)) ?? 'localhost'
}

// ---------------------------------------------------------------------------------------------
// Certificates and CSRs

/** A self-signed server certificate (not a CA) for `key`, naming every SAN. */
export function createSelfSigned(options: {key: string; sans: readonly string[]; now: number; days?: number; commonName?: string; organization?: string}): string {
  const {pki} = forge()
  const key = privateKeyObject(options.key, 'the server key')
  const cert = pki.createCertificate()
  cert.publicKey = rsaPublicKey(key, 'the server key')
  // A positive 128-bit serial (RFC 5280: unique per issuer, at most 20 octets).
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`
  cert.validity.notBefore = new Date(options.now - BACKDATE_MS)
  cert.validity.notAfter = new Date(options.now + (options.days ?? SELF_SIGNED_DAYS) * 86_400_000)
  const subject = subjectAttributes(options.commonName ?? defaultCommonName(options.sans), options.organization ?? 'licadm server')
  cert.setSubject(subject)
  cert.setIssuer(subject)
  cert.setExtensions([
    {name: 'basicConstraints', cA: false, critical: true},
    {name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true},
    {name: 'extKeyUsage', serverAuth: true},
    {name: 'subjectAltName', altNames: altNames(options.sans)},
    {name: 'subjectKeyIdentifier'},
  ])
  const {md, signer} = nodeSigner(key)
  cert.sign(signer, md)
  return pki.certificateToPem(cert)
}

/** A PKCS#10 certificate signing request for `key`, asking for these SANs (extensionRequest). */
export function createCsr(options: {key: string; sans: readonly string[]; commonName?: string; organization?: string}): string {
  const {pki} = forge()
  const key = privateKeyObject(options.key, 'the server key')
  const csr = pki.createCertificationRequest()
  csr.publicKey = rsaPublicKey(key, 'the server key')
  csr.setSubject(subjectAttributes(options.commonName ?? defaultCommonName(options.sans), options.organization))
  csr.setAttributes([{name: 'extensionRequest', extensions: [{name: 'subjectAltName', altNames: altNames(options.sans)}]}])
  const {md, signer} = nodeSigner(key)
  csr.sign(signer, md)
  return pki.certificationRequestToPem(csr)
}

/** The certificates of a PEM text, in order; refused when there is none or one does not parse. */
export function parseCertificates(pem: string, source = 'the certificate'): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  if (blocks.length === 0) {
    const what = /-----BEGIN CERTIFICATE REQUEST-----/.test(pem) ? 'a certificate request (CSR), not a certificate: have it signed first' : /PRIVATE KEY-----/.test(pem) ? 'a private key, not a certificate' : 'not a PEM certificate'
    throw new CertificateError('not-a-certificate', `${source} is ${what}`)
  }
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block)
    } catch (error) {
      throw new CertificateError('not-a-certificate', `${source}: certificate ${i + 1} does not parse (${(error as Error).message})`, {cause: error})
    }
  })
}

/** What a certificate says: the first one of a PEM text (the leaf). */
export function readCertificate(pem: string, source?: string): CertInfo {
  return describe(parseCertificates(pem, source)[0])
}

export function describe(x509: X509Certificate): CertInfo {
  return {
    subject: distinguishedName(x509.subject),
    issuer: distinguishedName(x509.issuer),
    sans: parseSans(x509.subjectAltName),
    notBefore: new Date(x509.validFrom).toISOString(),
    notAfter: new Date(x509.validTo).toISOString(),
    fingerprint: fingerprintOf(x509.raw),
    serialNumber: x509.serialNumber,
    // Not checkIssued(): OpenSSL's issuer check also wants keyCertSign, which a server certificate lacks.
    selfSigned: x509.subject === x509.issuer && x509.verify(x509.publicKey),
    keyType: x509.publicKey.asymmetricKeyType ?? 'unknown',
  }
}

function distinguishedName(multiline: string): string {
  return multiline.split('\n').filter(Boolean).join(', ')
}

function parseSans(text: string | undefined): string[] {
  if (!text) return []
  return text.split(/,\s*/).flatMap((entry) => {
    if (entry.startsWith('DNS:')) return [entry.slice(4)]
    if (entry.startsWith('IP Address:')) {
      const ip = entry.slice(11)
      return [isIP(ip) === 6 ? shortIPv6(ip) : ip]
    }
    return []
  })
}

/**
 * Checks that a key and certificate belong together and that the certificate is valid at `now`.
 * When a PEM holds a chain, the certificate of this key is put first (servers send the leaf first).
 */
export function checkMaterial(material: TlsMaterial, now: number, sources: {key?: string; cert?: string} = {}): {material: TlsMaterial; info: CertInfo} {
  const certSource = sources.cert ?? 'the certificate'
  const key = privateKeyObject(material.key, sources.key ?? 'the key')
  const chain = parseCertificates(material.cert, certSource)
  const leaf = chain.find((c) => c.checkPrivateKey(key))
  if (!leaf) {
    const info = describe(chain[0])
    throw new CertificateError('key-mismatch', `${certSource} (${info.subject}, fingerprint ${info.fingerprint}) is not for ${sources.key ?? 'this key'}`, {
      hint: 'A CA-signed certificate must come from a CSR made with "licadm server cert csr" on this data directory (or give the key it was made for).',
      details: {fingerprint: info.fingerprint},
    })
  }
  const info = describe(leaf)
  if (Date.parse(info.notAfter) <= now) {
    throw new CertificateError('expired', `${certSource} (${info.subject}) expired on ${info.notAfter}`, {details: {notAfter: info.notAfter}})
  }
  if (Date.parse(info.notBefore) > now) {
    throw new CertificateError('not-yet-valid', `${certSource} (${info.subject}) is not valid before ${info.notBefore}`, {details: {notBefore: info.notBefore}})
  }
  const ordered = [leaf, ...chain.filter((c) => c !== leaf)]
  return {material: {key: material.key, cert: ordered.map((c) => c.toString()).join('')}, info}
}

/** PKCS#12 (.p12/.pfx) of the key and certificate chain, encrypted with AES-256 under the passphrase. */
export function exportPkcs12(material: TlsMaterial, passphrase: string, friendlyName = 'licadm server'): Buffer {
  const f = forge()
  const key = privateKeyObject(material.key, 'the server key')
  rsaPublicKey(key, 'the server key')
  // forge reads PKCS#1 or PKCS#8 RSA keys; re-export so any encoding Node reads is accepted.
  const forgeKey = f.pki.privateKeyFromPem(key.export({type: 'pkcs8', format: 'pem'}).toString())
  const chain = parseCertificates(material.cert).map((c) => f.pki.certificateFromPem(c.toString()))
  const asn1 = f.pkcs12.toPkcs12Asn1(forgeKey, chain, passphrase, {algorithm: 'aes256', friendlyName, generateLocalKeyId: true})
  return Buffer.from(f.asn1.toDer(asn1).getBytes(), 'binary')
}

// ---------------------------------------------------------------------------------------------
// The data directory: <dir>/tls/server.key (0600) and server.crt

export function tlsPaths(dataDir: string): {dir: string; key: string; cert: string} {
  const dir = join(dataDir, 'tls')
  return {dir, key: join(dir, 'server.key'), cert: join(dir, 'server.crt')}
}

/** The kept key and certificate, or undefined when there are none yet. */
export function loadTls(dataDir: string): TlsMaterial | undefined {
  const paths = tlsPaths(dataDir)
  if (!existsSync(paths.key) || !existsSync(paths.cert)) return undefined
  return {key: readFileSync(paths.key, 'utf8'), cert: readFileSync(paths.cert, 'utf8')}
}

/** The kept material, refused with a hint when the server has none yet. */
export function requireTls(dataDir: string): TlsMaterial {
  const material = loadTls(dataDir)
  if (!material) {
    throw new CertificateError('no-material', `no server certificate in ${tlsPaths(dataDir).dir}`, {
      hint: 'Run "licadm server start --tls" once (it makes one), or "licadm server cert csr" to start with a CA-signed one.',
    })
  }
  return material
}

export interface EnsuredTls {
  material: TlsMaterial
  info: CertInfo
  /** Why a certificate was made now, if it was: first start, expired, or names missing. */
  made?: 'created' | 'expired' | 'sans-added'
  /** SANs asked for that a kept CA-signed certificate lacks (it is used as it is). */
  missingSans: string[]
}

/**
 * The server's TLS material in a data directory: made at first start, kept afterwards. A kept
 * self-signed certificate is remade (same key) when it has expired or lacks a name asked for; a
 * CA-signed one is never replaced here, so an expired one is refused.
 */
export function ensureServerTls(dataDir: string, options: {sans: readonly string[]; now: number}): EnsuredTls {
  const paths = tlsPaths(dataDir)
  const kept = loadTls(dataDir)
  const key = kept?.key ?? (existsSync(paths.key) ? readFileSync(paths.key, 'utf8') : undefined)
  if (!kept) {
    const material = {key: key ?? generateServerKey(), cert: ''}
    material.cert = createSelfSigned({key: material.key, sans: options.sans, now: options.now})
    if (!key) writePrivate(paths.key, material.key)
    writePrivate(paths.cert, material.cert, 0o644)
    return {material, info: readCertificate(material.cert), made: 'created', missingSans: []}
  }
  const current = readCertificate(kept.cert, paths.cert)
  const missingSans = options.sans.filter((s) => !current.sans.includes(s))
  const expired = Date.parse(current.notAfter) <= options.now
  if (current.selfSigned && (expired || missingSans.length > 0)) {
    const sans = [...new Set([...current.sans, ...options.sans])]
    const cert = createSelfSigned({key: kept.key, sans, now: options.now})
    writePrivate(paths.cert, cert, 0o644)
    return {material: {key: kept.key, cert}, info: readCertificate(cert), made: expired ? 'expired' : 'sans-added', missingSans: []}
  }
  const checked = checkMaterial(kept, options.now, {key: paths.key, cert: paths.cert})
  return {...checked, missingSans}
}

/** Throwaway material for `server start --memory --tls`: nothing is written. */
export function memoryTls(options: {sans: readonly string[]; now: number}): {material: TlsMaterial; info: CertInfo} {
  const key = generateServerKey()
  const cert = createSelfSigned({key, sans: options.sans, now: options.now})
  return {material: {key, cert}, info: readCertificate(cert)}
}

/** The key of a data directory, made (with a self-signed certificate) when there is none yet. */
export function serverKey(dataDir: string, options: {sans: readonly string[]; now: number}): string {
  return ensureServerTls(dataDir, options).material.key
}

/**
 * Takes a CA-signed certificate back into the data directory. Refused (nothing written) unless it is
 * a certificate, for this directory's key, and valid now. The replaced certificate is kept as
 * server.crt.previous.
 */
export function installCertificate(dataDir: string, certPem: string, now: number, source = 'the certificate'): CertInfo {
  const paths = tlsPaths(dataDir)
  if (!existsSync(paths.key)) {
    throw new CertificateError('no-material', `no server key in ${paths.dir}`, {hint: 'Make the CSR with "licadm server cert csr" on this data directory first: the certificate must be for its key.'})
  }
  const key = readFileSync(paths.key, 'utf8')
  const {material, info} = checkMaterial({key, cert: certPem}, now, {key: paths.key, cert: source})
  if (existsSync(paths.cert)) writePrivate(`${paths.cert}.previous`, readFileSync(paths.cert, 'utf8'), 0o644)
  writePrivate(paths.cert, material.cert, 0o644)
  return info
}

/** Writes a whole file or nothing, with this mode (0600 unless said), creating the directory 0700. */
export function writePrivate(path: string, data: string | Buffer, mode = 0o600): void {
  try {
    mkdirSync(join(path, '..'), {recursive: true, mode: 0o700})
    writeFileAtomic(path, data, mode, {exact: true})
  } catch (error) {
    throw isFileSystemError(error) ? fileError(error, 'write', {path}) : error
  }
}
