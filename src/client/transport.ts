/**
 * One HTTP(S) request to a license server, with its certificate checked the way the user chose:
 * the system's CAs (strict, the default), a CA file (--ca), or a pinned SHA-256 fingerprint of the
 * server's certificate (a self-signed server). There is no mode that accepts any certificate.
 */
import {Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type ClientRequest, type IncomingMessage} from 'node:http'
import {Agent as HttpsAgent, request as httpsRequest} from 'node:https'
import {connect as tlsConnect, type PeerCertificate, type TLSSocket} from 'node:tls'

import {fingerprintOf, normalizeFingerprint} from '../crypto/certs.js'
import {ExitCode, LicadmError} from '../domain/errors.js'

/** How the server's certificate is trusted. Neither field: the system's CAs. */
export interface TrustOptions {
  /** PEM CA certificate(s), or the server's own self-signed certificate: verify against these only. */
  ca?: string
  /**
   * The server certificate's SHA-256 fingerprint (`AB:CD:…`, or hex without colons): the connection
   * is used only if the presented certificate has exactly this fingerprint (checked before any HTTP
   * byte is sent). With `ca` too, the chain must also verify against it.
   */
  fingerprint?: string
}

export interface TransportRequest {
  method: string
  url: string | URL
  headers?: Record<string, string>
  body?: string | Buffer
  /** Milliseconds for the whole exchange, connection included (default 10 s). */
  timeoutMs?: number
  trust?: TrustOptions
  /** Cancels the request (refused as CANCELLED, exit 9). */
  signal?: AbortSignal
}

export interface TransportResponse {
  status: number
  headers: IncomingHttpHeaders
  text: string
}

// Keep-alive: the seat client's heartbeats reuse their connection. Idle sockets do not keep the
// process alive (Node unrefs them).
const httpAgent = new HttpAgent({keepAlive: true})
const httpsAgent = new HttpsAgent({keepAlive: true})

/** OpenSSL's and Node's codes for a certificate that does not verify (as opposed to a network failure). */
const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_TLS_CERT_ALTNAME_FORMAT',
])

const SELF_SIGNED = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'])

/**
 * Sends one request and reads the whole answer. Refusals: SERVER_UNREACHABLE (network, timeout),
 * TLS_UNTRUSTED (the certificate does not verify), TLS_FINGERPRINT_MISMATCH (not the pinned one);
 * all with exit status 8 and the URL in the message.
 */
export async function request(req: TransportRequest): Promise<TransportResponse> {
  const url = typeof req.url === 'string' ? new URL(req.url) : req.url
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new LicadmError('INVALID_VALUE', ExitCode.usage, `"${url.href}" is not an http(s) URL`)
  const timeoutMs = req.timeoutMs ?? 10_000
  const pinned = req.trust?.fingerprint === undefined ? undefined : normalizeFingerprint(req.trust.fingerprint, 'the pinned server fingerprint')
  const deadline = new AbortController()
  const timer = setTimeout(() => deadline.abort(), timeoutMs)
  const cancel = () => deadline.abort()
  req.signal?.addEventListener('abort', cancel, {once: true})
  try {
    if (req.signal?.aborted) throw cancelled(url)
    let socket: TLSSocket | undefined
    if (url.protocol === 'https:' && pinned !== undefined) socket = await pinnedSocket(url, pinned, req.trust?.ca, deadline.signal)
    return await exchange(url, req, socket, deadline.signal)
  } catch (error) {
    if (error instanceof LicadmError) throw error
    if (req.signal?.aborted) throw cancelled(url)
    if (deadline.signal.aborted) throw unreachable(url, `no answer within ${timeoutMs / 1000} s`, error)
    throw await classify(url, error as NodeJS.ErrnoException, req.trust)
  } finally {
    clearTimeout(timer)
    req.signal?.removeEventListener('abort', cancel)
  }
}

/**
 * A TLS connection whose peer certificate has the pinned fingerprint, or a refusal. Chain checks are
 * left to the pin (a self-signed certificate cannot chain) unless a CA is given too; the socket is
 * handed to HTTP only after the check, so nothing of the request reaches another server.
 */
function pinnedSocket(url: URL, fingerprint: string, ca: string | undefined, signal: AbortSignal): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const host = hostOf(url)
    const socket = tlsConnect({
      host,
      port: Number(url.port || 443),
      servername: isIpAddress(host) ? undefined : host,
      ca,
      // The pin is the trust decision: a self-signed certificate does not verify against any CA.
      // With a CA given, the chain must verify as well (and the host name match).
      rejectUnauthorized: ca !== undefined,
    })
    const abort = () => socket.destroy(new Error('aborted'))
    signal.addEventListener('abort', abort, {once: true})
    socket.once('error', (error) => {
      signal.removeEventListener('abort', abort)
      reject(error)
    })
    socket.once('secureConnect', () => {
      signal.removeEventListener('abort', abort)
      const cert = socket.getPeerCertificate()
      const presented = cert?.raw ? fingerprintOf(cert.raw) : undefined
      if (presented !== fingerprint) {
        socket.destroy()
        reject(
          new LicadmError('TLS_FINGERPRINT_MISMATCH', ExitCode.unreachable, `the server at ${url.origin} presented a certificate with another fingerprint than the pinned one: refused before sending anything`, {
            hint: `Presented ${presented ?? 'no certificate'}; pinned ${fingerprint}. If the server's certificate was renewed on purpose, check the new fingerprint on the server ("licadm server cert show") and pin it with "licadm profile set server-fingerprint <fingerprint>".`,
            details: {url: url.origin, presented, pinned: fingerprint},
          }),
        )
        return
      }
      resolve(socket)
    })
  })
}

function exchange(url: URL, req: TransportRequest, socket: TLSSocket | undefined, signal: AbortSignal): Promise<TransportResponse> {
  return new Promise((resolve, reject) => {
    const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body)
    const headers: Record<string, string> = {...req.headers}
    if (body !== undefined) headers['content-length'] = String(body.length)
    const common = {method: req.method, headers, signal}
    let r: ClientRequest
    if (socket) {
      // A verified socket of our own: HTTP over it, one request, then closed.
      r = httpsRequest(url, {...common, createConnection: () => socket})
    } else if (url.protocol === 'https:') {
      r = httpsRequest(url, {...common, agent: httpsAgent, ca: req.trust?.ca, rejectUnauthorized: true})
    } else {
      r = httpRequest(url, {...common, agent: httpAgent})
    }
    r.once('error', reject)
    r.once('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.once('error', reject)
      res.once('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8')}))
    })
    r.end(body)
  })
}

/** A failed request as a refusal: an untrusted certificate (with what to do about it) or a network failure. */
async function classify(url: URL, error: NodeJS.ErrnoException, trust: TrustOptions | undefined): Promise<LicadmError> {
  const code = error.code ?? ''
  if (!UNTRUSTED.has(code)) {
    const failure = unreachable(url, code && !error.message.includes(code) ? `${code} ${error.message}` : error.message || code, error)
    // The two ways to get the scheme wrong: https to a plain server, http to a TLS one (it hangs up).
    if (url.protocol === 'https:' && /wrong version number|packet length too long|EPROTO/i.test(`${code} ${error.message}`)) {
      return new LicadmError(failure.code, failure.exit, failure.message, {details: failure.details, cause: error, hint: `The server at ${url.host} does not speak TLS: is it started without --tls? Then use http://.`})
    }
    if (url.protocol === 'http:' && code === 'ECONNRESET') {
      return new LicadmError(failure.code, failure.exit, failure.message, {details: failure.details, cause: error, hint: `${failure.hint} If it serves HTTPS (started with --tls), use https://${url.host}.`})
    }
    return failure
  }
  const presented = await presentedFingerprint(url).catch(() => undefined)
  const how = trust?.ca !== undefined ? 'the given CA (--ca)' : "the system's certificate authorities"
  let hint: string
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') {
    hint = `The certificate does not name ${hostOf(url)}: connect with a name it has (see "licadm server cert show" on the server), or have the server add it (server start --tls-san ${hostOf(url)}).`
  } else if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    hint = "Check this machine's clock and the server certificate's validity (\"licadm server cert show\")."
  } else if (SELF_SIGNED.has(code)) {
    hint = `If this is your server with a self-signed certificate, trust it with --ca FILE (the server's certificate, from "licadm server cert export --out FILE"), or pin it: licadm profile set server-fingerprint ${presented ?? '<the fingerprint "licadm server cert show" prints on the server>'}. Compare the fingerprint with the server's before you pin it.`
  } else {
    hint = 'Give the CA that signed the server certificate with --ca FILE, or pin the certificate with "licadm profile set server-fingerprint".'
  }
  return new LicadmError('TLS_UNTRUSTED', ExitCode.unreachable, `the server certificate of ${url.origin} is not trusted by ${how}: ${error.message}`, {
    hint,
    details: {url: url.origin, reason: code, ...(presented ? {presented} : {})},
    cause: error,
  })
}

/**
 * The fingerprint of the certificate a server presents, for the hint of a refusal. A handshake
 * only: the connection is closed at once and no HTTP byte is sent.
 */
export function presentedFingerprint(url: URL, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const host = hostOf(url)
    const socket = tlsConnect({host, port: Number(url.port || 443), servername: isIpAddress(host) ? undefined : host, rejectUnauthorized: false})
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('timeout')))
    socket.once('error', reject)
    socket.once('secureConnect', () => {
      const cert: PeerCertificate | undefined = socket.getPeerCertificate()
      socket.destroy()
      if (cert?.raw) resolve(fingerprintOf(cert.raw))
      else reject(new Error('no certificate'))
    })
  })
}

/** The caller's signal cancelled the request (before it was sent, or while it waited for its answer). */
function cancelled(url: URL): LicadmError {
  return new LicadmError('CANCELLED', ExitCode.cancelled, `the request to ${url.origin} was cancelled`)
}

function unreachable(url: URL, why: string, cause: unknown): LicadmError {
  return new LicadmError('SERVER_UNREACHABLE', ExitCode.unreachable, `cannot reach the license server at ${url.origin}: ${why}`, {
    hint: 'Check --server / LICADM_SERVER (or the profile\'s "server") and that "licadm server start" is running.',
    details: {url: url.origin},
    cause,
  })
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1')
}

function isIpAddress(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':')
}
