/**
 * The README's "Using licadm from your app" example, run for real: examples/seat-client.mjs imports
 * the built package by its own name ('licadm'), verifies a license file exported from a throwaway
 * vendor profile, and holds a seat on `licadm server start` (spawned from bin/run.js, seeded as the
 * README shows). The README's code block must be the example file itself, so the docs cannot drift.
 * Needs the build (dist/).
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {baseEnv, collect, initVendor, ok, ROOT, sandbox, spawnLicadm, type RunResult} from '../helpers/cli.js'
import {withPayload} from '../helpers/files.js'

const EXAMPLE = join(ROOT, 'examples', 'seat-client.mjs')
const TOKEN = 'example-client-token'
const ADMIN = 'example-admin-token'
const SEED = {
  products: [{code: 7, name: 'Acme CAD'}],
  licenses: [{key: 'globex-cad', product: 7, quantity: 2, customer: 'Globex'}],
  tokens: [
    {name: 'ci', role: 'client', token: TOKEN},
    {name: 'admin', role: 'vendor', token: ADMIN},
  ],
}
const SLOW = 120_000

const sb = sandbox('licadm-example-')
const children = new Set<ChildProcess>()
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  sb.cleanup()
})

interface Server {
  url: string
  licenses: Array<{id: string}>
  child: ChildProcess
}

/** Spawns `licadm server start --port 0 --json …` and resolves with its ready object. */
function startServer(args: string[], env: Record<string, string> = {}): Promise<Server> {
  const child = spawnLicadm(['server', 'start', '--port', '0', '--json', ...args], {env: {...sb.env, ...env}})
  children.add(child)
  let out = ''
  let err = ''
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()))
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString()
      if (out.includes('\n')) resolve({...JSON.parse(out.slice(0, out.indexOf('\n'))).result, child})
    })
    child.on('exit', (code) => reject(new Error(`server exited ${code} before it was ready\n${err}\n${out}`)))
  })
}

async function stop(server: Server): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return
  const exited = new Promise((resolve) => server.child.once('exit', resolve))
  server.child.kill('SIGTERM')
  await exited
}

/** The example, as a vendor would run it: `node examples/seat-client.mjs` from the repository root. */
function spawnExample(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [EXAMPLE], {
    cwd: ROOT,
    env: baseEnv({LICADM_PUBLIC_KEY: sb.path('vendor.pem'), LICADM_LICENSE_FILE: sb.path('acme.lic'), LICADM_TOKEN: TOKEN, ...env}),
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  children.add(child)
  return child
}

const runExample = (env: Record<string, string>): Promise<RunResult> => collect(spawnExample(env), ['(example)'])

/** Starts the example for a long run and resolves once it holds a seat and works. */
async function startWorking(): Promise<{child: ChildProcess; done: Promise<RunResult>; leaseId: string}> {
  const child = spawnExample({LICADM_SERVER: server.url, WORK_SECONDS: '120'})
  const done = collect(child, ['(example)'])
  let out = ''
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString()
      if (out.includes('working for')) resolve()
    })
    child.on('exit', () => reject(new Error(`the example ended before it worked\n${out}`)))
  })
  return {child, done, leaseId: /lease (lse_\w+)/.exec(out)![1]}
}

function explain(r: RunResult): string {
  return `example → exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`
}

/** `licadm seat list --json` for the one license of a server. */
async function seatsOf(server: Server): Promise<{used: number; holders: Array<{id: string}>}> {
  const list = ok(await sb.run(['seat', 'list', '--json'], {env: {LICADM_SERVER: server.url, LICADM_TOKEN: TOKEN}}))
  return list.licenses.find((l: {licenseId: string}) => l.licenseId === license)
}

let server: Server
let license: string

beforeAll(async () => {
  // The README's CI recipe: a throwaway vendor profile, a server on its store seeded with the
  // fixtures (a short lease TTL, so heartbeats show in a short run), the license file exported.
  await initVendor(sb, {vendorCode: 1001, name: 'Acme Software'})
  writeFileSync(sb.path('seed.json'), JSON.stringify(SEED))
  server = await startServer(['--seed', sb.path('seed.json'), '--lease-ttl', '5s', '--public-key-out', sb.path('vendor.pem')])
  license = server.licenses[0].id
  ok(await sb.run(['license', 'export', license, '--out', sb.path('acme.lic'), '--json']))
}, SLOW)

describe('examples/seat-client.mjs', {timeout: SLOW}, () => {
  it('is the code block of the README section "Using licadm from your app", exactly', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const start = readme.indexOf('\n## Using licadm from your app\n')
    expect(start, 'README section "Using licadm from your app"').toBeGreaterThan(0)
    const end = readme.indexOf('\n## ', start + 1)
    const section = readme.slice(start, end === -1 ? undefined : end)
    const block = /\n```js\n([\s\S]*?)```\n/.exec(section)
    expect(block, 'a ```js block in that section').not.toBeNull()
    expect(block![1]).toBe(readFileSync(EXAMPLE, 'utf8'))
  })

  it('verifies the license file, holds a seat with automatic heartbeats beyond its TTL, and releases it', async () => {
    const r = await runExample({LICADM_SERVER: server.url, WORK_SECONDS: '6'})
    expect(r.code, explain(r)).toBe(0)
    expect(r.stdout).toContain(`acme-cad: license ${license} verified: concurrent, 2 seat(s), features 0x0, no expiry`)
    expect(r.stdout).toMatch(/signed by the vendor key, clock skew -?\d+\.\d s/)
    expect(r.stdout).toMatch(/seat granted: lease lse_\w+ for .+@.+, time to live 5 s/)
    // The work (6 s) outlasts the lease's TTL (5 s): only the heartbeats kept it.
    expect(r.stdout).toMatch(/heartbeat: lease renewed until \d{4}-/)
    expect(r.stderr).not.toContain('acme-cad:')
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('acme-cad: seat released')
    expect(await seatsOf(server)).toMatchObject({used: 0, holders: []})
  })

  it('on SIGINT the seat client releases the seat before the process ends', async () => {
    const {child, done, leaseId} = await startWorking()
    expect((await seatsOf(server)).holders.map((h) => h.id)).toEqual([leaseId])
    child.kill('SIGINT')
    const r = await done
    expect(r.signal, explain(r)).toBe('SIGINT')
    expect(r.stdout).not.toContain('seat released')
    expect(await seatsOf(server)).toMatchObject({used: 0, holders: []})
  })

  it('a seat removed by an administrator while the app works: the next heartbeat finds it gone, the work stops, exit 3', async () => {
    const {done, leaseId} = await startWorking()
    ok(await sb.run(['seat', 'remove', leaseId, '--yes', '--json'], {env: {LICADM_SERVER: server.url, LICADM_TOKEN: ADMIN}}))
    const r = await done
    // Stopped by onLost at the next heartbeat (a third of the 5 s TTL), not at the end of its 120 s.
    expect(r.code, explain(r)).toBe(3)
    expect(r.stderr).toContain(`acme-cad: LEASE_NOT_FOUND: lease ${leaseId} not found`)
    expect(r.stdout).not.toContain('seat released')
  })

  it('a tampered license file: exit 5 with the reason, and no seat is taken', async () => {
    // The customer raises the seat count in the file; the signature no longer matches.
    writeFileSync(sb.path('tampered.lic'), withPayload(readFileSync(sb.path('acme.lic'), 'utf8'), (p) => ({...p, quantity: 50})))
    const r = await runExample({LICADM_SERVER: server.url, LICADM_LICENSE_FILE: sb.path('tampered.lic'), WORK_SECONDS: '1'})
    expect(r.code, explain(r)).toBe(5)
    expect(r.stderr).toMatch(/^acme-cad: refused \(signature-invalid\): .*signature/m)
    expect(r.stdout).not.toContain('seat granted')
    expect((await seatsOf(server)).used).toBe(0)
  })

  it('an impostor server (signing with another key): exit 11 before any checkout', async () => {
    const rogue = await startServer(['--memory', '--seed', sb.path('seed.json')])
    try {
      const r = await runExample({LICADM_SERVER: rogue.url, WORK_SECONDS: '1'})
      expect(r.code, explain(r)).toBe(11)
      expect(r.stderr).toMatch(/refused \(unknown-key\): the response was signed by key .*, which is not a pinned key/)
      expect(r.stdout).not.toContain('seat granted')
      const list = ok(await sb.run(['seat', 'list', '--json'], {env: {LICADM_SERVER: rogue.url, LICADM_TOKEN: TOKEN}}))
      expect(list.licenses[0].used).toBe(0)
    } finally {
      await stop(rogue)
    }
  })

  it("a machine clock far from the server's signed time: exit 15 before any checkout", async () => {
    // The profile's server again (same key, same store: one server per store, so the first one
    // stops), its clock two days ahead. Its sweeper sees the profile's leases as expired: no seat is held.
    await stop(server)
    const ahead = await startServer(['--seed', sb.path('seed.json'), '--clock', new Date(Date.now() + 2 * 86_400_000).toISOString()])
    try {
      const r = await runExample({LICADM_SERVER: ahead.url, WORK_SECONDS: '1'})
      expect(r.code, explain(r)).toBe(15)
      expect(r.stderr).toMatch(/CLOCK_SKEW: this machine's clock is 4\d\.\d h behind the license server's signed time \(at most 5\.0 min allowed\)/)
      expect(r.stdout).not.toContain('seat granted')
      expect((await seatsOf(ahead)).used).toBe(0)
    } finally {
      await stop(ahead)
    }
  })

  afterAll(async () => {
    if (server) await stop(server)
  })
})
