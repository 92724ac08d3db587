/**
 * A signed response answers one request: the client's nonce and the digest of the request as the
 * server received it are in the signature, so a relay between client and server can neither replay
 * a genuine answer, share it among clients, nor answer a request it rewrote.
 */
import {createServer, request as httpRequest, type IncomingMessage, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ServerClient} from '../../src/client/http.js'
import {generateSigningKey, signerFor} from '../../src/crypto/keys.js'
import {ExitCode} from '../../src/domain/errors.js'
import {NONCE_HEADER, requestBinding, signResponse, verifyResponse} from '../../src/formats/response.js'
import {verificationError} from '../unit/helpers.js'
import {CLIENT_TOKEN, closeAll, refusal, testServer, type TestServer} from './helpers.js'

const header = (signature: string | null) => JSON.parse(Buffer.from(String(signature).split('.')[0], 'base64url').toString())

describe('verifyResponse with the request it answers', () => {
  const {privateKey, publicKey} = generateSigningKey()
  const signer = signerFor(privateKey)
  const keys = new Map([[signer.kid, publicKey]])
  const body = '{"ok":true,"result":{"released":true}}'
  const sent = requestBinding('n'.repeat(22), 'DELETE', '/v1/leases/lse_1', '')

  it('accepts the answer signed for this request, and a stock reader sees n and rq in the protected header', () => {
    const signature = signResponse(body, 200, 5000, signer, sent)
    expect(verifyResponse(signature, body, 200, keys, sent)).toEqual({kid: signer.kid, serverTime: 5000, status: 200})
    expect(header(signature)).toEqual({alg: 'EdDSA', kid: signer.kid, typ: 'licadm-response+jws', t: 5000, st: 200, n: sent.n, rq: sent.rq})
  })

  it("refuses another request's nonce or an unbound answer as replayed, and another request's digest as wrong-target", () => {
    const other = signResponse(body, 200, 5000, signer, requestBinding('m'.repeat(22), 'DELETE', '/v1/leases/lse_1', ''))
    expect(verificationError(() => verifyResponse(other, body, 200, keys, sent))).toMatchObject({exit: ExitCode.replayed, message: expect.stringMatching(/signed for another request/)})
    const unbound = signResponse(body, 200, 5000, signer)
    expect(verificationError(() => verifyResponse(unbound, body, 200, keys, sent)).message).toMatch(/not bound to this request/)
    // Without a request to check against (a stock caller), an unbound answer still verifies.
    expect(verifyResponse(unbound, body, 200, keys).status).toBe(200)
    for (const [method, path, sentBody] of [
      ['DELETE', '/v1/leases/lse_2', ''],
      ['POST', '/v1/leases/lse_1', ''],
      ['DELETE', '/v1/leases/lse_1', '{}'],
    ]) {
      const rewritten = signResponse(body, 200, 5000, signer, requestBinding(sent.n, method, path, sentBody))
      expect(verificationError(() => verifyResponse(rewritten, body, 200, keys, sent)), `${method} ${path} ${sentBody}`).toMatchObject({exit: ExitCode.wrongTarget})
    }
  })
})

/** A relay in front of the server: passes requests on, after `rewrite` (path, body) and unless `answer` answers itself. */
interface Relay {
  url: string
  rewrite?: (req: {method: string; path: string; body: string}) => {path: string; body: string}
  /** Answers recorded from the server, by method and path (the first one of each). */
  recorded: Map<string, {status: number; headers: IncomingMessage['headers']; body: Buffer}>
  replay: boolean
  close(): Promise<void>
}

async function relay(target: string): Promise<Relay> {
  const state: Relay = {url: '', recorded: new Map(), replay: false, close: async () => {}}
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const key = `${req.method} ${req.url}`
      const kept = state.recorded.get(key)
      if (state.replay && kept) {
        res.writeHead(kept.status, kept.headers)
        res.end(kept.body)
        return
      }
      const wanted = state.rewrite ? state.rewrite({method: req.method!, path: req.url!, body: Buffer.concat(chunks).toString()}) : {path: req.url!, body: Buffer.concat(chunks).toString()}
      const to = new URL(wanted.path, target)
      const headers = {...req.headers, host: to.host, 'content-length': String(Buffer.byteLength(wanted.body))}
      const forward = httpRequest(to, {method: req.method, headers}, (answer) => {
        const parts: Buffer[] = []
        answer.on('data', (c: Buffer) => parts.push(c))
        answer.on('end', () => {
          const recorded = {status: answer.statusCode!, headers: answer.headers, body: Buffer.concat(parts)}
          if (!state.recorded.has(key)) state.recorded.set(key, recorded)
          res.writeHead(recorded.status, recorded.headers)
          res.end(recorded.body)
        })
      })
      forward.end(wanted.body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  state.close = () => new Promise((resolve) => server.close(() => resolve()))
  return state
}

describe('the server binds each answer to its request; the client refuses answers that a relay replayed or re-targeted', () => {
  let s: TestServer
  let r: Relay
  beforeAll(async () => {
    s = await testServer()
    r = await relay(s.url)
  })
  afterAll(async () => {
    await r.close()
    await closeAll()
  })

  it('signs n and rq over the method, the path and query, and the body bytes as received', async () => {
    const nonce = 'abcdefghijklmnop_-0123'
    const body = `{ "license": "${s.license('ten')}",  "user": "ann", "host": "pc1" }`
    const res = await fetch(`${s.url}/v1/leases`, {method: 'POST', headers: {authorization: `Bearer ${CLIENT_TOKEN}`, 'content-type': 'application/json', [NONCE_HEADER]: nonce}, body})
    expect(res.status).toBe(201)
    const text = await res.text()
    const binding = requestBinding(nonce, 'POST', '/v1/leases', body)
    expect(header(res.headers.get('licadm-signature'))).toMatchObject({n: nonce, rq: binding.rq})
    verifyResponse(res.headers.get('licadm-signature'), text, 201, s.publicKeys, binding)
    // A GET with a query and no body; a refusal is bound as well.
    const list = await fetch(`${s.url}/v1/leases?license=${s.license('ten')}`, {headers: {authorization: `Bearer ${CLIENT_TOKEN}`, [NONCE_HEADER]: nonce}})
    verifyResponse(list.headers.get('licadm-signature'), await list.text(), 200, s.publicKeys, requestBinding(nonce, 'GET', `/v1/leases?license=${s.license('ten')}`, ''))
    const missing = await fetch(`${s.url}/v1/leases/lse_nope/heartbeat`, {method: 'POST', headers: {authorization: `Bearer ${CLIENT_TOKEN}`, [NONCE_HEADER]: nonce}})
    expect(missing.status).toBe(404)
    verifyResponse(missing.headers.get('licadm-signature'), await missing.text(), 404, s.publicKeys, requestBinding(nonce, 'POST', '/v1/leases/lse_nope/heartbeat', ''))
    // Without a nonce, the answer is signed as before, without n and rq.
    const plain = await fetch(`${s.url}/healthz`)
    expect(header(plain.headers.get('licadm-signature'))).not.toHaveProperty('n')
  })

  it('a malformed nonce is refused with 400 INVALID_NONCE (signed), not ignored', async () => {
    for (const nonce of ['short', 'x'.repeat(129), 'has spaces in it here', 'a+b/c=d0123456789abcdef']) {
      const res = await fetch(`${s.url}/v1/leases`, {headers: {authorization: `Bearer ${CLIENT_TOKEN}`, [NONCE_HEADER]: nonce}})
      expect(res.status, nonce).toBe(400)
      expect(((await res.json()) as any).error).toMatchObject({code: 'INVALID_NONCE', exitCode: ExitCode.usage, message: expect.stringMatching(/16 to 128 base64url/)})
      expect(res.headers.get('licadm-signature')).toBeTruthy()
    }
  })

  it('through a relay that passes requests on unchanged, the client works; an answer to a request the relay rewrote is refused', async () => {
    const client = new ServerClient({server: r.url, token: CLIENT_TOKEN, publicKeys: s.publicKeys})
    const grant = await client.checkout({license: s.license('ten'), user: 'bob', host: 'pc2'})
    expect(grant.lease.licenseId).toBe(s.license('ten'))
    expect(await client.release(grant.lease.id)).toMatchObject({released: true})

    r.rewrite = ({path, body}) => ({path, body: body.replace(s.license('ten'), s.license('two'))})
    const e = await refusal(client.checkout({license: s.license('ten'), user: 'bob', host: 'pc2'}))
    expect(e).toMatchObject({code: 'WRONG_TARGET', exit: ExitCode.wrongTarget, message: expect.stringMatching(/answers another request/)})
    r.rewrite = ({body}) => ({path: '/v1/leases?license=' + s.license('two'), body})
    expect((await refusal(client.list({license: s.license('ten')}))).exit).toBe(ExitCode.wrongTarget)
    r.rewrite = undefined
  })

  it("a relay that replays a recorded answer to later requests (one seat shared by many) is refused: the answer carries the first request's nonce", async () => {
    const client = new ServerClient({server: r.url, token: CLIENT_TOKEN, publicKeys: s.publicKeys})
    r.recorded.clear()
    const first = await client.checkout({product: 8, user: 'carol', host: 'pc3'})
    await client.heartbeat(first.lease.id)
    r.replay = true
    try {
      const e = await refusal(client.checkout({product: 8, user: 'dave', host: 'pc4'}))
      expect(e).toMatchObject({code: 'REPLAYED', exit: ExitCode.replayed})
      expect((await refusal(client.heartbeat(first.lease.id))).exit).toBe(ExitCode.replayed)
    } finally {
      r.replay = false
    }
    // Only carol's checkout reached the server: dave holds nothing.
    const [usage] = await s.client.list({license: s.license('two')})
    expect(usage.holders.filter((h) => h.user === 'carol')).toHaveLength(1)
    expect(usage.holders.filter((h) => h.user === 'dave')).toHaveLength(0)
  })
})

describe('an unsigned 503 (a server that is stopping answers before its own code runs)', () => {
  it('is told as SERVER_UNAVAILABLE (exit 8, may be retried), while any other unsigned answer is still refused', async () => {
    const {privateKey, publicKey} = generateSigningKey()
    const keys = new Map([[signerFor(privateKey).kid, publicKey]])
    let status = 503
    const server = createServer((_req, res) => {
      res.writeHead(status, {'content-type': 'application/json'})
      res.end(status === 503 ? '{"code":"FST_ERR_SERVER_CLOSING"}' : '{"ok":true,"result":{}}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const client = new ServerClient({server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: CLIENT_TOKEN, publicKeys: keys})
      expect(await refusal(client.list())).toMatchObject({code: 'SERVER_UNAVAILABLE', exit: ExitCode.unreachable, message: expect.stringMatching(/not available \(503\)/)})
      status = 200
      expect(await refusal(client.list())).toMatchObject({exit: ExitCode.malformed, message: expect.stringMatching(/carries no licadm-signature header/)})
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
