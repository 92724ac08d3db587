import {spawn} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll, describe, expect, it} from 'vitest'

import {ManualClock} from '../../src/domain/clock.js'
import {loggedUrl, type LogLevel} from '../../src/server/logging.js'
import {startServer, type RunningServer} from '../../src/server/runtime.js'
import {ADMIN_TOKEN, CLIENT_TOKEN, defaultSeed, T0} from './helpers.js'

const servers: RunningServer[] = []
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()))
})

/** An in-process server whose log lines land in an array. */
async function logged(level: LogLevel): Promise<{s: RunningServer; lines: string[]}> {
  const lines: string[] = []
  const s = await startServer({
    port: 0,
    data: {kind: 'memory'},
    clock: new ManualClock(T0),
    seed: JSON.stringify(defaultSeed),
    tokens: [
      {token: CLIENT_TOKEN, role: 'client', name: 'tests'},
      {token: ADMIN_TOKEN, role: 'vendor', name: 'admin'},
    ],
    logLevel: level,
    logStream: {write: (line) => void lines.push(line)},
  })
  servers.push(s)
  return {s, lines}
}

const GUESSED_TOKEN = 'guessed-token-0123456789'
const BODY_SECRET = 'container-secret-s3cr3t-value'

/** Requests that carry secrets every way a client could send them. */
async function traffic(s: RunningServer, license: string): Promise<void> {
  const send = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
    const res = await fetch(`${s.url}${path}`, {method, headers: {...headers, ...(body === undefined ? {} : {'content-type': 'application/json'})}, body: body === undefined ? undefined : JSON.stringify(body)})
    await res.arrayBuffer()
    return res.status
  }
  const auth = {authorization: `Bearer ${CLIENT_TOKEN}`}
  expect(await send('POST', '/v1/leases', auth, {license, user: 'ann', host: 'pc1'})).toBe(201)
  // A secret in a body that fails validation, in an unknown field, and a token in a header of its own.
  expect(await send('POST', '/v1/leases', {...auth, 'x-api-key': CLIENT_TOKEN, cookie: `session=${BODY_SECRET}`}, {license, user: 'ann', host: 'pc1', secret: BODY_SECRET, token: CLIENT_TOKEN})).toBe(400)
  // A token the server does not know, and a token in the query string.
  expect(await send('GET', '/v1/leases', {authorization: `Bearer ${GUESSED_TOKEN}`})).toBe(401)
  expect(await send('GET', `/v1/leases?token=${CLIENT_TOKEN}&license=${license}`, auth)).toBe(400)
  expect(await send('GET', `/metrics`, {authorization: `Bearer ${ADMIN_TOKEN}`})).toBe(200)
  expect(await send('GET', '/nowhere', auth)).toBe(404)
}

function parseLines(lines: string[]): Array<Record<string, any>> {
  return lines.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l))
}

describe('request logs', () => {
  it('info: one JSON line per request with method, URL, route, status, time, who asked and refusal code; no token or secret', async () => {
    const {s, lines} = await logged('info')
    const license = (s.licenses.find((l) => l.key === 'ten') ?? s.licenses[0]).id
    await traffic(s, license)
    const entries = parseLines(lines)
    for (const e of entries) {
      expect(typeof e.level).toBe('number')
      expect(typeof e.time).toBe('number')
      expect(typeof e.msg).toBe('string')
    }
    const requests = entries.filter((e) => e.msg === 'request completed')
    expect(requests.map((e) => [e.req.method, e.route, e.res.statusCode, e.code ?? null, e.by ?? null])).toEqual([
      ['POST', '/v1/leases', 201, null, 'token:tests'],
      ['POST', '/v1/leases', 400, 'INVALID_REQUEST', 'token:tests'],
      ['GET', '/v1/leases', 401, 'AUTH', null],
      ['GET', '/v1/leases', 400, 'INVALID_REQUEST', 'token:tests'],
      ['GET', '/metrics', 200, null, 'token:admin'],
      ['GET', null, 404, 'ROUTE_NOT_FOUND', null],
    ])
    for (const e of requests) {
      expect(e.level).toBe(30)
      expect(typeof e.reqId).toBe('string')
      expect(e.responseTime).toBeGreaterThanOrEqual(0)
      expect(e.req.remoteAddress).toMatch(/127\.0\.0\.1/)
    }
    // The query string's token is masked, the other parameters stay.
    expect(requests[3].req.url).toBe(`/v1/leases?token=[redacted]&license=${license}`)
    const all = lines.join('')
    for (const secret of [CLIENT_TOKEN, ADMIN_TOKEN, GUESSED_TOKEN, BODY_SECRET]) expect(all).not.toContain(secret)
    expect(all.toLowerCase()).not.toContain('authorization')
  })

  it('the level is honoured: silent writes nothing, warn no request lines, debug adds the incoming ones', async () => {
    const silent = await logged('silent')
    await traffic(silent.s, silent.s.licenses[0].id)
    expect(silent.lines).toEqual([])

    const warn = await logged('warn')
    await traffic(warn.s, warn.s.licenses[0].id)
    expect(parseLines(warn.lines).filter((e) => e.level < 40)).toEqual([])

    const debug = await logged('debug')
    await traffic(debug.s, debug.s.licenses[0].id)
    const entries = parseLines(debug.lines)
    expect(entries.filter((e) => e.msg === 'incoming request' && e.level === 20)).toHaveLength(6)
    expect(entries.filter((e) => e.msg === 'request completed')).toHaveLength(6)
    const all = debug.lines.join('')
    for (const secret of [CLIENT_TOKEN, ADMIN_TOKEN, GUESSED_TOKEN, BODY_SECRET]) expect(all).not.toContain(secret)
  })

  it('the sweeper logs what it reclaims', async () => {
    const {s, lines} = await logged('info')
    await s.seats.checkout({license: s.licenses[0].id, user: 'u', host: 'h'})
    ;(s.clock as ManualClock).advance(3_600_000)
    expect(await s.sweeper.run()).toBe(1)
    // The sweeper gets the logger once the server listens; its first, silent run is at start.
    const sweeps = parseLines(lines).filter((e) => e.msg === 'reclaimed leases past their expiry')
    expect(sweeps).toEqual([expect.objectContaining({level: 30, reclaimed: 1, total: 1})])
  })

  it('masks secret-looking query values', () => {
    expect(loggedUrl('/v1/x?a=1&api_key=abc&b=2&password=p&Token=t')).toBe('/v1/x?a=1&api_key=[redacted]&b=2&password=[redacted]&Token=[redacted]')
    expect(loggedUrl('/v1/leases/lse_1')).toBe('/v1/leases/lse_1')
  })
})

describe('licadm server start (built CLI)', () => {
  it('stdout carries only the ready line; stderr JSON log lines at the chosen level, without the token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'licadm-log-'))
    const seed = join(dir, 'seed.json')
    writeFileSync(seed, JSON.stringify({...defaultSeed, tokens: [{name: 'ci', role: 'client', token: CLIENT_TOKEN}]}))
    const bin = fileURLToPath(new URL('../../bin/run.js', import.meta.url))
    const child = spawn(process.execPath, [bin, 'server', 'start', '--memory', '--seed', seed, '--port', '0', '--json', '--log-level', 'info'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {...process.env, NO_COLOR: '1'},
    })
    try {
      let out = ''
      let err = ''
      child.stderr.on('data', (b) => (err += b))
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
      const ready = await new Promise<{url: string; licenses: Array<{id: string}>}>((resolve, reject) => {
        child.stdout.on('data', (b) => {
          out += b
          if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]).result)
        })
        child.on('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)))
      })
      const res = await fetch(`${ready.url}/v1/leases`, {
        method: 'POST',
        headers: {authorization: `Bearer ${CLIENT_TOKEN}`, 'content-type': 'application/json'},
        body: JSON.stringify({license: ready.licenses[0].id, user: 'ann', host: 'pc1'}),
      })
      expect(res.status).toBe(201)
      await res.arrayBuffer()
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
      expect(out.trim().split('\n')).toHaveLength(1)
      const entries = err.trim().split('\n').map((l) => JSON.parse(l))
      expect(entries.map((e) => e.msg)).toEqual([
        expect.stringMatching(/^licadm server listening on http:\/\/127\.0\.0\.1:\d+$/),
        expect.stringMatching(/^vendor 4242 \(Seat Test Vendor\), signing key \S+ \(libsodium\); stop with Ctrl-C$/),
        'request completed',
        'stopping: finishing in-flight requests',
        'licadm server stopped',
      ])
      // This install has the optional sodium-native: the signing thread signs with libsodium.
      expect(entries[1]).toMatchObject({signingLibrary: 'libsodium'})
      expect(entries[2]).toMatchObject({route: '/v1/leases', res: {statusCode: 201}})
      expect(err).not.toContain(CLIENT_TOKEN)
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
