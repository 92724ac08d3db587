import {afterAll, describe, expect, it} from 'vitest'

import {ManualClock} from '../../src/domain/clock.js'
import {LicadmError, ExitCode} from '../../src/domain/errors.js'
import {escapeLabelValue, Registry, ServerMetrics} from '../../src/server/metrics.js'
import {startServer} from '../../src/server/runtime.js'
import {ADMIN_TOKEN, CLIENT_TOKEN, closeAll, defaultSeed, refusal, T0, testServer, type TestServer} from './helpers.js'

afterAll(closeAll)

/** Samples of an exposition text by series (`name{a="x",b="y"}`, labels in the order written). */
function parse(text: string): {samples: Map<string, number>; help: Map<string, string>; type: Map<string, string>} {
  const samples = new Map<string, number>()
  const help = new Map<string, string>()
  const type = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    let m = /^# HELP (\S+) (.*)$/.exec(line)
    if (m) {
      help.set(m[1], m[2])
      continue
    }
    m = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line)
    if (m) {
      type.set(m[1], m[2])
      continue
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/.exec(line)
    if (!m) throw new Error(`not an exposition line: ${JSON.stringify(line)}`)
    samples.set(m[1], Number(m[2]))
  }
  return {samples, help, type}
}

async function scrape(s: TestServer, token: string | null = ADMIN_TOKEN): Promise<{status: number; text: string; type: string | null}> {
  const res = await fetch(`${s.url}/metrics`, {headers: token ? {authorization: `Bearer ${token}`} : {}})
  return {status: res.status, text: await res.text(), type: res.headers.get('content-type')}
}

async function call(s: TestServer, method: string, path: string, options: {token?: string | null; body?: unknown} = {}): Promise<number> {
  const headers: Record<string, string> = {}
  if (options.token !== null) headers.authorization = `Bearer ${options.token ?? CLIENT_TOKEN}`
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`${s.url}${path}`, {method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body)})
  await res.arrayBuffer()
  return res.status
}

describe('GET /metrics', () => {
  it('needs a vendor token: none is 401, a client token 403', async () => {
    const s = await testServer()
    const none = await scrape(s, null)
    expect(none.status).toBe(401)
    expect(JSON.parse(none.text).error.code).toBe('AUTH')
    const client = await scrape(s, CLIENT_TOKEN)
    expect(client.status).toBe(403)
    expect(JSON.parse(client.text).error.code).toBe('FORBIDDEN')
    // Both refusals are counted as auth failures, by reason.
    const {samples} = parse((await scrape(s)).text)
    expect(samples.get('licadm_auth_failures_total{reason="missing-token"}')).toBe(1)
    expect(samples.get('licadm_auth_failures_total{reason="role"}')).toBe(1)
    await s.close()
  })

  it('counts requests by route pattern and status, times them, and shows seats, expiries, refusals and auth failures', async () => {
    const s = await testServer()
    const ten = s.license('ten')
    const two = s.license('two')
    const leases: string[] = []
    for (let i = 0; i < 3; i++) leases.push((await s.client.checkout({license: ten, user: `u${i}`, host: 'h'})).lease.id)
    for (let i = 0; i < 2; i++) await s.client.checkout({license: two, user: `v${i}`, host: 'h'})
    // Refusals: no seat free, a body that fails validation, an unknown route, access denied by a rule.
    expect((await refusal(s.client.checkout({license: two, user: 'late', host: 'h'}))).code).toBe('NO_SEAT_FREE')
    expect(await call(s, 'POST', '/v1/leases', {body: {license: ten, user: 5, host: 'h'}})).toBe(400)
    expect(await call(s, 'GET', '/no/such/place?secret=1')).toBe(404)
    await s.admin.addRule({product: 7, action: 'deny', subject: 'user', pattern: 'mallory'})
    expect((await refusal(s.client.checkout({license: ten, user: 'mallory', host: 'h'}))).code).toBe('ACCESS_DENIED')
    // Auth failures: no token, a token the server does not know.
    expect(await call(s, 'POST', '/v1/leases', {token: null, body: {license: ten, user: 'x', host: 'h'}})).toBe(401)
    expect(await call(s, 'GET', '/v1/leases', {token: 'not-a-known-token'})).toBe(401)
    expect(await call(s, 'GET', '/v1/leases', {token: 'not-a-known-token'})).toBe(401)
    await s.admin.addReservation({license: ten, subject: 'user', pattern: 'vip', seats: 3})
    // One release by the client; the other four leases expire and the sweeper reclaims them.
    await s.client.release(leases[0])

    const before = await scrape(s)
    expect(before.status).toBe(200)
    expect(before.type).toBe('text/plain; version=0.0.4; charset=utf-8')
    let {samples} = parse(before.text)
    expect(samples.get('licadm_seats_in_use{license="' + ten + '",product="7"}')).toBe(2)
    expect(samples.get('licadm_seats_free{license="' + ten + '",product="7"}')).toBe(8)
    expect(samples.get('licadm_seats_in_use{license="' + two + '",product="8"}')).toBe(2)
    expect(samples.get('licadm_seats_free{license="' + two + '",product="8"}')).toBe(0)
    expect(samples.get('licadm_seats_reserved{license="' + ten + '",product="7"}')).toBe(3)
    expect(samples.get('licadm_seats_reserved{license="' + two + '",product="8"}')).toBe(0)
    expect(samples.get('licadm_lease_expiries_total')).toBe(0)
    expect(samples.get('licadm_checkouts_waiting')).toBe(0)

    expect((await s.admin.advanceClock(301)).reclaimed).toBe(4)
    const after = await scrape(s)
    ;({samples} = parse(after.text))
    expect(samples.get('licadm_lease_expiries_total')).toBe(4)
    expect(samples.get('licadm_seats_in_use{license="' + ten + '",product="7"}')).toBe(0)
    expect(samples.get('licadm_seats_free{license="' + ten + '",product="7"}')).toBe(10)
    expect(samples.get('licadm_seats_free{license="' + two + '",product="8"}')).toBe(2)

    // Requests by method, route pattern (never the raw URL) and status.
    expect(samples.get('licadm_http_requests_total{method="POST",route="/v1/leases",status="201"}')).toBe(5)
    expect(samples.get('licadm_http_requests_total{method="POST",route="/v1/leases",status="409"}')).toBe(1)
    expect(samples.get('licadm_http_requests_total{method="POST",route="/v1/leases",status="400"}')).toBe(1)
    expect(samples.get('licadm_http_requests_total{method="POST",route="/v1/leases",status="403"}')).toBe(1)
    expect(samples.get('licadm_http_requests_total{method="POST",route="/v1/leases",status="401"}')).toBe(1)
    expect(samples.get('licadm_http_requests_total{method="DELETE",route="/v1/leases/:id",status="200"}')).toBe(1)
    expect(samples.get('licadm_http_requests_total{method="GET",route="(unmatched)",status="404"}')).toBe(1)
    expect(samples.get('licadm_http_requests_total{method="GET",route="/metrics",status="200"}')).toBe(1)
    expect(after.text).not.toContain('/no/such/place')
    expect(after.text).not.toContain(leases[0])

    // The latency histogram: cumulative buckets ending in +Inf, which equals the count.
    const series = 'method="POST",route="/v1/leases"'
    const buckets = [...samples].filter(([k]) => k.startsWith(`licadm_http_request_duration_seconds_bucket{${series},le=`))
    expect(buckets.length).toBe(15)
    expect(buckets.at(-1)![0]).toContain('le="+Inf"')
    for (let i = 1; i < buckets.length; i++) expect(buckets[i][1]).toBeGreaterThanOrEqual(buckets[i - 1][1])
    expect(buckets.at(-1)![1]).toBe(9)
    expect(samples.get(`licadm_http_request_duration_seconds_count{${series}}`)).toBe(9)
    expect(samples.get(`licadm_http_request_duration_seconds_sum{${series}}`)).toBeGreaterThan(0)

    // Refusals by code; auth failures by reason (an access-rule denial is one: exit status 7).
    expect(samples.get('licadm_refusals_total{code="NO_SEAT_FREE"}')).toBe(1)
    expect(samples.get('licadm_refusals_total{code="INVALID_REQUEST"}')).toBe(1)
    expect(samples.get('licadm_refusals_total{code="ROUTE_NOT_FOUND"}')).toBe(1)
    expect(samples.get('licadm_refusals_total{code="ACCESS_DENIED"}')).toBe(1)
    expect(samples.get('licadm_refusals_total{code="AUTH"}')).toBe(3)
    expect(samples.get('licadm_auth_failures_total{reason="missing-token"}')).toBe(1)
    expect(samples.get('licadm_auth_failures_total{reason="invalid-token"}')).toBe(2)
    expect(samples.get('licadm_auth_failures_total{reason="access-denied"}')).toBe(1)
    expect(samples.has('licadm_auth_failures_total{reason="no-seat-free"}')).toBe(false)

    // Every metric has its HELP and TYPE.
    const {help, type} = parse(after.text)
    for (const [name, kind] of [
      ['licadm_http_requests_total', 'counter'],
      ['licadm_http_request_duration_seconds', 'histogram'],
      ['licadm_seats_in_use', 'gauge'],
      ['licadm_seats_free', 'gauge'],
      ['licadm_seats_reserved', 'gauge'],
      ['licadm_checkouts_waiting', 'gauge'],
      ['licadm_lease_expiries_total', 'counter'],
      ['licadm_refusals_total', 'counter'],
      ['licadm_auth_failures_total', 'counter'],
    ]) {
      expect(type.get(name), name).toBe(kind)
      expect(help.get(name)?.length, name).toBeGreaterThan(10)
    }
    await s.close()
  })

  it('counts rate-limited authentications as auth failures (429)', async () => {
    const clock = new ManualClock(T0)
    const s = await startServer({
      port: 0,
      data: {kind: 'memory'},
      clock,
      seed: JSON.stringify(defaultSeed),
      tokens: [{token: ADMIN_TOKEN, role: 'vendor', name: 'admin'}],
      authRateLimit: {failures: 2},
      authRateLimitClock: clock,
    })
    try {
      const statuses = []
      for (let i = 0; i < 3; i++) statuses.push(await call(s as TestServer, 'GET', '/v1/leases', {token: 'wrong-token-guess'}))
      expect(statuses).toEqual([401, 401, 429])
      // The limit holds for the vendor token too, from the same address, until the window passes.
      clock.advance(61_000)
      const {samples} = parse((await scrape(s as TestServer)).text)
      expect(samples.get('licadm_auth_failures_total{reason="invalid-token"}')).toBe(2)
      expect(samples.get('licadm_auth_failures_total{reason="rate-limited"}')).toBe(1)
      expect(samples.get('licadm_refusals_total{code="AUTH_RATE_LIMITED"}')).toBe(1)
    } finally {
      await s.close()
    }
  })
})

describe('the metrics registry', () => {
  it('escapes label values and HELP text', async () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd')
    const r = new Registry()
    r.counter('x_total', 'a help with a back\\slash\nand a line', ['v']).labels('say "hi"\\\n').inc(2)
    const text = await r.expose()
    expect(text).toBe('# HELP x_total a help with a back\\\\slash\\nand a line\n# TYPE x_total counter\nx_total{v="say \\"hi\\"\\\\\\n"} 2\n')
  })

  it('refuses names Prometheus does not accept and counters that go down', () => {
    const r = new Registry()
    expect(() => r.counter('bad-name', 'h')).toThrow(/not valid/)
    expect(() => r.counter('ok_total', 'h', ['le'])).toThrow(/not allowed/)
    expect(() => r.counter('ok2_total', 'h', ['__x'])).toThrow(/not allowed/)
    r.counter('dup', 'h')
    expect(() => r.gauge('dup', 'h')).toThrow(/already/)
    expect(() => r.counter('down_total', 'h').inc(-1)).toThrow(/only goes up/)
    expect(() => r.counter('two_total', 'h', ['a', 'b']).labels('x')).toThrow(/takes 2/)
  })

  it('histograms: an observation lands in the first bucket whose bound it does not exceed', async () => {
    const r = new Registry()
    const h = r.histogram('d_seconds', 'h', [], [0.1, 1])
    for (const v of [0.05, 0.1, 0.5, 3]) h.labels().observe(v)
    const {samples} = parse(await r.expose())
    expect(samples.get('d_seconds_bucket{le="0.1"}')).toBe(2)
    expect(samples.get('d_seconds_bucket{le="1"}')).toBe(3)
    expect(samples.get('d_seconds_bucket{le="+Inf"}')).toBe(4)
    expect(samples.get('d_seconds_count')).toBe(4)
    expect(samples.get('d_seconds_sum')).toBeCloseTo(3.65)
  })

  it('auth failures: exit status 7 or HTTP 401/429, by details.reason or else the code; a revoked license is not one', () => {
    const m = new ServerMetrics()
    m.refusal(new LicadmError('FORBIDDEN', ExitCode.auth, 'x', {details: {reason: 'role'}}), 403)
    m.refusal(new LicadmError('ACCESS_DENIED', ExitCode.auth, 'x'), 403)
    m.refusal(new LicadmError('LICENSE_REVOKED', ExitCode.revoked, 'x'), 403)
    m.refusal(new LicadmError('SOMETHING', ExitCode.usage, 'x'), 401)
    return m.expose().then((text) => {
      const {samples} = parse(text)
      expect(samples.get('licadm_auth_failures_total{reason="role"}')).toBe(1)
      expect(samples.get('licadm_auth_failures_total{reason="access-denied"}')).toBe(1)
      expect(samples.get('licadm_auth_failures_total{reason="something"}')).toBe(1)
      expect(samples.has('licadm_auth_failures_total{reason="license-revoked"}')).toBe(false)
      expect(samples.get('licadm_refusals_total{code="LICENSE_REVOKED"}')).toBe(1)
    })
  })
})
