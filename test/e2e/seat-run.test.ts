/**
 * `licadm seat run -- COMMAND`, spawned from the built CLI against an in-process license server: the
 * command runs while it holds the seat, and the seat is released however it ends.
 */
import {existsSync, readFileSync, writeFileSync} from 'node:fs'

import {afterAll, describe, expect, it} from 'vitest'

import {collect, fails, sandbox, spawnLicadm} from '../helpers/cli.js'
import {CLIENT_TOKEN, closeAll, testServer, type TestServer} from '../server/helpers.js'

const sb = sandbox('licadm-e2e-seat-run-')
afterAll(async () => {
  await closeAll()
  sb.cleanup()
})

const env = (s: TestServer) => ({...sb.env, LICADM_SERVER: s.url, LICADM_TOKEN: CLIENT_TOKEN})

/**
 * A command that says it started (file `<name>.started`), notes each SIGTERM it gets in
 * `<name>.log` and then ends with status 0, and ends by itself with status 0 once `<name>.go` exists.
 */
function command(name: string): string[] {
  const [started, log, go] = [sb.path(`${name}.started`), sb.path(`${name}.log`), sb.path(`${name}.go`)]
  const script = `const fs = require('node:fs')
fs.writeFileSync(${JSON.stringify(started)}, process.env.LICADM_LEASE_ID + ' ' + process.env.LICADM_LICENSE_ID)
process.on('SIGTERM', () => { fs.appendFileSync(${JSON.stringify(log)}, 'TERM\\n'); setTimeout(() => process.exit(0), 50) })
setInterval(() => { if (fs.existsSync(${JSON.stringify(go)})) process.exit(0) }, 50)`
  return ['node', '-e', script]
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

const used = async (s: TestServer, license: string) => (await s.client.list({license}))[0].used

describe('licadm seat run', {timeout: 120_000}, () => {
  it("runs the command with the seat held and its lease in the environment, exits with the command's status, and releases the seat", async () => {
    const s = await testServer()
    const ten = s.license('ten')
    const script = 'console.log(process.env.LICADM_LEASE_ID, process.env.LICADM_LICENSE_ID); process.exit(3)'
    const r = await collect(spawnLicadm(['seat', 'run', '--license', ten, '--seats', '2', '--user', 'ci', '--host', 'job', '--json', '--', 'node', '-e', script], {env: env(s)}))
    expect(r.code).toBe(3)
    const [printed, rest] = [r.stdout.slice(0, r.stdout.indexOf('\n')), r.stdout.slice(r.stdout.indexOf('\n') + 1)]
    const result = JSON.parse(rest).result
    expect(printed).toBe(`${result.lease.id} ${ten}`)
    expect(result).toMatchObject({lease: {licenseId: ten, user: 'ci', host: 'job', seats: 2}, command: ['node', '-e', script], exitCode: 3, signal: null, released: true})
    expect(await used(s, ten)).toBe(0)

    // A command ended by a signal: 128 + its number, as a shell says.
    const killed = await collect(spawnLicadm(['seat', 'run', '--license', ten, '--', 'node', '-e', 'process.kill(process.pid, "SIGKILL")'], {env: env(s)}))
    expect(killed.code).toBe(137)
    expect(killed.stderr).toMatch(/^licadm: holding a seat of license .*\nlicadm: released lease lse_/m)
    expect(await used(s, ten)).toBe(0)
  })

  it('holds the seat while the command runs; SIGTERM goes to the command once, and the seat is released after it ends', async () => {
    const s = await testServer()
    const ten = s.license('ten')
    const run = spawnLicadm(['seat', 'run', '--license', ten, '--user', 'ci', '--host', 'job', '--', ...command('term')], {env: env(s)})
    const ended = collect(run)
    await until('the command started', () => existsSync(sb.path('term.started')))
    const [leaseId, licenseId] = readFileSync(sb.path('term.started'), 'utf8').split(' ')
    expect(licenseId).toBe(ten)
    const [usage] = await s.client.list({license: ten})
    expect(usage.holders.map((h) => [h.id, h.user, h.host])).toEqual([[leaseId, 'ci', 'job']])
    run.kill('SIGTERM')
    const r = await ended
    expect(r.code).toBe(0)
    expect(readFileSync(sb.path('term.log'), 'utf8')).toBe('TERM\n')
    expect(await used(s, ten)).toBe(0)
  })

  it('a refused checkout never starts the command; a command that cannot start is refused and its seat released; no command is a usage error', async () => {
    const s = await testServer()
    const two = s.license('two')
    await s.client.checkout({license: two, user: 'a', host: 'x'})
    await s.client.checkout({license: two, user: 'b', host: 'x'})
    const full = await collect(spawnLicadm(['seat', 'run', '--license', two, '--json', '--', ...command('never')], {env: env(s)}))
    expect(fails(full, 4).code).toBe('NO_SEAT_FREE')
    expect(existsSync(sb.path('never.started'))).toBe(false)

    const ten = s.license('ten')
    const missing = await collect(spawnLicadm(['seat', 'run', '--license', ten, '--json', '--', 'licadm-no-such-program', '--flag'], {env: env(s)}))
    expect(fails(missing, 3)).toMatchObject({code: 'COMMAND_NOT_FOUND', message: 'cannot run "licadm-no-such-program": no such program', details: {released: true, lease: expect.stringMatching(/^lse_/)}})
    expect(await used(s, ten)).toBe(0)
    const told = await collect(spawnLicadm(['seat', 'run', '--license', ten, '--', 'licadm-no-such-program'], {env: env(s)}))
    expect(told.code).toBe(3)
    expect(told.stderr).toMatch(/^licadm: holding a seat of license .*\nlicadm: released lease lse_\S+\n(.|\n)*cannot run "licadm-no-such-program": no such program/m)

    const none = await collect(spawnLicadm(['seat', 'run', '--license', ten, '--json'], {env: env(s)}))
    expect(fails(none, 2).message).toBe('give the command to run after "--"')
    // Flags after "--" are the command's, not licadm's.
    const theirs = await collect(spawnLicadm(['seat', 'run', '--license', ten, '--', 'sh', '-c', 'echo "$@"', 'sh', '--json', '--license', 'x', '--help'], {env: env(s)}))
    expect(theirs).toMatchObject({code: 0, stdout: '--json --license x --help\n'})
  })

  it('a lost lease stops the command (exit with the loss), or with --keep-on-lost lets it run on', async () => {
    // Leases of 6 s: the seat client renews every 2 s, so a lease removed by an admin is noticed soon.
    const s = await testServer({settings: {leaseTtl: 6}})
    const ten = s.license('ten')
    const removeHeld = async () => {
      const [usage] = await s.client.list({license: ten})
      await s.admin.forceRelease(usage.holders[0].id)
    }
    const stopped = collect(spawnLicadm(['seat', 'run', '--license', ten, '--', ...command('lost')], {env: env(s)}))
    await until('the command started', () => existsSync(sb.path('lost.started')))
    await removeHeld()
    const r = await stopped
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/licadm: .*lease .* (not found|no longer).*; stopping the command/i)
    expect(readFileSync(sb.path('lost.log'), 'utf8')).toBe('TERM\n')

    const kept = spawnLicadm(['seat', 'run', '--license', ten, '--keep-on-lost', '--json', '--', ...command('kept')], {env: env(s)})
    let stderr = ''
    kept.stderr!.on('data', (b: Buffer) => (stderr += b.toString()))
    const keptEnded = collect(kept)
    await until('the command started', () => existsSync(sb.path('kept.started')))
    await removeHeld()
    await until('the loss is told', () => /the command runs on without a seat/.test(stderr))
    writeFileSync(sb.path('kept.go'), '')
    const k = await keptEnded
    expect(k.code).toBe(0)
    expect(JSON.parse(k.stdout).result).toMatchObject({exitCode: 0, released: false, lost: {code: expect.any(String)}})
    expect(existsSync(sb.path('kept.log'))).toBe(false)
  })
})

