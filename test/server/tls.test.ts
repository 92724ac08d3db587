/**
 * The license server over HTTPS, and how the client trusts it: a CA file, a pinned fingerprint, or
 * the system's CAs (which refuse a self-signed server, with a hint). A wrong pin is refused before
 * any HTTP byte is sent.
 */
import {createServer as createTlsServer, type Server as TlsServer} from 'node:tls'
import type {AddressInfo} from 'node:net'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ServerClient} from '../../src/client/http.js'
import {SeatClient} from '../../src/client/seat-client.js'
import {request} from '../../src/client/transport.js'
import {createSelfSigned, generateServerKey, memoryTls, serverSans} from '../../src/crypto/certs.js'
import {ManualClock} from '../../src/domain/clock.js'
import {ExitCode} from '../../src/domain/errors.js'
import {startServer, type RunningServer} from '../../src/server/runtime.js'
import {CLIENT_TOKEN, defaultSeed, refusal} from './helpers.js'

const NOW = Date.now() // the certificate must be valid for this machine's TLS stack, which reads the real clock
const tls = memoryTls({sans: serverSans(), now: NOW})
let s: RunningServer
let requestsSeen = 0

async function start(options: {tls?: {key: string; cert: string}} = {}): Promise<RunningServer> {
  return startServer({
    port: 0,
    data: {kind: 'memory'},
    clock: new ManualClock(NOW),
    seed: JSON.stringify(defaultSeed),
    tokens: [{token: CLIENT_TOKEN, role: 'client', name: 'tests'}],
    sweepIntervalMs: 60_000,
    tls: options.tls,
    onInternalError: (error) => {
      throw error
    },
  })
}

beforeAll(async () => {
  s = await start({tls: tls.material})
  s.app.server.on('request', () => requestsSeen++)
})
afterAll(async () => {
  await s?.close()
})

function client(trust?: {ca?: string; fingerprint?: string}, server: RunningServer | string = s): ServerClient {
  const url = typeof server === 'string' ? server : server.url
  const publicKeys = typeof server === 'string' ? undefined : server.publicKeys
  return new ServerClient({server: url, token: CLIENT_TOKEN, publicKeys, trust, timeoutMs: 20_000})
}

describe('an https server', () => {
  it('listens on an https URL', () => {
    expect(s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
  })

  it('is trusted with --ca (its own certificate): the seat API works, responses verify', async () => {
    const c = client({ca: tls.material.cert})
    expect((await c.health()).status).toBe('ok')
    const grant = await c.checkout({product: 7, user: 'ann', host: 'pc1'})
    expect(grant.lease.user).toBe('ann')
    expect(c.lastTime).toBeDefined() // the signed response was checked
    await c.release(grant.lease.id)
  })

  it('is trusted by its pinned fingerprint, with or without colons, any case', async () => {
    const before = requestsSeen
    expect((await client({fingerprint: tls.info.fingerprint}).health()).status).toBe('ok')
    expect((await client({fingerprint: tls.info.fingerprint.replaceAll(':', '').toLowerCase()}).health()).status).toBe('ok')
    // by host name too (the certificate names localhost)
    expect((await client({fingerprint: tls.info.fingerprint}, s.url.replace('127.0.0.1', 'localhost')).health()).status).toBe('ok')
    expect(requestsSeen - before).toBe(3)
  })

  it('refuses a wrong pinned fingerprint before any request reaches the server', async () => {
    const before = requestsSeen
    const wrong = memoryTls({sans: serverSans(), now: NOW}).info.fingerprint
    const err = await refusal(client({fingerprint: wrong}).checkout({product: 7, user: 'eve', host: 'pc9'}))
    expect(err.code).toBe('TLS_FINGERPRINT_MISMATCH')
    expect(err.exit).toBe(ExitCode.unreachable)
    expect(err.message).toContain(s.url)
    expect((err as {hint?: string}).hint).toContain(tls.info.fingerprint)
    expect(requestsSeen).toBe(before)
    expect((await client({ca: tls.material.cert}).list())[0].used).toBe(0) // and nothing was checked out
  })

  it('refuses with the system CAs only (no trust given), naming --ca and the fingerprint to pin', async () => {
    const before = requestsSeen
    const err = await refusal(client().health())
    expect(err.code).toBe('TLS_UNTRUSTED')
    expect(err.exit).toBe(ExitCode.unreachable)
    expect(err.message).toContain(s.url)
    const hint = (err as {hint?: string}).hint!
    expect(hint).toContain('--ca FILE')
    expect(hint).toContain(`licadm profile set server-fingerprint ${tls.info.fingerprint}`)
    expect(err.details).toMatchObject({reason: 'DEPTH_ZERO_SELF_SIGNED_CERT', presented: tls.info.fingerprint})
    expect(requestsSeen).toBe(before)
  })

  it('refuses another CA, and a fingerprint pinned together with a CA that does not verify', async () => {
    const other = memoryTls({sans: serverSans(), now: NOW}).material.cert
    expect((await refusal(client({ca: other}).health())).code).toBe('TLS_UNTRUSTED')
    expect((await refusal(client({ca: other, fingerprint: tls.info.fingerprint}).health())).code).toBe('TLS_UNTRUSTED')
  })
})

describe('the seat client over https', () => {
  it('checks out and releases with a pinned fingerprint, and is refused with the system CAs only', async () => {
    const options = {server: s.url, token: CLIENT_TOKEN, publicKeys: s.publicKeys, releaseOnExit: false, timeoutMs: 20_000}
    const pinned = new SeatClient({...options, trust: {fingerprint: tls.info.fingerprint}})
    const seat = await pinned.checkout({product: 7}, {autoHeartbeat: false})
    expect(seat.active).toBe(true)
    expect(await seat.release()).toBe(true)
    await pinned.close()
    const before = requestsSeen
    const untrusted = new SeatClient(options)
    expect((await refusal(untrusted.checkout({product: 7}, {autoHeartbeat: false}))).code).toBe('TLS_UNTRUSTED')
    expect(requestsSeen).toBe(before)
    await untrusted.close()
  })
})

describe('a certificate without the host name', () => {
  it('is refused even with the right CA, with a hint to add the name', async () => {
    const key = generateServerKey()
    const cert = createSelfSigned({key, sans: ['only.example'], now: NOW})
    const other = await start({tls: {key, cert}})
    try {
      const err = await refusal(client({ca: cert}, other).health())
      expect(err.code).toBe('TLS_UNTRUSTED')
      expect((err as {hint?: string}).hint).toContain('--tls-san 127.0.0.1')
    } finally {
      await other.close()
    }
  })
})

describe('a pinned fingerprint is checked before HTTP', () => {
  let raw: TlsServer
  const received: Buffer[] = []
  let url: string
  beforeAll(async () => {
    // A bare TLS server with the right-looking name but another certificate: it records every byte.
    const impostor = memoryTls({sans: serverSans(), now: NOW}).material
    raw = createTlsServer({key: impostor.key, cert: impostor.cert}, (socket) => {
      socket.on('data', (b: Buffer) => received.push(b))
      socket.on('error', () => {})
    })
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve))
    url = `https://127.0.0.1:${(raw.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((resolve) => raw.close(() => resolve())))

  it('sends no byte of the request (nor the token) to a server with another certificate', async () => {
    const err = await refusal(
      request({method: 'POST', url: `${url}/v1/leases`, headers: {authorization: `Bearer ${CLIENT_TOKEN}`}, body: '{"secret":1}', trust: {fingerprint: tls.info.fingerprint}}),
    )
    expect(err.code).toBe('TLS_FINGERPRINT_MISMATCH')
    await new Promise((resolve) => setTimeout(resolve, 100)) // let anything in flight arrive
    expect(Buffer.concat(received).length).toBe(0)
  })
})

describe('plain http', () => {
  let plain: RunningServer
  beforeAll(async () => {
    plain = await start()
  })
  afterAll(() => plain.close())

  it('keeps the connection alive between requests (heartbeats reuse it)', async () => {
    let connections = 0
    plain.app.server.on('connection', () => connections++)
    const c = client(undefined, plain)
    for (let i = 0; i < 5; i++) await c.health()
    expect(plain.url).toMatch(/^http:/)
    expect(connections).toBe(1)
  })

  it('a server that is not there: SERVER_UNREACHABLE with the URL', async () => {
    const gone = await start()
    await gone.close()
    const err = await refusal(client(undefined, gone.url).health())
    expect(err.code).toBe('SERVER_UNREACHABLE')
    expect(err.exit).toBe(ExitCode.unreachable)
    expect(err.message).toContain(gone.url)
  })

  it('https to a plain http server: unreachable (no TLS there), not a trust question', async () => {
    const err = await refusal(client({ca: tls.material.cert}, plain.url.replace('http:', 'https:')).health())
    expect(err.code).toBe('SERVER_UNREACHABLE')
    expect((err as {hint?: string}).hint).toMatch(/does not speak TLS/)
  })
})
