/**
 * Remote administration as a user lives it, every step a spawned `node bin/run.js`: the vendor makes
 * tokens on the server's profile and starts `licadm server start`; from a machine without any
 * profile, a CI job and a group admin drive licadm with --server and LICADM_TOKEN; support staff
 * fulfil and confirm an offline activation through the server. Network and token failures get their
 * own exit status and a message that names the server.
 */
import type {ChildProcess} from 'node:child_process'
import {readFileSync, statSync, writeFileSync} from 'node:fs'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {fails, initVendor, ok, sandbox, spawnLicadm, type RunResult, type Sandbox} from '../helpers/cli.js'

const SLOW = 180_000
let vendor: Sandbox // the server's machine: the vendor profile
let laptop: Sandbox // an admin's or CI machine: no profile at all
let server: ChildProcess
let url: string
const token: Record<'vendor' | 'eng' | 'ops' | 'client', string> = {} as never

/** Runs licadm on the laptop against the server, as LICADM_SERVER and LICADM_TOKEN say. */
function remote(args: string[], as: keyof typeof token | null = 'vendor', env: Record<string, string | undefined> = {}): Promise<RunResult> {
  return laptop.run(args, {env: {LICADM_SERVER: url, LICADM_TOKEN: as === null ? undefined : token[as], ...env}})
}

beforeAll(async () => {
  vendor = sandbox('licadm-remote-vendor-')
  laptop = sandbox('licadm-remote-laptop-')
  await initVendor(vendor, {vendorCode: 3131, products: [7]})
  for (const args of [
    ['user', 'create', '--email', 'ann@example.com'],
    ['user', 'create', '--email', 'bob@example.com'],
    ['group', 'create', '--name', 'eng'],
    ['group', 'create', '--name', 'ops'],
    ['group', 'add-member', 'eng', 'ann@example.com', '--admin'],
  ]) {
    ok(await vendor.run([...args, '--json']))
  }
  const make = async (name: string, role: string, group?: string) => {
    const out = vendor.path(`${name}.token`)
    ok(await vendor.run(['token', 'create', '--role', role, '--name', name, ...(group ? ['--group', group] : []), '--out', out, '--json']))
    expect(statSync(out).mode & 0o777).toBe(0o600)
    return readFileSync(out, 'utf8').trim()
  }
  token.vendor = await make('ci-release', 'vendor')
  token.eng = await make('eng-admins', 'group-admin', 'eng')
  token.ops = await make('ops-admins', 'group-admin', 'ops')
  token.client = await make('seats', 'client')

  server = spawnLicadm(['server', 'start', '--port', '0', '--json'], {env: vendor.env})
  url = await new Promise<string>((resolve, reject) => {
    let out = ''
    let err = ''
    server.stdout!.on('data', (b: Buffer) => {
      out += b
      if (out.includes('\n')) resolve(JSON.parse(out.slice(0, out.indexOf('\n'))).result.url)
    })
    server.stderr!.on('data', (b: Buffer) => (err += b))
    server.on('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)))
  })
}, SLOW)

afterAll(() => {
  server?.kill('SIGKILL')
  vendor?.cleanup()
  laptop?.cleanup()
})

describe('a CI job with a vendor token, from a machine without a profile', {timeout: SLOW}, () => {
  it('issues licenses from flags and in bulk; a re-run issues nothing twice', async () => {
    const one = ok(await remote(['license', 'create', '--product', '7', '--kind', 'concurrent', '--quantity', '5', '--customer', 'eng', '--idempotency-key', 'order-1', '--json']))
    expect(one.replayed).toBe(false)
    const again = ok(await remote(['license', 'create', '--product', '7', '--kind', 'concurrent', '--quantity', '5', '--customer', 'eng', '--idempotency-key', 'order-1', '--json']))
    expect(again).toMatchObject({replayed: true, licenses: [{id: one.licenses[0].id}]})
    const rows = laptop.path('rows.ndjson')
    writeFileSync(rows, Array.from({length: 50}, (_, i) => JSON.stringify({product: 7, customer: `c${i}`})).join('\n'))
    expect(ok(await remote(['license', 'create', '--from', rows, '--json']))).toMatchObject({rows: 50, issued: 50, alreadyIssued: 0})
    expect(ok(await remote(['license', 'create', '--from', rows, '--json']))).toMatchObject({rows: 50, issued: 0, alreadyIssued: 50})
    // The licenses are in the server's store: the vendor's own profile sees them.
    expect(ok(await vendor.run(['license', 'list', '--limit', '100', '--json'])).licenses).toHaveLength(51)
  })

  it('text output and exit statuses are those of a local run', async () => {
    const local = await vendor.run(['product', 'show', '7'])
    const through = await remote(['product', 'show', '7'])
    expect(through.code).toBe(0)
    expect(through.stdout).toBe(local.stdout)
    const missingLocal = await vendor.run(['product', 'show', '99', '--json'])
    const missingRemote = await remote(['product', 'show', '99', '--json'])
    expect(fails(missingRemote, 3)).toEqual(fails(missingLocal, 3))
    const badRow = laptop.path('bad.ndjson')
    writeFileSync(badRow, '{"product": 7}\n{"product": 99}\n')
    expect(fails(await remote(['license', 'create', '--from', badRow, '--json']), 2).details).toEqual(fails(await vendor.run(['license', 'create', '--from', badRow, '--json']), 2).details)
  })

  it('a wrong token exits 7 naming the server; none at all exits 7 too (as the table of exit codes says), naming LICADM_TOKEN and not --credentials; a server that is not there exits 8 with its URL', async () => {
    const wrong = fails(await remote(['product', 'list', '--json'], null, {LICADM_TOKEN: 'not-a-token-of-this-server'}), 7)
    expect(wrong.details.reason).toBe('invalid-token')
    const none = await remote(['product', 'list'], null)
    expect(none.code).toBe(7)
    expect(none.stderr).toMatch(/token/)
    expect(none.stderr).toMatch(/LICADM_TOKEN/)
    expect(none.stderr).not.toMatch(/--credentials/)
    const gone = await remote(['product', 'list', '--json'], 'vendor', {LICADM_SERVER: 'http://127.0.0.1:9'})
    expect(fails(gone, 8).message).toContain('http://127.0.0.1:9')
    const client = fails(await remote(['product', 'list', '--json'], 'client'), 7)
    expect(client).toMatchObject({code: 'FORBIDDEN', details: {reason: 'role'}})
  })

  it('a profile that names the server sends the commands there without --server', async () => {
    ok(await laptop.run(['profile', 'set', 'server', url, '--profile', 'central', '--json']))
    const viaProfile = await laptop.run(['product', 'list', '--profile', 'central', '--json'], {env: {LICADM_TOKEN: token.vendor}})
    expect(ok(viaProfile).products.map((p: {code: number}) => p.code)).toEqual([7])
    // Without the profile's server, the laptop has no store of its own: the profile is not found (3).
    fails(await laptop.run(['product', 'list', '--json'], {env: {LICADM_TOKEN: token.vendor}}), 3)
  })
})

describe('a group admin manages its own group only', {timeout: SLOW}, () => {
  it('sees and changes its enterprise container; another group’s is refused (7) and unchanged', async () => {
    const engBox = ok(await remote(['container', 'create', '--kind', 'enterprise', '--group', 'eng', '--out', laptop.path('eng.cred'), '--json'])).container.serial
    const opsBox = ok(await remote(['container', 'create', '--kind', 'enterprise', '--group', 'ops', '--out', laptop.path('ops.cred'), '--json'])).container.serial
    const engLicense = ok(await remote(['license', 'list', '--customer', 'eng', '--json'])).licenses[0].id
    expect(ok(await remote(['container', 'list', '--json'], 'eng')).containers.map((c: {serial: string}) => c.serial)).toEqual([engBox])
    ok(await remote(['container', 'add-license', engBox, engLicense, '--json'], 'eng'))
    const refused = fails(await remote(['container', 'show', opsBox, '--json'], 'eng'), 7)
    expect(refused).toMatchObject({code: 'FORBIDDEN', details: {reason: 'group'}})
    fails(await remote(['group', 'add-member', 'ops', 'bob@example.com', '--json'], 'eng'), 7)
    ok(await remote(['group', 'add-member', 'eng', 'bob@example.com', '--json'], 'eng'))
    const reset = await remote(['container', 'reset-credentials', engBox, '--yes', '--out', laptop.path('eng-2.cred'), '--json'], 'eng')
    expect(ok(reset)).toMatchObject({container: engBox, generation: 2})
    fails(await remote(['container', 'reset-credentials', opsBox, '--yes', '--json'], 'eng'), 7)
    // Vendor-only commands stay closed to it.
    fails(await remote(['license', 'create', '--product', '7', '--json'], 'eng'), 7)
    expect(ok(await vendor.run(['container', 'show', opsBox, '--json'])).container.generation).toBe(1)
  })

  it('the audit trail names the token that acted, by name and id', async () => {
    const events = ok(await remote(['audit', 'list', '--action', 'container.*', '--json'])).events
    const byEng = events.filter((e: {actor: string}) => e.actor.startsWith('token:eng-admins ('))
    expect(byEng.map((e: {action: string}) => e.action)).toEqual(expect.arrayContaining(['container.add-license', 'container.reset-credentials']))
    expect(events.find((e: {action: string}) => e.action === 'container.create').actor).toMatch(/^token:ci-release \(tok_/)
    expect(ok(await vendor.run(['audit', 'verify', '--json'])).ok).toBe(true)
  })
})

describe('support staff fulfil and confirm an offline activation through the server', {timeout: SLOW}, () => {
  it('request (device) → fulfil (server) → apply (device) → confirm (server)', async () => {
    const device = {LICADM_DEVICE_DIR: laptop.path('device')}
    const onDevice = (args: string[]) => laptop.run(args, {env: device})
    writeFileSync(laptop.path('vendor.pem'), ok(await remote(['key', 'export', '--json'])).keys[0].pem)
    ok(await onDevice(['device', 'init', '--fingerprint', 'SIM-OFFLINE-01', '--name', 'lab-pc', '--json']))
    ok(await onDevice(['device', 'trust', laptop.path('vendor.pem'), '--json']))
    ok(await onDevice(['activation', 'request', '--vendor', '3131', '--out', laptop.path('r.request'), '--json']))
    const license = ok(await remote(['license', 'create', '--product', '7', '--json'])).licenses[0].id
    const update = ok(await remote(['activation', 'fulfill', laptop.path('r.request'), '--license', license, '--out', laptop.path('u.update'), '--json']))
    expect(update).toMatchObject({device: 'SIM-OFFLINE-01', counter: 1, added: [license]})
    ok(await onDevice(['activation', 'apply', laptop.path('u.update'), '--receipt', laptop.path('r.receipt'), '--json']))
    expect(ok(await remote(['activation', 'confirm', laptop.path('r.receipt'), '--json']))).toMatchObject({state: 'confirmed', changed: true})
    // A second confirm of the same receipt is harmless; a changed receipt is refused as locally.
    expect(ok(await remote(['activation', 'confirm', laptop.path('r.receipt'), '--json']))).toMatchObject({changed: false})
    const receipt = readFileSync(laptop.path('r.receipt'), 'utf8')
    writeFileSync(laptop.path('bad.receipt'), receipt.replace(/\n([A-Za-z0-9+/])/, (_m, c: string) => `\n${c === 'A' ? 'B' : 'A'}`))
    const refused = await remote(['activation', 'confirm', laptop.path('bad.receipt'), '--json'])
    expect(refused.code).not.toBe(0)
    expect(refused.code).toBe((await vendor.run(['activation', 'confirm', laptop.path('bad.receipt'), '--json'])).code)
  })
})
