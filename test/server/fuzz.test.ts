/**
 * Generated bad input on every route of the license server: each administration operation
 * (POST /v1/ops/<op>) and each seat and admin route gets a few hundred argument lists and bodies
 * of random shapes and values, from a seeded generator (the same on every run; LICADM_FUZZ_SEED
 * picks another). Whatever the input, the answer is a 2xx or a 4xx in the usual envelope with a
 * clear message: never a 5xx, never a dropped connection. Afterwards the server still serves and
 * its store passes SQLite's integrity check.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {OPERATIONS} from '../../src/services/operations.js'
import {FUZZ_SEED as SEED, generator} from '../helpers/fuzz.js'
import {ADMIN_TOKEN, CLIENT_TOKEN, closeAll, testServer, type TestServer} from './helpers.js'

const KEYS = ['license', 'product', 'quantity', 'kind', 'user', 'host', 'process', 'features', 'seats', 'duration', 'wait', 'place', 'name', 'code', 'email', 'group', 'serial', 'expires', 'mode', 'leaseTtl', 'maxPerUser', 'linger', 'subject', 'pattern', 'action', 'role', 'id', '__proto__', 'constructor', 'toString']

/**
 * A value that a field of this name would take in a valid call, so that generated objects are often
 * nearly valid and reach the checks deep inside a method, not only its first one.
 */
const PLAUSIBLE: Record<string, (known: string[]) => unknown> = {
  license: (known) => known[0],
  product: () => 7,
  code: () => 4242,
  quantity: () => 3,
  kind: () => 'concurrent',
  user: () => 'ann@example.com',
  email: () => 'ann@example.com',
  host: () => 'pc1',
  name: () => 'Fuzz name',
  features: () => 1,
  seats: () => 1,
  duration: () => 86_400,
  group: () => 'eng',
  serial: () => 'E-AAAA-BBBB-CCCC',
  expires: () => '30d',
  mode: () => 'station',
  subject: () => 'user',
  pattern: () => 'ann',
  action: () => 'deny',
  role: () => 'client',
}

class Inputs {
  private readonly random: () => number
  constructor(
    seed: number,
    private readonly known: string[],
  ) {
    this.random = generator(seed)
  }

  private pick<T>(values: readonly T[]): T {
    return values[Math.floor(this.random() * values.length)]
  }

  string(): string {
    const n = Math.floor(this.random() * 12)
    return this.pick([
      () => '',
      () => ' ',
      () => Array.from({length: n + 1}, () => String.fromCharCode(33 + Math.floor(this.random() * 94))).join(''),
      () => 'x'.repeat(5000),
      () => 'ü𝄞\u0000\u202e<script>',
      () => `lic_${n}`,
      () => this.pick(this.known),
      () => '2026-13-45T99:00:00Z',
      () => '-1',
      () => '0x7fffffff',
      () => '../../etc/passwd',
      () => '%00',
    ])()
  }

  number(): number {
    return this.pick([0, -1, 1, 7, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 1.5, 1e308, -1e-308, 4_294_967_295])
  }

  value(depth = 0): unknown {
    const kinds: (() => unknown)[] = [() => null, () => this.random() < 0.5, () => this.number(), () => this.string(), () => this.string()]
    if (depth < 2) kinds.push(() => this.array(depth + 1), () => this.object(depth + 1), () => this.object(depth + 1))
    return this.pick(kinds)()
  }

  array(depth = 0): unknown[] {
    return Array.from({length: Math.floor(this.random() * 4)}, () => this.value(depth))
  }

  object(depth = 0): Record<string, unknown> {
    const o: Record<string, unknown> = {}
    const n = Math.floor(this.random() * 8)
    for (let i = 0; i < n; i++) {
      const key = this.pick(KEYS)
      const value = Object.hasOwn(PLAUSIBLE, key) && this.random() < 0.6 ? PLAUSIBLE[key](this.known) : this.value(depth)
      Object.defineProperty(o, key, {value, enumerable: true, configurable: true, writable: true})
    }
    return o
  }

  /** A path segment: an id of something that exists now and then, else anything. */
  segment(): string {
    return encodeURIComponent(this.random() < 0.3 ? this.pick(this.known) : this.string().slice(0, 120)) || 'x'
  }
}

interface Problem {
  call: string
  status: number
  body: string
}

/** Each kind of problem once (route or operation, status and message), with one input that shows it. */
function summary(found: Problem[]): string {
  const kinds = new Map<string, string>()
  for (const p of found) {
    const route = p.call.split(' ').slice(0, 2).join(' ').replace(/\/v1\/(leases|borrows|admin\/\w+)\/[^/? ]+/, '/v1/$1/:id').split('?')[0]
    const message = p.body.match(/"message":"([^"]*)"/)?.[1] ?? p.body.slice(0, 120)
    const kind = `${route} ${p.status} ${message}`
    if (!kinds.has(kind)) kinds.set(kind, p.call.slice(0, 300))
  }
  return `${found.length} answers that were not a clear 2xx or 4xx:\n${[...kinds].map(([k, call]) => `- ${k}\n    e.g. ${call}`).join('\n')}`
}

let s: TestServer
let inputs: Inputs
const problems: Problem[] = []

/** One request; records any answer that is not a 2xx or a 4xx in the envelope with a message. */
async function send(method: string, path: string, body: unknown, token: string): Promise<void> {
  const call = `${method} ${path} ${body === undefined ? '' : JSON.stringify(body).slice(0, 300)}`
  let status = 0
  let text = ''
  try {
    const res = await fetch(`${s.url}${path}`, {
      method,
      headers: {authorization: `Bearer ${token}`, ...(body === undefined ? {} : {'content-type': 'application/json'})},
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    status = res.status
    text = await res.text()
  } catch (error) {
    problems.push({call, status: 0, body: String(error)})
    return
  }
  let json: {ok?: boolean; error?: {code?: unknown; message?: unknown}}
  try {
    json = JSON.parse(text)
  } catch {
    problems.push({call, status, body: `not JSON: ${text.slice(0, 200)}`})
    return
  }
  const clear = status < 400 ? json.ok === true : json.ok === false && typeof json.error?.code === 'string' && typeof json.error.message === 'string' && json.error.message.length > 10
  if (status >= 500 || status < 200 || !clear) problems.push({call, status, body: text.slice(0, 400)})
}

beforeAll(async () => {
  s = await testServer()
  const lease = await s.client.checkout({license: s.license('ten'), user: 'fuzz', host: 'fuzz'})
  inputs = new Inputs(SEED, [s.license('ten'), s.license('two'), lease.lease.id, '7', '8', 'fuzz', 'admin', 'tests'])
})
afterAll(closeAll)

describe(`generated bad input never gets a 5xx (seed ${SEED}; LICADM_FUZZ_SEED picks another)`, () => {
  it('every administration operation, with argument lists of any shape', async () => {
    problems.length = 0
    const names = Object.keys(OPERATIONS)
    expect(names.length).toBeGreaterThan(40)
    for (const name of names) {
      for (let i = 0; i < 40; i++) await send('POST', `/v1/ops/${name}`, {args: inputs.array()}, ADMIN_TOKEN)
    }
    expect(problems, summary(problems)).toEqual([])
  })

  it('every seat and admin route, with bodies, ids and query strings of any shape', async () => {
    problems.length = 0
    const routes: [string, () => string, boolean, string][] = [
      ['POST', () => '/v1/leases', true, CLIENT_TOKEN],
      ['POST', () => `/v1/leases/${inputs.segment()}/heartbeat`, false, CLIENT_TOKEN],
      ['DELETE', () => `/v1/leases/${inputs.segment()}`, false, CLIENT_TOKEN],
      ['GET', () => `/v1/leases?license=${inputs.segment()}&product=${inputs.segment()}&user=${inputs.segment()}`, false, CLIENT_TOKEN],
      ['POST', () => '/v1/borrows', true, CLIENT_TOKEN],
      ['DELETE', () => `/v1/borrows/${inputs.segment()}`, false, CLIENT_TOKEN],
      ['GET', () => `/v1/status`, false, CLIENT_TOKEN],
      ['DELETE', () => `/v1/admin/leases/${inputs.segment()}`, false, ADMIN_TOKEN],
      ['GET', () => `/v1/admin/policies/${inputs.segment()}`, false, ADMIN_TOKEN],
      ['PUT', () => `/v1/admin/policies/${inputs.segment()}`, true, ADMIN_TOKEN],
      ['PATCH', () => `/v1/admin/policies/${inputs.segment()}`, true, ADMIN_TOKEN],
      ['GET', () => `/v1/admin/rules?product=${inputs.segment()}`, false, ADMIN_TOKEN],
      ['POST', () => '/v1/admin/rules', true, ADMIN_TOKEN],
      ['DELETE', () => `/v1/admin/rules/${inputs.segment()}`, false, ADMIN_TOKEN],
      ['PUT', () => `/v1/admin/rules/${inputs.segment()}/default`, true, ADMIN_TOKEN],
      ['GET', () => `/v1/admin/reservations?license=${inputs.segment()}`, false, ADMIN_TOKEN],
      ['POST', () => '/v1/admin/reservations', true, ADMIN_TOKEN],
      ['DELETE', () => `/v1/admin/reservations/${inputs.segment()}`, false, ADMIN_TOKEN],
      ['GET', () => `/v1/admin/usage?license=${inputs.segment()}&days=${inputs.segment()}&since=${inputs.segment()}`, false, ADMIN_TOKEN],
      ['POST', () => '/v1/test/clock/advance', true, ADMIN_TOKEN],
    ]
    for (const [method, path, withBody, token] of routes) {
      for (let i = 0; i < 40; i++) await send(method, path(), withBody ? (i % 4 === 0 ? inputs.value() : inputs.object()) : undefined, token)
    }
    expect(problems, summary(problems)).toEqual([])
  })

  it('afterwards the server still serves, and its store is intact', async () => {
    // The fuzzing may have revoked the seeded licenses or deleted their products: a new one of each.
    await s.admin.request('POST', '/v1/ops/products.create', {args: [{code: 99_999, name: 'After the fuzz'}]})
    const issued = (await s.admin.request('POST', '/v1/ops/licenses.create', {args: [{product: 99_999, kind: 'concurrent', quantity: 1}]})) as {licenses: {id: string}[]}
    const lease = await s.client.checkout({license: issued.licenses[0].id, user: 'after', host: 'fuzz'})
    expect(lease.lease.user).toBe('after')
    expect(await s.store.runSync((q) => q.get<{integrity_check: string}>('pragma integrity_check'))).toEqual({integrity_check: 'ok'})
  })
})
