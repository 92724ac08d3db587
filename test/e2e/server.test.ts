/**
 * The license server as a real process: `licadm server start` spawned from the built CLI, driven by
 * the seat commands and by raw HTTP, stopped with SIGTERM, and killed with SIGKILL under load.
 * Needs the build (dist/).
 */
import type {ChildProcess} from 'node:child_process'
import {copyFileSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, afterEach, describe, expect, it} from 'vitest'

import {describeRun, fails, initVendor, ok, openStoreReadOnly, sandbox, spawnLicadm, type Sandbox} from '../helpers/cli.js'

const CLIENT = 'e2e-client-token'
const ADMIN = 'e2e-admin-token'
const SEED = {
  vendor: {code: 9090, name: 'E2E Seats'},
  products: [{code: 7, name: 'Seven'}],
  licenses: [{key: 'ten', product: 7, quantity: 10, features: 1}],
  tokens: [
    {name: 'ci', role: 'client', token: CLIENT},
    {name: 'admin', role: 'vendor', token: ADMIN},
  ],
}

const children = new Set<ChildProcess>()
const boxes: Sandbox[] = []

afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  children.clear()
})
afterAll(() => {
  for (const sb of boxes) sb.cleanup()
})

interface Started {
  child: ChildProcess
  ready: any
  stdout: () => string
  stderr: () => string
  exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>
}

/** A sandbox for one test, removed after the file's tests. */
function box(): Sandbox {
  const sb = sandbox('licadm-e2e-server-')
  boxes.push(sb)
  return sb
}

/** Writes a seed file into the sandbox (SEED by default) and returns its path. */
function seedFile(sb: Sandbox, seed: object = SEED): string {
  const path = sb.path('seed.json')
  writeFileSync(path, JSON.stringify(seed))
  return path
}

/** Stops a started server with SIGTERM and expects a clean exit. */
async function stopServer(s: Started): Promise<void> {
  s.child.kill('SIGTERM')
  expect((await s.exited).code).toBe(0)
}

/** Spawns `licadm server start …` and resolves with its ready object once it prints it. */
function startServer(sb: Sandbox, args: string[], env: Record<string, string> = {}): Promise<Started> {
  const child = spawnLicadm(['server', 'start', '--port', '0', '--json', ...args], {env: {...sb.env, ...env}})
  children.add(child)
  let out = ''
  let err = ''
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) => child.on('exit', (code, signal) => resolve({code, signal})))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start\n${err}`)), 30_000)
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString()
      const nl = out.indexOf('\n')
      if (nl >= 0 && timer) {
        clearTimeout(timer)
        try {
          resolve({child, ready: JSON.parse(out.slice(0, nl)).result, stdout: () => out, stderr: () => err, exited})
        } catch (error) {
          reject(error)
        }
      }
    })
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()))
    void exited.then(({code}) => {
      clearTimeout(timer)
      reject(new Error(`server exited ${code} before it was ready\n${err}\n${out}`))
    })
  })
}

async function api(url: string, method: string, path: string, body?: unknown): Promise<{status: number; json: any}> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {authorization: `Bearer ${CLIENT}`, ...(body === undefined ? {} : {'content-type': 'application/json'})},
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return {status: res.status, json: await res.json()}
}

describe('licadm server start (spawned)', {timeout: 240_000}, () => {
  it('runs without a profile on --memory --seed, prints one ready object, serves the seat commands, stops on SIGTERM', async () => {
    const sb = box()
    const seed = seedFile(sb)
    const s = await startServer(sb, ['--memory', '--seed', seed, '--public-key-out', sb.path('vendor.pem')])
    expect(s.ready.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(s.ready.vendor).toEqual({code: 9090, name: 'E2E Seats'})
    expect(s.ready.publicKey).toMatch(/BEGIN PUBLIC KEY/)
    const license = s.ready.licenses[0].id
    const env = {LICADM_SERVER: s.ready.url, LICADM_TOKEN: CLIENT}

    const checkout = ok(await sb.run(['seat', 'checkout', '--license', license, '--user', 'ann', '--host', 'pc1', '--public-key', sb.path('vendor.pem'), '--json'], {env}))
    expect(checkout.lease.licenseId).toBe(license)
    const leaseId = checkout.lease.id
    ok(await sb.run(['seat', 'heartbeat', leaseId, '--json'], {env}))
    const list = ok(await sb.run(['seat', 'list', '--json'], {env}))
    expect(list.licenses[0]).toMatchObject({licenseId: license, used: 1, quantity: 10})
    expect(list.licenses[0].holders[0]).toMatchObject({id: leaseId, user: 'ann', host: 'pc1'})
    const text = await sb.run(['seat', 'list'], {env})
    expect(text.stdout).toMatch(/1\/10/)
    expect(text.stdout).toMatch(/ann/)
    const status = ok(await sb.run(['server', 'status', '--json'], {env}))
    expect(status).toMatchObject({reachable: true, version: expect.any(String), waiting: 0})
    expect(status.licenses[0]).toMatchObject({used: 1, quantity: 10})
    expect((await sb.run(['server', 'status'], {env})).stdout).toMatch(/Waiting\s+0 checkout\(s\) in line for a seat/)

    // A client token may not force-release; the admin token may (with --yes).
    const denied = fails(await sb.run(['seat', 'remove', leaseId, '--yes', '--json'], {env}), 7)
    expect(denied.code).toBe('FORBIDDEN')
    const borrow = ok(await sb.run(['seat', 'borrow', '--license', license, '--duration', '2d', '--out', sb.path('x.borrow'), '--json'], {env}))
    expect(borrow.borrow.kind).toBe('borrow')
    // A file that is there already (no --force) is refused before anything is borrowed.
    const usedBefore = ok(await sb.run(['seat', 'list', '--json'], {env})).licenses[0].used
    const exists = fails(await sb.run(['seat', 'borrow', '--license', license, '--duration', '2d', '--out', sb.path('x.borrow'), '--json'], {env}), 4)
    expect(exists).toMatchObject({code: 'FILE_EXISTS', message: expect.stringMatching(/x\.borrow exists already; nothing was changed/)})
    expect(fails(await sb.run(['seat', 'borrow', '--license', license, '--duration', '2d', '--out', sb.path('no-such-dir', 'y.borrow'), '--json'], {env}), 2).code).toBe('INVALID_VALUE')
    expect(ok(await sb.run(['seat', 'list', '--json'], {env})).licenses[0].used).toBe(usedBefore)
    // With an idempotency key, a re-run gets the same borrow and writes the same file: no second seat.
    const keyed = ['seat', 'borrow', '--license', license, '--duration', '1d', '--idempotency-key', 'job-7', '--out', sb.path('k.borrow'), '--force']
    const firstRun = ok(await sb.run([...keyed, '--json'], {env}))
    const firstFile = readFileSync(sb.path('k.borrow'), 'utf8')
    const rerun = await sb.run(keyed, {env})
    expect(rerun.stdout).toMatch(new RegExp(`Borrowed ${firstRun.borrow.id} .* \\(borrowed by an earlier run with this key\\); wrote`))
    expect(readFileSync(sb.path('k.borrow'), 'utf8')).toBe(firstFile)
    expect(ok(await sb.run(['seat', 'list', '--json'], {env})).licenses[0].used).toBe(usedBefore + 1)
    expect(fails(await sb.run(['seat', 'borrow', '--license', license, '--duration', '2d', '--idempotency-key', 'job-7', '--json'], {env}), 4).code).toBe('IDEMPOTENCY_KEY_REUSED')
    ok(await sb.run(['seat', 'return', firstRun.borrow.id, '--json'], {env}))
    // A changed borrow file is refused when the vendor key is given, and returns nothing.
    const armored = readFileSync(sb.path('x.borrow'), 'utf8').split('\n').filter((l) => l && !l.startsWith('-----')).join('')
    const [h, p, sig] = Buffer.from(armored, 'base64').toString().split('.')
    const changedClaims = {...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'brw_someone_elses'}
    const changed = Buffer.from([h, Buffer.from(JSON.stringify(changedClaims)).toString('base64url'), sig].join('.')).toString('base64')
    writeFileSync(sb.path('changed.borrow'), `-----BEGIN LICADM BORROW-----\n${changed.match(/.{1,64}/g)!.join('\n')}\n-----END LICADM BORROW-----\n`)
    const tampered = fails(await sb.run(['seat', 'return', sb.path('changed.borrow'), '--public-key', sb.path('vendor.pem'), '--json'], {env}), 5)
    expect(tampered).toMatchObject({code: 'SIGNATURE_INVALID', message: expect.stringMatching(/borrow file's signature does not verify/)})
    expect(ok(await sb.run(['seat', 'return', sb.path('x.borrow'), '--public-key', sb.path('vendor.pem'), '--json'], {env}))).toMatchObject({returned: true})
    expect(ok(await sb.run(['seat', 'remove', leaseId, '--yes', '--json'], {env: {...env, LICADM_TOKEN: ADMIN}})).lease.id).toBe(leaseId)
    expect(ok(await sb.run(['seat', 'release', leaseId, '--json'], {env}))).toEqual({released: false, leaseId})
    const gone = fails(await sb.run(['seat', 'heartbeat', leaseId, '--json'], {env}), 3)
    expect(gone.code).toBe('LEASE_NOT_FOUND')

    // Access rules through the CLI.
    const rule = ok(await sb.run(['server', 'rules', 'add', '--product', '7', '--deny', '--user', 'mallory', '--json'], {env: {...env, LICADM_TOKEN: ADMIN}}))
    expect(rule.rule.id).toBeGreaterThan(0)
    const refused = fails(await sb.run(['seat', 'checkout', '--product', '7', '--user', 'mallory', '--json'], {env}), 7)
    expect(refused.code).toBe('ACCESS_DENIED')
    // Several seats in one lease: seat list shows how many; a count the license cannot grant is refused.
    const job = ok(await sb.run(['seat', 'checkout', '--license', license, '--seats', '4', '--user', 'ci', '--host', 'runner', '--json'], {env}))
    expect(job.lease.seats).toBe(4)
    expect((await sb.run(['seat', 'checkout', '--license', license, '--seats', '2', '--user', 'ci', '--host', 'runner2'], {env})).stdout).toMatch(/^Seats\s+2$/m)
    expect((await sb.run(['seat', 'list'], {env})).stdout).toMatch(/6\/10[\s\S]*KIND\s+SEATS\s+USER[\s\S]*lease\s+4\s+ci\s+runner\s/)
    expect(fails(await sb.run(['seat', 'checkout', '--license', license, '--seats', '11', '--json'], {env}), 4)).toMatchObject({code: 'SEAT_COUNT_REFUSED', message: expect.stringMatching(/has 10 seat\(s\) in all/)})
    expect((await sb.run(['seat', 'checkout', '--license', license, '--seats', '0'], {env})).code).toBe(2)
    // The token never appears in any output.
    expect(text.stdout + text.stderr).not.toContain(CLIENT)
    // Not in test mode: its clock does not move.
    const fixed = fails(await sb.run(['server', 'clock', '--advance', '1h', '--json'], {env: {...env, LICADM_TOKEN: ADMIN}}), 3)
    expect(fixed).toMatchObject({code: 'TEST_MODE_OFF', hint: expect.stringMatching(/--test-mode/)})

    await stopServer(s)
    // Exactly one JSON object on stdout: the ready object, no second envelope at exit.
    expect(s.stdout().trim().split('\n')).toHaveLength(1)
    expect(s.stderr()).toMatch(/stopped/)
    const down = fails(await sb.run(['server', 'status', '--json'], {env}), 8)
    expect(down.code).toBe('SERVER_UNREACHABLE')
  })

  it('--test-mode --clock: "server clock" shows the time; --advance (admin) moves it and the expired seats are reclaimed', async () => {
    const sb = box()
    const seed = seedFile(sb)
    const s = await startServer(sb, ['--memory', '--seed', seed, '--test-mode', '--clock', '2027-01-01T00:00:00Z'])
    const env = {LICADM_SERVER: s.ready.url, LICADM_TOKEN: CLIENT}
    ok(await sb.run(['seat', 'checkout', '--product', '7', '--user', 'ann', '--host', 'pc1', '--json'], {env}))

    const shown = ok(await sb.run(['server', 'clock', '--json'], {env: {LICADM_SERVER: s.ready.url}}))
    expect(shown).toMatchObject({server: s.ready.url, serverTime: '2027-01-01T00:00:00.000Z'})
    // The server's clock stands at 2027 while this machine's runs now: the skew says by how much.
    expect(shown.skewMs).toBeGreaterThan(Date.parse('2027-01-01T00:00:00Z') - Date.now() - 60_000)
    expect((await sb.run(['server', 'clock'], {env})).stdout).toMatch(/Server time 2027-01-01T00:00:00.000Z \(\d+\.\d s from this machine's clock\)/)

    expect(fails(await sb.run(['server', 'clock', '--advance', '301s', '--json'], {env}), 7).code).toBe('FORBIDDEN')
    expect(fails(await sb.run(['server', 'clock', '--advance', 'soon', '--json'], {env: {...env, LICADM_TOKEN: ADMIN}}), 2).message).toMatch(/--advance.*not a duration/)
    const moved = ok(await sb.run(['server', 'clock', '--advance', '301s', '--json'], {env: {...env, LICADM_TOKEN: ADMIN}}))
    expect(moved).toEqual({server: s.ready.url, serverTime: '2027-01-01T00:05:01.000Z', advancedBy: 301, reclaimed: 1})
    expect(ok(await sb.run(['seat', 'list', '--json'], {env})).licenses[0]).toMatchObject({used: 0})
    const text = await sb.run(['server', 'clock', '--advance', '1d'], {env: {...env, LICADM_TOKEN: ADMIN}})
    expect(text.stdout).toMatch(/^Server time now 2027-01-02T00:05:01.000Z; reclaimed 0 expired/)
    await stopServer(s)
  })

  it('seat checkout --wait: waits while the license is full, takes the seat once it is released; gives up with exit 4', async () => {
    const sb = box()
    const seed = seedFile(sb, {...SEED, licenses: [{key: 'one', product: 7, quantity: 1}]})
    const s = await startServer(sb, ['--memory', '--seed', seed])
    const license = s.ready.licenses[0].id
    const env = {...sb.env, LICADM_SERVER: s.ready.url, LICADM_TOKEN: CLIENT}
    const first = ok(await sb.run(['seat', 'checkout', '--license', license, '--user', 'ann', '--json'], {env}))

    const gaveUp = await sb.run(['seat', 'checkout', '--license', license, '--user', 'bob', '--wait', '1s', '--json'], {env})
    expect(fails(gaveUp, 4)).toMatchObject({code: 'NO_SEAT_FREE', message: expect.stringMatching(/in use by ann@/), hint: expect.stringMatching(/--wait/)})
    expect(gaveUp.stderr).toBe('')
    expect(fails(await sb.run(['seat', 'checkout', '--license', license, '--wait', 'a while', '--json'], {env}), 2).message).toMatch(/--wait.*not a duration/)

    const waiter = spawnLicadm(['seat', 'checkout', '--license', license, '--user', 'bob', '--wait', '2m'], {env})
    children.add(waiter)
    let out = ''
    let err = ''
    waiter.stdout!.on('data', (b: Buffer) => (out += b.toString()))
    waiter.stderr!.on('data', (b: Buffer) => (err += b.toString()))
    const exited = new Promise<number | null>((resolve) => waiter.on('exit', (code) => resolve(code)))
    const deadline = Date.now() + 30_000
    while (!/waiting up to 2m for a free seat/.test(err) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(err).toMatch(/^no seat of license .* is free: 1 of 1 in use by ann@.*; waiting up to 2m for a free seat/)
    ok(await sb.run(['seat', 'release', first.lease.id, '--json'], {env}))
    expect(await exited).toBe(0)
    expect(out).toMatch(/Holder\s+bob@/)
    const list = ok(await sb.run(['seat', 'list', '--json'], {env}))
    expect(list.licenses[0].holders.map((h: {user: string}) => h.user)).toEqual(['bob'])
    await stopServer(s)
  })

  it('server policy shows a license\'s policy, changes the settings given and keeps the others (vendor token only); the cap at work; seat list --user/--host', async () => {
    const sb = box()
    const s = await startServer(sb, ['--memory', '--seed', seedFile(sb)])
    const license = s.ready.licenses[0].id
    const env = {...sb.env, LICADM_SERVER: s.ready.url, LICADM_TOKEN: ADMIN}
    const policy = async (...args: string[]) => ok(await sb.run(['server', 'policy', license, ...args, '--json'], {env})).policy
    expect(fails(await sb.run(['server', 'policy', license, '--max-per-user', '1', '--json'], {env: {...env, LICADM_TOKEN: CLIENT}}), 7).code).toBe('FORBIDDEN')
    expect(fails(await sb.run(['server', 'policy', license, '--json'], {env: {...env, LICADM_TOKEN: CLIENT}}), 7).code).toBe('FORBIDDEN')

    // Without settings it shows, and changes nothing.
    expect(await policy()).toBeNull()
    const none = await sb.run(['server', 'policy', license], {env})
    expect(none.stdout).toMatch(/no policy of its own: mode checkout, the server's lease TTL and borrow limits, no limit per user/)
    expect(fails(await sb.run(['server', 'policy', 'lic_nope', '--json'], {env}), 3).message).toMatch(/lic_nope/)

    expect(await policy('--mode', 'station', '--lease-ttl', '2m')).toMatchObject({mode: 'station', leaseTtl: 120, maxPerUser: null})
    // A change keeps the settings it does not name.
    expect(await policy('--max-per-user', '2', '--borrow-max-seats', '1')).toMatchObject({mode: 'station', leaseTtl: 120, borrowMaxSeats: 1, maxPerUser: 2})
    const shown = await sb.run(['server', 'policy', license], {env})
    expect(shown.stdout).toMatch(/mode station, lease TTL 2m, borrow for at most the server's longest time, 1 seat\(s\) at once, at most 2 seat\(s\) per user/)
    // "default" puts one setting back; --reset replaces the whole policy.
    expect(await policy('--lease-ttl', 'default')).toMatchObject({mode: 'station', leaseTtl: null, maxPerUser: 2})
    expect(await policy('--reset', '--max-per-user', '1')).toEqual({licenseId: license, mode: 'checkout', leaseTtl: null, borrowMaxSeconds: null, borrowMaxSeats: null, maxPerUser: 1, linger: null})
    expect((await sb.run(['server', 'policy', license], {env})).stdout).toMatch(/mode checkout, the server's lease TTL, the server's borrow limits, at most 1 seat\(s\) per user, no linger/)
    expect(fails(await sb.run(['server', 'policy', license, '--max-per-user', '0', '--json'], {env}), 2).message).toMatch(/--max-per-user/)
    expect(fails(await sb.run(['server', 'policy', license, '--lease-ttl', 'soon', '--json'], {env}), 2).message).toMatch(/--lease-ttl/)
    expect(await policy()).toMatchObject({maxPerUser: 1})

    // The cap at work: ann's second seat is refused, bob still gets one.
    const seatEnv = {...env, LICADM_TOKEN: CLIENT}
    ok(await sb.run(['seat', 'checkout', '--license', license, '--user', 'ann', '--host', 'pc1', '--json'], {env: seatEnv}))
    const again = await sb.run(['seat', 'checkout', '--license', license, '--user', 'ann', '--host', 'pc2', '--json'], {env: seatEnv})
    expect(fails(again, 4)).toMatchObject({code: 'USER_LIMIT', message: expect.stringMatching(/user ann holds 1 seat\(s\).*limit of 1 per user/), hint: expect.stringMatching(/--max-per-user/)})
    const inText = await sb.run(['seat', 'checkout', '--license', license, '--user', 'ann', '--host', 'pc2'], {env: seatEnv})
    expect(inText.code).toBe(4)
    expect(inText.stderr).toMatch(/Error: user ann holds 1 seat/)
    ok(await sb.run(['seat', 'checkout', '--license', license, '--user', 'bob', '--host', 'pc2', '--json'], {env: seatEnv}))
    expect(ok(await sb.run(['seat', 'list', '--json'], {env: seatEnv})).licenses[0].used).toBe(2)

    // seat list --user / --host: only those holders; the seats used stay the license's.
    const anns = ok(await sb.run(['seat', 'list', '--user', 'ann', '--json'], {env: seatEnv})).licenses[0]
    expect(anns).toMatchObject({used: 2, holders: [expect.objectContaining({user: 'ann', host: 'pc1'})]})
    expect(anns.holders).toHaveLength(1)
    const pc2 = await sb.run(['seat', 'list', '--host', 'pc2'], {env: seatEnv})
    expect(pc2.stdout).toMatch(/bob\s+pc2/)
    expect(pc2.stdout).not.toMatch(/\bann\b/)
    expect((await sb.run(['seat', 'list', '--user', 'zed', '--host', 'pc9'], {env: seatEnv})).stdout).toMatch(/no seats held by user zed on host pc9/)

    // A linger: bob's released seat stays his for two minutes, shown as lingering; "0" ends lingering for new releases.
    expect(await policy('--linger', '2m')).toMatchObject({maxPerUser: 1, linger: 120})
    expect((await sb.run(['server', 'policy', license], {env})).stdout).toMatch(/at most 1 seat\(s\) per user, a released seat lingers 2m/)
    const bobs = ok(await sb.run(['seat', 'list', '--user', 'bob', '--json'], {env: seatEnv})).licenses[0].holders[0].id
    expect((await sb.run(['seat', 'release', bobs], {env: seatEnv})).stdout).toMatch(new RegExp(`^Released lease ${bobs}; its seat lingers until \\S+Z \\(the same user on the same host takes it back\\)`))
    expect((await sb.run(['seat', 'list', '--user', 'bob'], {env: seatEnv})).stdout).toMatch(/lingering\s+bob\s+pc2/)
    expect(await policy('--linger', '0')).toMatchObject({linger: null})
    expect(fails(await sb.run(['server', 'policy', license, '--linger', '2d', '--json'], {env}), 2).message).toMatch(/--linger/)
    await stopServer(s)
  })

  it('server reservations add, list and remove keep seats for a user or host (vendor token only); seat list shows them; refusals say why', async () => {
    const sb = box()
    const s = await startServer(sb, ['--memory', '--seed', seedFile(sb)])
    const license = s.ready.licenses[0].id
    const env = {...sb.env, LICADM_SERVER: s.ready.url, LICADM_TOKEN: ADMIN}
    const seatEnv = {...env, LICADM_TOKEN: CLIENT}
    expect(fails(await sb.run(['server', 'reservations', 'add', '--license', license, '--user', 'ann', '--seats', '1', '--json'], {env: seatEnv}), 7).code).toBe('FORBIDDEN')

    const added = await sb.run(['server', 'reservations', 'add', '--license', license, '--user', 'ann', '--seats', '6'], {env})
    expect(added.code, added.stderr).toBe(0)
    expect(added.stdout).toMatch(/Added reservation (\d+): 6 seat\(s\) of license lic_\w+ kept for user ann/)
    const byHost = ok(await sb.run(['server', 'reservations', 'add', '--license', license, '--host', 'build-*', '--seats', '3', '--json'], {env})).reservation
    expect(byHost).toMatchObject({licenseId: license, subject: 'host', pattern: 'build-*', seats: 3})
    const over = fails(await sb.run(['server', 'reservations', 'add', '--license', license, '--address', '10.0.0.0/8', '--seats', '2', '--json'], {env}), 4)
    expect(over).toMatchObject({code: 'OVER_RESERVED', hint: expect.stringMatching(/Reserve 1 seat\(s\) or fewer/)})
    expect(fails(await sb.run(['server', 'reservations', 'add', '--license', license, '--seats', '1', '--json'], {env}), 2).message).toMatch(/give --user, --host or --address/)
    expect(fails(await sb.run(['server', 'reservations', 'add', '--license', license, '--user', 'x', '--seats', '0', '--json'], {env}), 2).message).toMatch(/--seats/)

    // Ten seats, nine reserved: bob gets the one free seat, carol is told why not.
    ok(await sb.run(['seat', 'checkout', '--license', license, '--user', 'bob', '--host', 'pc1', '--json'], {env: seatEnv}))
    const carol = await sb.run(['seat', 'checkout', '--license', license, '--user', 'carol', '--host', 'pc2'], {env: seatEnv})
    expect(carol.code).toBe(4)
    expect(carol.stderr).toMatch(/Error: no seat of license lic_\w+ is free for user carol on host pc2: 1 of 10 in use by bob@pc1; 9 more reserved for user ann, host build-\*/)
    ok(await sb.run(['seat', 'checkout', '--license', license, '--user', 'ann', '--host', 'pc3', '--json'], {env: seatEnv}))
    ok(await sb.run(['seat', 'checkout', '--license', license, '--user', 'ci', '--host', 'build-7', '--json'], {env: seatEnv}))

    const listed = await sb.run(['server', 'reservations', 'list'], {env})
    expect(listed.stdout).toMatch(/ID\s+LICENSE\s+FOR\s+SEATS\s+IN USE/)
    expect(listed.stdout).toMatch(/user ann\s+6\s+1/)
    expect(listed.stdout).toMatch(/host build-\*\s+3\s+1/)
    expect(ok(await sb.run(['server', 'reservations', 'list', '--license', license, '--json'], {env})).reservations.map((r: {inUse: number}) => r.inUse)).toEqual([1, 1])
    const seats = await sb.run(['seat', 'list'], {env: seatEnv})
    expect(seats.stdout).toMatch(/USED\s+BORROWED\s+RESERVED/)
    expect(seats.stdout).toMatch(/3\/10\s+0\s+9/)

    const removed = await sb.run(['server', 'reservations', 'remove', String(byHost.id)], {env})
    expect(removed.stdout).toMatch(new RegExp(`Removed reservation ${byHost.id}: 3 seat\\(s\\) of license lic_\\w+ for host build-\\*`))
    expect(fails(await sb.run(['server', 'reservations', 'remove', String(byHost.id), '--json'], {env}), 3).code).toBe('RESERVATION_NOT_FOUND')
    expect(ok(await sb.run(['server', 'reservations', 'list', '--json'], {env})).reservations).toHaveLength(1)
    ok(await sb.run(['seat', 'checkout', '--license', license, '--user', 'carol', '--host', 'pc2', '--json'], {env: seatEnv}))
    await stopServer(s)
  })

  it('--hide-holders: seat list shows a client token no holders but those of the station it names, and says so; an admin token sees them all', async () => {
    const sb = box()
    const s = await startServer(sb, ['--memory', '--seed', seedFile(sb), '--hide-holders'])
    const license = s.ready.licenses[0].id
    const env = {...sb.env, LICADM_SERVER: s.ready.url, LICADM_TOKEN: CLIENT}
    ok(await sb.run(['seat', 'checkout', '--license', license, '--user', 'ann', '--host', 'pc1', '--json'], {env}))
    const listed = await sb.run(['seat', 'list'], {env})
    expect(listed.stdout).toMatch(/1\/10/)
    expect(listed.stdout).toMatch(/the server hides who holds its seats: give --user and --host/)
    expect(listed.stdout).not.toMatch(/\bann\b/)
    expect((await sb.run(['seat', 'list', '--user', 'ann', '--host', 'pc1'], {env})).stdout).toMatch(/lease\s+ann\s+pc1/)
    const admin = ok(await sb.run(['seat', 'list', '--json'], {env: {...env, LICADM_TOKEN: ADMIN}})).licenses[0]
    expect(admin).toMatchObject({holdersHidden: false, holders: [expect.objectContaining({user: 'ann'})]})
    await stopServer(s)
  })

  it('server usage reports peak seats, checkouts, denials and reclaims per license and per user (vendor token only), and keeps them across a restart', async () => {
    const sb = box()
    const data = sb.path('server-data')
    const seed = seedFile(sb, {...SEED, licenses: [{key: 'two', product: 7, quantity: 2}]})
    let s = await startServer(sb, ['--data', data, '--seed', seed])
    const license = s.ready.licenses[0].id
    const env = () => ({...sb.env, LICADM_SERVER: s.ready.url, LICADM_TOKEN: ADMIN})
    for (const user of ['ann', 'bob', 'carol']) await sb.run(['seat', 'checkout', '--license', license, '--user', user, '--json'], {env: {...env(), LICADM_TOKEN: CLIENT}})
    expect(fails(await sb.run(['server', 'usage', '--json'], {env: {...env(), LICADM_TOKEN: CLIENT}}), 7).code).toBe('FORBIDDEN')
    await stopServer(s)
    s = await startServer(sb, ['--data', data, '--seed', seed])
    const report = ok(await sb.run(['server', 'usage', '--days', '7', '--json'], {env: env()}))
    expect(report.licenses).toEqual([expect.objectContaining({licenseId: license, quantity: 2, peak: 2, daysFull: 1, checkouts: 2, denials: 1, reclaimed: 0})])
    expect(report.licenses[0].users).toEqual([
      {user: 'ann', checkouts: 1, denials: 0},
      {user: 'bob', checkouts: 1, denials: 0},
      {user: 'carol', checkouts: 0, denials: 1},
    ])
    const today = report.until
    const text = await sb.run(['server', 'usage', '--daily', '--by-user'], {env: env()})
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/^Seat usage from \d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2} \(UTC\)/)
    expect(text.stdout).toMatch(/LICENSE\s+PRODUCT\s+PEAK\s+FULL\s+CHECKOUTS\s+DENIED\s+RECLAIMED/)
    expect(text.stdout).toMatch(new RegExp(`${license}\\s+7\\s+2/2\\s+1 day\\s+2\\s+1\\s+0`))
    expect(text.stdout).toMatch(new RegExp(`${today}\\s+${license}\\s+2/2\\s+2\\s+1\\s+0`))
    expect(text.stdout).toMatch(/USER\s+LICENSE\s+CHECKOUTS\s+DENIED\n.*\nann\s+lic_\w+\s+1\s+0\nbob\s+lic_\w+\s+1\s+0\ncarol\s+lic_\w+\s+0\s+1/)
    expect(fails(await sb.run(['server', 'usage', '--since', '2026-13-01', '--json'], {env: env()}), 2).message).toMatch(/since/)
    await stopServer(s)
  })

  it("serves the profile's own store and key by default", async () => {
    const sb = box()
    await initVendor(sb, {vendorCode: 5150, products: [7]})
    const created = ok(await sb.run(['license', 'create', '--product', '7', '--kind', 'concurrent', '--quantity', '2', '--json']))
    const license = created.licenses[0].id
    const pub = sb.path('vendor.pem')
    ok(await sb.run(['key', 'export', '--out', pub, '--json']))
    const s = await startServer(sb, [], {LICADM_CLIENT_TOKEN: CLIENT})
    expect(s.ready.vendor.code).toBe(5150)
    const env = {LICADM_SERVER: s.ready.url, LICADM_TOKEN: CLIENT}
    const a = ok(await sb.run(['seat', 'checkout', '--product', '7', '--user', 'a', '--public-key', pub, '--json'], {env}))
    expect(a.lease.licenseId).toBe(license)
    ok(await sb.run(['seat', 'checkout', '--product', '7', '--user', 'b', '--json'], {env}))
    const full = fails(await sb.run(['seat', 'checkout', '--product', '7', '--user', 'c', '--json'], {env}), 4)
    expect(full.code).toBe('NO_SEAT_FREE')
    expect(full.message).toMatch(/2 of 2 in use/)
    await stopServer(s)
  })

  it("an enterprise container's --credentials reach its licenses only; after a reset only the new file works", async () => {
    const sb = box()
    await initVendor(sb, {vendorCode: 5151, products: [7]})
    const create = async () => ok(await sb.run(['license', 'create', '--product', '7', '--kind', 'concurrent', '--quantity', '2', '--json'])).licenses[0].id as string
    const [inside, outside] = [await create(), await create()]
    ok(await sb.run(['group', 'create', '--name', 'eng', '--json']))
    const serial = ok(await sb.run(['container', 'create', '--kind', 'enterprise', '--group', 'eng', '--out', sb.path('eng.json'), '--json'])).container.serial
    ok(await sb.run(['container', 'add-license', serial, inside, '--json']))
    // No token at all: the enterprise container's credential is the way in.
    const s = await startServer(sb, [])
    const env = {LICADM_SERVER: s.ready.url}
    const creds = ['--credentials', sb.path('eng.json')]

    const seat = ok(await sb.run(['seat', 'checkout', ...creds, '--product', '7', '--user', 'ann', '--json'], {env}))
    expect(seat.lease.licenseId).toBe(inside)
    const refused = fails(await sb.run(['seat', 'checkout', ...creds, '--license', outside, '--json'], {env}), 7)
    expect(refused).toMatchObject({code: 'NOT_IN_CONTAINER', message: expect.stringContaining(`not in container ${serial}`)})
    expect(ok(await sb.run(['seat', 'list', ...creds, '--json'], {env})).licenses.map((l: {licenseId: string}) => l.licenseId)).toEqual([inside])
    expect(ok(await sb.run(['server', 'status', ...creds, '--json'], {env})).licenses.map((l: {licenseId: string}) => l.licenseId)).toEqual([inside])
    expect(fails(await sb.run(['seat', 'list', '--json'], {env}), 7)).toMatchObject({code: 'AUTH', message: 'missing the server token', hint: expect.stringMatching(/--credentials/)})
    // An administration command takes no container credentials: the hint does not offer them.
    expect(fails(await sb.run(['server', 'rules', 'list', '--json'], {env}), 7)).toMatchObject({code: 'AUTH', hint: 'Set LICADM_TOKEN (or pass --token).'})

    // The departure: the credentials are reset on the store the server runs on.
    ok(await sb.run(['container', 'reset-credentials', serial, '--out', sb.path('eng2.json'), '--yes', '--json']))
    const stale = fails(await sb.run(['seat', 'heartbeat', seat.lease.id, ...creds, '--json'], {env}), 7)
    expect(stale).toMatchObject({code: 'AUTH', message: expect.stringMatching(/not its current one \(generation 2\)/)})
    ok(await sb.run(['seat', 'heartbeat', seat.lease.id, '--credentials', sb.path('eng2.json'), '--json'], {env}))
    await stopServer(s)
  })

  it('store backup while the server serves: a checked 0600 copy; damaged and foreign files refused; restored in place, the server serves it', async () => {
    const sb = box()
    const seed = seedFile(sb)
    const data = sb.path('srv')
    const s = await startServer(sb, ['--data', data, '--seed', seed])
    const url = s.ready.url
    const license = s.ready.licenses[0].id
    const held = await api(url, 'POST', '/v1/leases', {license, user: 'ann', host: 'pc1'})
    expect(held.status).toBe(201)
    // Checkouts and releases go on while the backup is made.
    let stop = false
    let cycles = 0
    const load = (async () => {
      while (!stop) {
        const c = await api(url, 'POST', '/v1/leases', {license, user: 'load', host: 'h'})
        if (c.status === 201) await api(url, 'DELETE', `/v1/leases/${c.json.result.lease.id}`)
        cycles++
      }
    })()
    while (cycles < 5) await new Promise((r) => setTimeout(r, 20))
    const backup = ok(await sb.run(['store', 'backup', sb.path('b.db'), '--data', data, '--json']))
    // Onto the live store itself, even with --force: refused, nothing changed.
    expect(fails(await sb.run(['store', 'backup', join(data, 'licadm.db'), '--data', data, '--force', '--json']), 2)).toMatchObject({code: 'INVALID_VALUE', message: expect.stringMatching(/is the store itself; nothing was changed/)})
    stop = true
    await load
    expect(backup).toMatchObject({source: join(data, 'licadm.db'), file: sb.path('b.db'), integrity: ['ok'], foreignKeyProblems: 0, rows: {licenses: 1}})
    expect(statSync(sb.path('b.db')).mode & 0o777).toBe(0o600)
    expect(ok(await sb.run(['store', 'check', sb.path('b.db'), '--json'])).rows).toEqual(backup.rows)
    expect((await sb.run(['store', 'check', '--data', data])).stdout).toMatch(/^OK: .*licadm\.db, \d+ kB, integrity ok; 1 licenses/)

    expect(fails(await sb.run(['store', 'backup', sb.path('b.db'), '--data', data, '--json']), 4).code).toBe('FILE_EXISTS')
    writeFileSync(sb.path('notes.txt'), 'not a database at all, just some text that is long enough to have a header')
    expect(fails(await sb.run(['store', 'check', sb.path('notes.txt'), '--json']), 10).code).toBe('STORE_UNREADABLE')
    expect(fails(await sb.run(['store', 'check', sb.path('missing.db'), '--json']), 3).code).toBe('STORE_NOT_FOUND')
    const damaged = readFileSync(sb.path('b.db'))
    damaged.fill(0xff, 4096 * 3, 4096 * 5)
    writeFileSync(sb.path('damaged.db'), damaged)
    expect(fails(await sb.run(['store', 'check', sb.path('damaged.db'), '--json']), 10)).toMatchObject({code: 'STORE_DAMAGED', hint: expect.stringMatching(/backup/)})

    // Restore: stop the server, put the backup in place of the store, start again: ann's seat is there.
    await stopServer(s)
    for (const stale of ['licadm.db-wal', 'licadm.db-shm']) rmSync(join(data, stale), {force: true})
    copyFileSync(sb.path('b.db'), join(data, 'licadm.db'))
    const again = await startServer(sb, ['--data', data], {LICADM_CLIENT_TOKEN: CLIENT})
    const list = await api(again.ready.url, 'GET', `/v1/leases?license=${license}`)
    expect(list.json.result.licenses[0].holders.map((h: {id: string}) => h.id)).toContain(held.json.result.lease.id)
    await stopServer(again)
  })

  it('refuses to start without a client token, and on a port in use', async () => {
    const sb = box()
    const noToken = await sb.run(['server', 'start', '--memory', '--port', '0', '--json'])
    expect(fails(noToken, 2).message).toMatch(/client token/)
    // A refused token is named as its giver set it: here the environment variable.
    const short = fails(await sb.run(['server', 'start', '--memory', '--port', '0', '--json'], {env: {LICADM_CLIENT_TOKEN: 'tok123'}}), 2)
    expect(short.code).toBe('TOKEN_TOO_SHORT')
    expect(short.message).toMatch(/LICADM_CLIENT_TOKEN.*at least 8 characters/)
    const s = await startServer(sb, ['--memory'], {LICADM_CLIENT_TOKEN: CLIENT})
    const busy = await sb.run(['server', 'start', '--memory', '--port', String(s.ready.port), '--json'], {env: {LICADM_CLIENT_TOKEN: CLIENT}})
    expect(fails(busy, 4).code).toBe('PORT_IN_USE')
    s.child.kill('SIGINT')
    expect((await s.exited).code).toBe(0)
  })

  it('--vendor-code and --vendor-name name a new --data store\'s vendor; a start naming another is refused (exit 4), one naming half of it is a usage error', async () => {
    const sb = box()
    const data = sb.path('acme-srv')
    const env = {LICADM_CLIENT_TOKEN: CLIENT}
    const s = await startServer(sb, ['--data', data, '--vendor-code', '1001', '--vendor-name', 'Acme Software', '--public-key-out', sb.path('acme.pem')], env)
    expect(s.ready.vendor).toEqual({code: 1001, name: 'Acme Software'})
    s.child.kill('SIGTERM')
    expect((await s.exited).code).toBe(0)
    expect(s.stderr()).not.toMatch(/placeholder vendor/)
    const other = fails(await sb.run(['server', 'start', '--data', data, '--port', '0', '--vendor-code', '1002', '--vendor-name', 'Acme Software', '--json'], {env}), 4)
    expect(other).toMatchObject({code: 'VENDOR_MISMATCH', message: expect.stringContaining('belongs to vendor 1001 (Acme Software), not 1002'), hint: expect.stringMatching(/new data directory/)})
    const text = await sb.run(['server', 'start', '--data', data, '--port', '0', '--vendor-code', '1002', '--vendor-name', 'Acme Software'], {env})
    expect(text.code).toBe(4)
    expect(text.stderr).toMatch(/^Error: the store in .*acme-srv belongs to vendor 1001 \(Acme Software\), not 1002 \(Acme Software\), named by --vendor-code\/--vendor-name\nHint: .*leave out --vendor-code\/--vendor-name/)
    const half = await sb.run(['server', 'start', '--data', data, '--port', '0', '--vendor-code', '1001'], {env})
    expect(half.code).toBe(2)
    expect(half.stderr).toMatch(/--vendor-name/)
    // The refused starts changed nothing: the store serves as vendor 1001 still.
    const again = await startServer(sb, ['--data', data], env)
    expect(again.ready.vendor).toEqual({code: 1001, name: 'Acme Software'})
    await stopServer(again)
  })

  it('kill -9 under load, restart on the same --data: the store is intact, no seat counted twice, expired leases reclaimed', async () => {
    const sb = box()
    const seed = seedFile(sb)
    const data = sb.path('server-data')
    const first = await startServer(sb, ['--data', data, '--seed', seed, '--test-mode', '--clock', '2027-01-01T00:00:00Z'])
    const license = first.ready.licenses[0].id
    const url = first.ready.url

    // Load: 32 workers check out and release as fast as they can; some keep their seats.
    let stop = false
    let granted = 0
    const errors: string[] = []
    const worker = async (w: number) => {
      let held: string | undefined
      while (!stop) {
        try {
          if (held) {
            // Every fourth worker keeps its seat and heartbeats it.
            const h = await api(url, 'POST', `/v1/leases/${held}/heartbeat`)
            if (h.status >= 500) errors.push(`${h.status} ${JSON.stringify(h.json)}`)
            continue
          }
          const c = await api(url, 'POST', '/v1/leases', {license, user: `u${w}`, host: `h${w}`})
          if (c.status >= 500) errors.push(`${c.status} ${JSON.stringify(c.json)}`)
          if (c.status === 201) {
            granted++
            if (w % 4 === 0) held = c.json.result.lease.id
            else await api(url, 'DELETE', `/v1/leases/${c.json.result.lease.id}`)
          }
        } catch {
          return // the server was killed
        }
      }
    }
    const load = Promise.all(Array.from({length: 32}, (_, w) => worker(w)))
    const until = Date.now() + 20_000
    while (granted < 100 && errors.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    expect(granted).toBeGreaterThan(10)
    first.child.kill('SIGKILL')
    expect((await first.exited).signal).toBe('SIGKILL')
    stop = true
    await load
    expect(errors).toEqual([])

    // The store as the killed server left it.
    const db = await openStoreReadOnly(`${data}/licadm.db`)
    try {
      expect(db.pragma('integrity_check', {simple: true})).toBe('ok')
      const rows = db.prepare('select id, seats from leases where license_id = ?').all(license) as Array<{id: string; seats: number}>
      expect(rows.length).toBeLessThanOrEqual(10)
      expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length)
    } finally {
      db.close()
    }

    // Restart on the same data an hour later: every lease is past its TTL and reclaimed at start.
    const second = await startServer(sb, ['--data', data, '--seed', seed, '--test-mode', '--clock', '2027-01-01T01:00:00Z'])
    expect(second.ready.licenses[0].id).toBe(license)
    expect(second.ready.kid).toBe(first.ready.kid)
    const status = await api(second.ready.url, 'GET', '/v1/status')
    expect(status.json.result.licenses[0]).toMatchObject({licenseId: license, used: 0, quantity: 10})
    // Exactly 10 seats again, not one counted twice.
    const burst = await Promise.all(Array.from({length: 300}, (_, i) => api(second.ready.url, 'POST', '/v1/leases', {license, user: `x${i}`, host: 'h'})))
    expect(burst.filter((r) => r.status === 201)).toHaveLength(10)
    expect(burst.every((r) => r.status === 201 || r.json.error.code === 'NO_SEAT_FREE')).toBe(true)
    await stopServer(second)
    const after = await openStoreReadOnly(`${data}/licadm.db`)
    try {
      expect(after.pragma('integrity_check', {simple: true})).toBe('ok')
      expect((after.prepare('select count(*) as n from leases').get() as {n: number}).n).toBe(10)
    } finally {
      after.close()
    }
  })
})

// describeRun is handy when debugging a failure here.
void describeRun
