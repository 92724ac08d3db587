import {request} from 'node:http'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ManualClock} from '../../src/domain/clock.js'
import {listenUrlHost, startServer} from '../../src/server/runtime.js'
import {ADMIN_TOKEN, CLIENT_TOKEN, closeAll, T0, testServer, type TestServer} from './helpers.js'

let s: TestServer
beforeAll(async () => {
  s = await testServer({bodyLimit: 4096})
})
afterAll(closeAll)

interface Answer {
  status: number
  json: any
  headers: Headers
}

async function call(method: string, path: string, options: {body?: string | Buffer; type?: string | null; token?: string | null} = {}): Promise<Answer> {
  const headers: Record<string, string> = {}
  if (options.token !== null) headers.authorization = `Bearer ${options.token ?? CLIENT_TOKEN}`
  if (options.body !== undefined && options.type !== null) headers['content-type'] = options.type ?? 'application/json'
  const res = await fetch(`${s.url}${path}`, {method, headers, body: options.body})
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new Error(`not JSON (${res.status}): ${text.slice(0, 200)}`)
  }
  return {status: res.status, json, headers: res.headers}
}

function expectRefusal(a: Answer, status: number, code: string | RegExp, message?: RegExp): void {
  expect(a.status, JSON.stringify(a.json)).toBe(status)
  expect(a.json.ok).toBe(false)
  expect(a.json.error.code).toMatch(code)
  expect(typeof a.json.error.message).toBe('string')
  expect(a.json.error.message.length).toBeGreaterThan(10)
  if (message) expect(a.json.error.message).toMatch(message)
  expect(a.headers.get('licadm-signature')).toBeTruthy()
}

describe('bad input gets a clear 4xx, never a 5xx', () => {
  it('malformed JSON', async () => {
    expectRefusal(await call('POST', '/v1/leases', {body: '{"user": "a", "host": '}), 400, 'INVALID_JSON', /not valid JSON/)
    expectRefusal(await call('POST', '/v1/leases', {body: ''}), 400, 'INVALID_JSON', /empty/)
    expectRefusal(await call('POST', '/v1/leases', {body: '[1,2,3]'}), 400, 'INVALID_REQUEST', /must be object/)
    expectRefusal(await call('POST', '/v1/leases', {body: 'null'}), 400, /INVALID_/)
    expectRefusal(await call('POST', '/v1/leases', {body: '"text"'}), 400, 'INVALID_REQUEST')
  })

  it('wrong types, missing and unknown fields, out-of-range values', async () => {
    const license = s.license('ten')
    expectRefusal(await call('POST', '/v1/leases', {body: JSON.stringify({license, user: 5, host: 'h'})}), 400, 'INVALID_REQUEST', /user must be string/)
    expectRefusal(await call('POST', '/v1/leases', {body: JSON.stringify({license, host: 'h'})}), 400, 'INVALID_REQUEST', /must have required property 'user'/)
    expectRefusal(await call('POST', '/v1/leases', {body: JSON.stringify({license, user: 'u', host: 'h', admin: true})}), 400, 'INVALID_REQUEST', /additional properties/)
    expectRefusal(await call('POST', '/v1/leases', {body: JSON.stringify({product: -1, user: 'u', host: 'h'})}), 400, 'INVALID_REQUEST', /product/)
    expectRefusal(await call('POST', '/v1/leases', {body: JSON.stringify({product: 7.5, user: 'u', host: 'h'})}), 400, 'INVALID_REQUEST', /integer/)
    expectRefusal(await call('POST', '/v1/leases', {body: JSON.stringify({license, user: '', host: 'h'})}), 400, 'INVALID_REQUEST')
    expectRefusal(await call('POST', '/v1/leases', {body: JSON.stringify({license, user: 'x'.repeat(201), host: 'h'})}), 400, 'INVALID_REQUEST')
    expectRefusal(await call('POST', '/v1/leases', {body: JSON.stringify({user: 'u', host: 'h'})}), 400, 'INVALID_VALUE', /either a license id or a product code/)
    expectRefusal(await call('POST', '/v1/leases', {body: JSON.stringify({user: 'u', host: '   '})}), 400, 'INVALID_VALUE', /host/)
    expectRefusal(await call('POST', '/v1/borrows', {body: JSON.stringify({license, user: 'u', host: 'h', duration: '3d'})}), 400, 'INVALID_REQUEST', /duration/)
    expectRefusal(await call('POST', '/v1/borrows', {body: JSON.stringify({license, user: 'u', host: 'h', duration: 1e12})}), 400, 'INVALID_REQUEST')
    expectRefusal(await call('GET', '/v1/leases?product=abc'), 400, 'INVALID_REQUEST')
    expectRefusal(await call('POST', '/v1/test/clock/advance', {body: JSON.stringify({seconds: -5}), token: ADMIN_TOKEN}), 400, 'INVALID_REQUEST')
  })

  it('the test clock is never advanced past the last time a date can show: refused with 400, and the server goes on answering', async () => {
    const t = await testServer()
    const century = 100 * 366 * 86_400
    let refused: {status: number; json: any} | undefined
    for (let i = 0; i < 90 && !refused; i++) {
      const r = await fetch(new URL('/v1/test/clock/advance', t.url), {method: 'POST', headers: {'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}`}, body: JSON.stringify({seconds: century})})
      if (r.status !== 200) refused = {status: r.status, json: await r.json()}
    }
    expect(refused?.status).toBe(400)
    expect(refused?.json.error).toMatchObject({code: 'INVALID_VALUE', message: expect.stringMatching(/past 9999-12-31T23:59:59\.000Z, the last time it can show/)})
    expect(t.clock.now()).toBeLessThanOrEqual(Date.UTC(9999, 11, 31, 23, 59, 59))
    const health = await fetch(new URL('/healthz', t.url))
    expect(health.status).toBe(200)
    expect(health.headers.get('licadm-signature')).toBeTruthy()
    await t.close()
  })

  it('huge bodies are refused with 413', async () => {
    const huge = JSON.stringify({license: s.license('ten'), user: 'u'.repeat(100_000), host: 'h'})
    expectRefusal(await call('POST', '/v1/leases', {body: huge}), 413, 'BODY_TOO_LARGE')
    // A huge body the client declares smaller (or streams without a length) is cut off as well.
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL('/v1/leases', s.url)
      const req = request({host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: {'content-type': 'application/json', authorization: `Bearer ${CLIENT_TOKEN}`, 'transfer-encoding': 'chunked'}}, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' || (e as NodeJS.ErrnoException).code === 'EPIPE' ? resolve(413) : reject(e)))
      for (let i = 0; i < 100; i++) req.write('x'.repeat(1000))
      req.end()
    })
    expect(status).toBe(413)
  })

  it('unknown routes, wrong methods and wrong media types', async () => {
    expectRefusal(await call('GET', '/v2/whatever'), 404, 'ROUTE_NOT_FOUND', /no such endpoint: GET \/v2\/whatever/)
    expectRefusal(await call('PATCH', '/v1/leases'), 404, 'ROUTE_NOT_FOUND')
    expectRefusal(await call('POST', '/v1/leases', {body: 'user=u&host=h', type: 'application/x-www-form-urlencoded'}), 415, 'UNSUPPORTED_MEDIA_TYPE', /application\/json/)
    expectRefusal(await call('POST', '/v1/leases', {body: '{}', type: 'text/plain'}), 415, 'UNSUPPORTED_MEDIA_TYPE')
    expectRefusal(await call('POST', '/v1/leases/%/heartbeat'), 400, /.+/)
    expectRefusal(await call('DELETE', `/v1/leases/${'x'.repeat(300)}`), 400, /BAD_URL|INVALID_REQUEST/)
    expectRefusal(await call('POST', '/v1/leases/nope/heartbeat'), 404, 'LEASE_NOT_FOUND', /lease nope not found/)
    // An id as long as the schemas allow is looked up; one longer is refused by the schema, by name.
    expectRefusal(await call('POST', `/v1/leases/${'x'.repeat(200)}/heartbeat`), 404, 'LEASE_NOT_FOUND')
    expectRefusal(await call('POST', `/v1/leases/${'x'.repeat(201)}/heartbeat`), 400, 'INVALID_REQUEST', /id must NOT have more than 200 characters/)
  })

  it('authentication: no token, a wrong token, a client token on admin endpoints', async () => {
    expectRefusal(await call('POST', '/v1/leases', {body: '{}', token: null}), 401, 'AUTH', /needs a token/)
    expectRefusal(await call('POST', '/v1/leases', {body: '{}', token: 'not-a-real-token'}), 401, 'AUTH', /not valid/)
    expectRefusal(await call('GET', '/v1/admin/rules'), 403, 'FORBIDDEN', /vendor \(admin\) token/)
    expectRefusal(await call('GET', '/v1/status', {token: null}), 401, 'AUTH')
    const bad = await fetch(`${s.url}/v1/leases`, {headers: {authorization: 'Basic Zm9vOmJhcg=='}})
    expect(bad.status).toBe(401)
  })

  it('the test clock moves only in test mode; the uptime is real time, whatever the server clock says', async () => {
    const before = (await call('GET', '/healthz', {token: null})).json.result
    expectRefusal(await call('POST', '/v1/test/clock/advance', {body: JSON.stringify({seconds: 86_400})}), 403, 'FORBIDDEN', /vendor \(admin\) token/)
    const a = await call('POST', '/v1/test/clock/advance', {body: JSON.stringify({seconds: 86_400}), token: ADMIN_TOKEN})
    expect(a.status).toBe(200)
    const after = (await call('GET', '/healthz', {token: null})).json.result
    expect(Date.parse(after.serverTime) - Date.parse(before.serverTime)).toBeGreaterThanOrEqual(86_400_000)
    expect(after.uptime).toBeLessThan(3600)
  })

  it('after all of that the server still serves, and a flood of garbage leaves it up', async () => {
    const garbage = Array.from({length: 200}, (_, i) =>
      call('POST', i % 2 ? '/v1/leases' : '/v1/borrows', {body: i % 3 ? `{"user":${i}` : JSON.stringify({user: [i], host: {}, license: null})}),
    )
    const answers = await Promise.all(garbage)
    expect(answers.every((a) => a.status >= 400 && a.status < 500)).toBe(true)
    const ok = await call('POST', '/v1/leases', {body: JSON.stringify({license: s.license('ten'), user: 'u', host: 'h'})})
    expect(ok.status).toBe(201)
    expect(ok.json.ok).toBe(true)
  })
})

describe('a server not in test mode', () => {
  it('refuses to move its clock, and its time goes on', async () => {
    const server = await startServer({port: 0, data: {kind: 'memory'}, clock: new ManualClock(T0), tokens: [{token: ADMIN_TOKEN, role: 'vendor', name: 'admin'}]})
    try {
      const res = await fetch(`${server.url}/v1/test/clock/advance`, {
        method: 'POST',
        headers: {authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json'},
        body: JSON.stringify({seconds: 3600}),
      })
      expect(res.status).toBe(404)
      const body = (await res.json()) as {error: unknown}
      expect(body.error).toMatchObject({code: 'TEST_MODE_OFF', message: expect.stringMatching(/--test-mode/)})
      const health = (await (await fetch(`${server.url}/healthz`)).json()) as {result: {serverTime: string}}
      expect(health.result.serverTime).toBe(new Date(T0).toISOString())
    } finally {
      await server.close()
    }
  })
})

describe('health and readiness', () => {
  it('answer without a token', async () => {
    const h = await call('GET', '/healthz', {token: null})
    expect(h.status).toBe(200)
    expect(h.json.result).toMatchObject({status: 'ok', version: expect.any(String)})
    const r = await call('GET', '/readyz', {token: null})
    expect(r.status).toBe(200)
    expect(r.json.result.ready).toBe(true)
    const v1 = await call('GET', '/v1', {token: null})
    expect(v1.json.result.endpoints).toContain('POST /v1/leases')
  })

  it('GET /v1 lists every route the server has, and only those', async () => {
    const endpoints: string[] = (await call('GET', '/v1', {token: null})).json.result.endpoints
    for (const e of ['PATCH /v1/admin/policies/:id', 'POST /v1/admin/reservations', 'GET /metrics', 'POST /v1/ops/:op (administration: one route per service operation)']) expect(endpoints).toContain(e)
    for (const e of endpoints) {
      const [method, url] = e.split(' ')
      expect(s.app.hasRoute({method: method as 'GET', url}), e).toBe(true)
    }
    expect(new Set(endpoints).size).toBe(endpoints.length)
  })
})

describe('listenUrlHost: the host of the ready URL for a listen address', () => {
  it.each([
    ['0.0.0.0', '127.0.0.1'],
    ['::', '[::1]'],
    ['::0', '[::1]'],
    ['0:0:0:0:0:0:0:0', '[::1]'],
    ['::1', '[::1]'],
    ['fe80::1', '[fe80::1]'],
    ['192.168.1.5', '192.168.1.5'],
    ['licenses.example', 'licenses.example'],
  ])('%s → %s', (host, url) => {
    expect(listenUrlHost(host)).toBe(url)
  })
})
