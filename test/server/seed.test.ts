import {createHash} from 'node:crypto'
import {spawn} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {ManualClock} from '../../src/domain/clock.js'
import {ServerClient} from '../../src/client/http.js'
import {containerToken} from '../../src/domain/tokens.js'
import {parseSeed} from '../../src/server/seed.js'
import {startServer} from '../../src/server/runtime.js'
import {ROOT} from '../helpers/cli.js'
import {crashOf, damage, FUZZ_SEED, generator} from '../helpers/fuzz.js'
import {tempDir} from '../unit/helpers.js'
import {closeAll, refusal, T0, testServer} from './helpers.js'

const tmp = tempDir()
afterAll(async () => {
  await closeAll()
  tmp.cleanup()
})

const NDJSON = [
  '{"type":"vendor","code":31,"name":"Nd Vendor"}',
  '# products and licenses',
  '{"type":"product","code":7,"name":"Seven"}',
  '{"type":"license","key":"five","product":7,"quantity":5,"seat":{"mode":"station","leaseTtl":60,"maxPerUser":1}}',
  '{"type":"user","email":"ann@example.com","name":"Ann"}',
  '{"type":"container","kind":"personal","user":"ann@example.com"}',
  `{"type":"token","name":"ci","role":"client","sha256":"${createHash('sha256').update('hashed-client-token').digest('hex')}"}`,
  '{"type":"rule","product":7,"action":"deny","subject":"user","pattern":"mallory"}',
  '{"type":"default","product":7,"action":"allow"}',
  '{"type":"reservation","license":"five","subject":"user","pattern":"release-bot","seats":4}',
].join('\n')

describe('seed files', () => {
  it('NDJSON seeds products, licenses with a seat policy, users, containers, hashed tokens, rules and reservations', async () => {
    const server = await startServer({port: 0, data: {kind: 'memory'}, clock: new ManualClock(T0), seed: NDJSON})
    try {
      expect(server.vendor).toEqual({code: 31, name: 'Nd Vendor'})
      expect(server.licenses).toEqual([expect.objectContaining({key: 'five', product: 7, quantity: 5, mode: 'station'})])
      const client = new ServerClient({server: server.url, token: 'hashed-client-token', publicKeys: server.publicKeys})
      const g = await client.checkout({product: 7, user: 'ann', host: 'pc'})
      expect(g.ttl).toBe(60)
      expect(g.lease.mode).toBe('station')
      expect((await refusal(client.checkout({product: 7, user: 'ann', host: 'other-pc'}))).code).toBe('USER_LIMIT')
      expect((await refusal(client.checkout({product: 7, user: 'mallory', host: 'pc'}))).code).toBe('ACCESS_DENIED')
      // Four of the five seats are kept for release-bot.
      expect((await refusal(client.checkout({product: 7, user: 'bob', host: 'pc2'}))).message).toMatch(/4 more reserved for user release-bot/)
      await client.checkout({product: 7, user: 'release-bot', host: 'ci'})
      const containers = await server.store.db.selectFrom('containers').select('kind').execute()
      expect(containers).toEqual([{kind: 'personal'}])
    } finally {
      await server.close()
    }
  })

  it('re-seeding the same data directory is harmless: same licenses, no duplicate rules or containers', async () => {
    const dir = join(tmp.dir, 'reseed')
    const opts = {port: 0, data: {kind: 'dir' as const, dir}, clock: new ManualClock(T0), seed: NDJSON}
    const first = await startServer(opts)
    const ids = first.licenses.map((l) => l.id)
    const kid = first.kid
    await first.close()
    const second = await startServer(opts)
    try {
      expect(second.licenses.map((l) => l.id)).toEqual(ids)
      expect(second.kid).toBe(kid)
      expect(await second.store.db.selectFrom('access_rules').selectAll().execute()).toHaveLength(1)
      expect(await second.store.db.selectFrom('seat_reservations').selectAll().execute()).toHaveLength(1)
      expect(await second.store.db.selectFrom('containers').selectAll().execute()).toHaveLength(1)
      expect(await second.store.integrityCheck()).toBe('ok')
    } finally {
      await second.close()
    }
  })

  it("refuses a license's seat policy with an unknown field or a value out of range, and a reservation the license cannot keep, saying which (exit 2)", async () => {
    const start = (seat: unknown) =>
      startServer({port: 0, data: {kind: 'memory'}, clock: new ManualClock(T0), seed: JSON.stringify({products: [{code: 7, name: 'Seven'}], licenses: [{key: 'eng', product: 7, quantity: 3, seat}]})})
    await expect(start({maxperuser: 1})).rejects.toMatchObject({exit: 2, message: expect.stringMatching(/^--seed: license "eng": "seat" has an unknown field "maxperuser" \(known: .*maxPerUser/)})
    await expect(start({maxPerUser: 0})).rejects.toMatchObject({exit: 2, message: expect.stringMatching(/^--seed: .*maxPerUser/)})
    await expect(start('station')).rejects.toMatchObject({exit: 2, message: expect.stringMatching(/"seat" must be an object/)})
    const reserve = (reservation: object) =>
      startServer({port: 0, data: {kind: 'memory'}, clock: new ManualClock(T0), seed: JSON.stringify({products: [{code: 7, name: 'Seven'}], licenses: [{key: 'eng', product: 7, quantity: 3}], reservations: [reservation]})})
    await expect(reserve({license: 'eng', subject: 'user', pattern: 'ann', seats: 4})).rejects.toMatchObject({exit: 2, code: 'OVER_RESERVED', message: expect.stringMatching(/^--seed: license lic_\w+ has 3 seat\(s\)/)})
    await expect(reserve({license: 'nope', subject: 'user', pattern: 'ann', seats: 1})).rejects.toMatchObject({exit: 2, message: expect.stringMatching(/^--seed: license nope not found/)})
  })

  it('refuses a license entry the store would refuse as a seed error naming the entry and its field (exit 2), not as a flag or a missing product of the store', async () => {
    const start = (licenses: object[]) => startServer({port: 0, data: {kind: 'memory'}, clock: new ManualClock(T0), seed: JSON.stringify({products: [{code: 7, name: 'Seven'}], licenses})})
    const unknown = await refusal(start([{key: 'eng', product: 8}]))
    expect(unknown).toMatchObject({code: 'PRODUCT_NOT_FOUND', exit: 2, message: '--seed: license "eng": product 8 not found', hint: expect.stringMatching(/seed file's "products"/)})
    expect(unknown.details).not.toHaveProperty('flag')
    expect(await refusal(start([{key: 'eng', product: 7, quantity: 0}]))).toMatchObject({exit: 2, message: expect.stringMatching(/^--seed: license "eng": quantity: 0 is out of range/)})
    expect(await refusal(start([{product: 7, expires: '2027-02-30'}]))).toMatchObject({exit: 2, message: '--seed: license "license-1": expires: "2027-02-30" is not a valid calendar date'})
  })

  it('refuses unknown sections and types, naming the line', () => {
    expect(() => parseSeed('{"products": [], "gadgets": []}')).toThrow(/unknown section "gadgets"/)
    expect(() => parseSeed('{"type":"product","code":1,"name":"a"}\n{"type":"gizmo"}')).toThrow(/line 2 .*type "gizmo"/)
    expect(() => parseSeed('{"type":"product"\n')).toThrow(/line 1 .*not JSON/)
  })

  it('a container with a fixed serial and secret: its credential is known in advance, and is the only way in needed', async () => {
    const secret = `lcs_${'s'.repeat(43)}`
    const seed = {
      products: [{code: 7, name: 'Seven'}],
      licenses: [{key: 'eng', product: 7, quantity: 3}],
      groups: [{name: 'eng'}],
      containers: [{kind: 'enterprise', group: 'eng', serial: 'e-7kq2-m9xz-4tbd', secret, licenses: ['eng']}],
    }
    const server = await startServer({port: 0, data: {kind: 'memory'}, clock: new ManualClock(T0), seed: JSON.stringify(seed)})
    try {
      const client = new ServerClient({server: server.url, token: containerToken({container: 'E-7KQ2-M9XZ-4TBD', secret}), publicKeys: server.publicKeys})
      const grant = await client.checkout({product: 7, user: 'ann', host: 'pc'})
      expect(grant.lease.licenseId).toBe(server.licenses[0].id)
    } finally {
      await server.close()
    }
    const start = (container: object) => startServer({port: 0, data: {kind: 'memory'}, clock: new ManualClock(T0), seed: JSON.stringify({...seed, containers: [container]})})
    await expect(start({kind: 'enterprise', group: 'eng', secret: 'lcs_short'})).rejects.toThrow(/^--seed: .*secret.*lcs_ and 43 base64url characters/)
    await expect(start({kind: 'enterprise', group: 'eng', serial: 'P-7KQ2-M9XZ-4TBD', secret})).rejects.toThrow(/does not start with E-/)
    await expect(start({kind: 'enterprise', group: 'eng', serial: 'E-7KQ2-M9XZ-4TBU', secret})).rejects.toThrow(/not a container serial/)
    await expect(start({kind: 'local', device: 'a'.repeat(43), secret})).rejects.toThrow(/local container has no credentials/)
  })

  it("the README's seed example starts a server, and its container credential checks out a seat", async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const example = /### Seed files[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)![1]
    const server = await startServer({port: 0, data: {kind: 'memory'}, clock: new ManualClock(T0), seed: example})
    try {
      const line = example.split('\n').find((l) => l.includes('"container"'))!
      const {serial, secret} = JSON.parse(line) as {serial: string; secret: string}
      const client = new ServerClient({server: server.url, token: containerToken({container: serial, secret}), publicKeys: server.publicKeys})
      expect((await client.checkout({product: 7, user: 'ann', host: 'pc'})).lease.mode).toBe('station')
      // The rule and the token are in force too.
      expect((await refusal(client.checkout({product: 7, user: 'ann', host: 'kiosk-3'}))).code).toBe('ACCESS_DENIED')
      expect((await new ServerClient({server: server.url, token: 'ci-client-token'}).list()).length).toBe(1)
      expect(await server.seats.listReservations()).toEqual([expect.objectContaining({subject: 'user', pattern: 'release-bot', seats: 1, inUse: 0})])
    } finally {
      await server.close()
    }
  })

  it('a server without any token refuses to start', async () => {
    await expect(startServer({port: 0, data: {kind: 'memory'}, clock: new ManualClock(T0)})).rejects.toThrow(/needs a client token/)
  })

  it('refuses a bad token, naming its seed entry or flag', async () => {
    const start = (tokens: unknown[], flagTokens: Array<{token: string; role: 'client'; name: string; where?: string}> = []) =>
      startServer({port: 0, data: {kind: 'memory'}, clock: new ManualClock(T0), seed: JSON.stringify({tokens}), tokens: flagTokens})
    const good = {name: 'ci', role: 'client', token: 'long-enough-token'}
    await expect(start([good, {name: 'tiny', token: 'short'}])).rejects.toMatchObject({code: 'TOKEN_TOO_SHORT', message: expect.stringMatching(/^--seed: token 2 is too short/)})
    await expect(start([good, {name: 'spaced', token: 'has a space in it'}])).rejects.toMatchObject({code: 'TOKEN_INVALID', message: expect.stringMatching(/^--seed: token 2: use 8 to 512/)})
    await expect(start([{name: 'hex', sha256: 'abc'}])).rejects.toMatchObject({code: 'TOKEN_HASH_INVALID', message: expect.stringMatching(/^--seed: token 1: sha256 must be 64 hex digits/)})
    await expect(start([], [{token: 'short', role: 'client', name: 'client-token', where: 'the client token (--client-token)'}])).rejects.toMatchObject({
      code: 'TOKEN_TOO_SHORT',
      message: expect.stringMatching(/^the client token \(--client-token\) is too short/),
    })
  })
})

describe('the seat client (from the built library) releases its seats when the process is told to stop', () => {
  it('SIGTERM: the lease is released before the process exits', async () => {
    const s = await testServer()
    const script = join(tmp.dir, 'app.mjs')
    // The library entry as vendors import it (needs the build).
    const entry = new URL('../../dist/index.js', import.meta.url).pathname
    writeFileSync(
      script,
      `import {SeatClient} from ${JSON.stringify(entry)}
const seats = new SeatClient({server: process.argv[2], token: process.argv[3], user: 'app', host: 'ci'})
const seat = await seats.checkout({license: process.argv[4]})
process.stdout.write(seat.id + '\\n')
setInterval(() => {}, 1000)
`,
    )
    const child = spawn(process.execPath, [script, s.url, 'client-token-for-tests', s.license('two')], {stdio: ['ignore', 'pipe', 'pipe']})
    try {
      let err = ''
      child.stderr.on('data', (b) => (err += b))
      const leaseId = await new Promise<string>((resolve, reject) => {
        child.stdout.once('data', (b: Buffer) => resolve(b.toString().trim()))
        child.on('exit', (code) => reject(new Error(`app exited ${code}: ${err}`)))
      })
      expect((await s.client.list({license: s.license('two')}))[0].holders.map((h) => h.id)).toEqual([leaseId])
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)))
      child.kill('SIGTERM')
      expect(await exited).toBe('SIGTERM')
      expect((await s.client.list({license: s.license('two')}))[0].used).toBe(0)
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await s.close()
    }
  })
})

describe(`damaged seed files (seed ${FUZZ_SEED}; LICADM_FUZZ_SEED picks another)`, () => {
  const JSON_SEED = JSON.stringify(
    {
      vendor: {code: 31, name: 'Js Vendor'},
      products: [{code: 7, name: 'Seven'}],
      licenses: [{key: 'five', product: 7, quantity: 5, seat: {mode: 'checkout', linger: 60}}],
      users: [{email: 'ann@example.com'}],
      tokens: [{name: 'ci', role: 'client', token: 'a-client-token-for-ci'}],
      rules: [{product: 7, action: 'deny', subject: 'host', pattern: 'kiosk-*'}],
      reservations: [{license: 'five', subject: 'user', pattern: 'ann', seats: 2}],
    },
    null,
    1,
  )

  it.each([
    ['NDJSON', NDJSON],
    ['JSON', JSON_SEED],
  ])('%s: the server starts on each damaged copy, or refuses it with the reason', async (_kind, valid) => {
    const random = generator(FUZZ_SEED)
    const crashes: string[] = []
    let refused = 0
    for (let i = 0; i < 40; i++) {
      const text = damage(valid, random)
      try {
        const server = await startServer({port: 0, data: {kind: 'memory'}, clock: new ManualClock(T0), seed: text, tokens: [{token: 'a-flag-token', role: 'client', name: 'flag'}]})
        await server.close()
      } catch (error) {
        const crash = crashOf(error, text)
        if (crash) crashes.push(crash)
        else refused++
      }
    }
    expect(crashes.slice(0, 3).join('\n')).toBe('')
    expect(refused).toBeGreaterThan(5)
  })
})
