/**
 * container reset-credentials when a file cannot be written. A --saw-dir that cannot be used is
 * refused before the reset (nothing changed, exit 2). Once the reset is done, the new credentials are
 * always handed out: a SAW file (or the --out file) that cannot be written is reported with the
 * command that makes it again, the other files are written, and the exit status is 20 ("done, but
 * not every file was written"), the --json result carrying the credentials and the failures.
 *
 * The resets are spawned `node bin/run.js` processes; the setup runs in-process.
 */
import {existsSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {describeRun, type RunResult} from '../helpers/cli.js'
import {lab, refused, secretOf, type Device, type Lab} from '../helpers/lab.js'

const NOT_ALL_WRITTEN = 20

let l: Lab
let serial: string
let dev1: Device
let dev2: Device

beforeAll(async () => {
  l = await lab({prefix: 'licadm-reset-unwritable-'})
  for (const u of ['ada', 'bob']) await l.json(['user', 'create', '--email', `${u}@example.com`])
  await l.json(['group', 'create', '--name', 'eng'])
  for (const u of ['ada', 'bob']) await l.json(['group', 'add-member', 'eng', `${u}@example.com`])
  serial = (await l.json(['container', 'create', '--kind', 'enterprise', '--group', 'eng', '--out', l.path('gen1.cred')])).container.serial
  dev1 = await l.device('Dev1', 'fp-dev-1')
  dev2 = await l.device('Dev2', 'fp-dev-2')
  for (const [d, u] of [[dev1, 'ada'], [dev2, 'bob']] as const) {
    await l.json(['device', 'activate', '--container', serial, '--identity', d.identity, '--user', `${u}@example.com`, '--credentials', l.path('gen1.cred')])
  }
})
afterAll(() => l?.cleanup())

const generation = async () => (await l.json(['container', 'show', serial])).container.generation as number

function exits(r: RunResult, code: number): RunResult {
  if (r.code !== code) throw new Error(`expected exit ${code}\n${describeRun(r)}`)
  return r
}

/** Runs a "make it again" command as printed (its first word is the program). */
function remake(command: string, env: Record<string, string> = {}): Promise<RunResult> {
  const [bin, ...args] = command.split(' ')
  expect(bin).toBe('licadm')
  return l.spawn(args, env)
}

describe('reset-credentials --saw-dir: a SAW file that cannot be written after the reset', () => {
  it('--json: exit 20, ok result with the new secret, the SAW written for Dev1, Dev2 reported with the command that makes it again', async () => {
    const dir = l.path('saw-json')
    mkdirSync(join(dir, 'Dev2-fp-dev-2.saw'), {recursive: true})
    const r = exits(await l.spawn(['container', 'reset-credentials', serial, '--saw-dir', dir, '--yes', '--json']), NOT_ALL_WRITTEN)
    expect(r.json.ok, describeRun(r)).toBe(true)
    const result = r.json.result
    expect(result).toMatchObject({container: serial, generation: 2, staled: 2, credentials: {container: serial, generation: 2, secret: expect.any(String)}})
    expect(await generation()).toBe(2)
    expect(result.saws).toEqual([expect.objectContaining({device: 'fp-dev-1', file: join(dir, 'Dev1-fp-dev-1.saw')})])
    expect(existsSync(join(dir, 'Dev1-fp-dev-1.saw'))).toBe(true)
    expect(result.notWritten).toHaveLength(1)
    const failed = result.notWritten[0]
    expect(failed).toMatchObject({what: 'saw', device: 'fp-dev-2', name: 'Dev2', file: join(dir, 'Dev2-fp-dev-2.saw'), saw: expect.stringContaining('BEGIN LICADM SAW')})
    expect(failed.reason).toBe(`--saw-dir: cannot write ${join(dir, 'Dev2-fp-dev-2.saw')}: it is a directory`)
    expect(failed.remake).toBe(`licadm saw create --container ${serial} --device fp-dev-2 --expires 7d --out ${join(dir, 'Dev2-fp-dev-2.saw')} --force`)

    // The secret handed out works: Dev1 applies its file; once the path is free, the command given
    // makes Dev2's file, and Dev2 applies it.
    const secret = result.credentials.secret as string
    exits(await dev1.spawn(['saw', 'apply', join(dir, 'Dev1-fp-dev-1.saw'), '--json']), 0)
    rmSync(failed.file, {recursive: true})
    exits(await remake(failed.remake, {LICADM_CONTAINER_SECRET: secret}), 0)
    const applied = exits(await dev2.spawn(['saw', 'apply', failed.file, '--json']), 0)
    expect(applied.json.result).toMatchObject({container: serial, generation: 2, restored: true})
    for (const d of [dev1, dev2]) expect(d.state().credentials[serial]).toMatchObject({generation: 2, secret})
  })

  it('text with --out: the credentials file is written, the failure and the command to make it again (with --credentials) on stderr, exit 20', async () => {
    const dir = l.path('saw-text')
    const cred = l.path('gen3.cred')
    mkdirSync(join(dir, 'Dev2-fp-dev-2.saw'), {recursive: true})
    const r = exits(await l.spawn(['container', 'reset-credentials', serial, '--saw-dir', dir, '--yes', '--out', cred]), NOT_ALL_WRITTEN)
    expect(await generation()).toBe(3)
    expect(JSON.parse(readFileSync(cred, 'utf8'))).toMatchObject({container: serial, generation: 3})
    expect(r.stdout + r.stderr).not.toContain(secretOf(cred))
    expect(r.stdout).toContain(`SAW for Dev1 (fp-dev-1): ${join(dir, 'Dev1-fp-dev-1.saw')}`)
    expect(r.stderr).toContain(`Not written: SAW for Dev2 (fp-dev-2): --saw-dir: cannot write ${join(dir, 'Dev2-fp-dev-2.saw')}: it is a directory`)
    expect(r.stderr).toContain(`licadm saw create --container ${serial} --device fp-dev-2 --expires 7d --credentials ${cred} --out ${join(dir, 'Dev2-fp-dev-2.saw')} --force`)
    expect(r.stderr).toContain(`the credentials of ${serial} were reset (generation 3), but 1 file(s) could not be written (exit 20)`)
    expect(r.stderr).not.toContain('--out: cannot write')
  })

  it('a --saw-dir that cannot be used is refused before the reset (2): nothing changed', async () => {
    const before = await generation()
    const file = l.path('not-a-dir')
    writeFileSync(file, 'x')
    for (const dir of [file, join(file, 'sub')]) {
      const e = refused(await l.spawn(['container', 'reset-credentials', serial, '--saw-dir', dir, '--yes', '--json']), 2)
      expect(e).toMatchObject({code: 'INVALID_VALUE', details: {flag: '--saw-dir'}})
      expect(e.message).toContain('nothing was changed')
    }
    expect(await generation()).toBe(before)
  })

  it('the --out file cannot be written after the reset: the secret is shown instead (and in --json), exit 20', async () => {
    // Checked before the reset, then the disk fills up: the rename of the --out file fails.
    const preload = l.path('fail-rename.mjs')
    writeFileSync(
      preload,
      `import fs from 'node:fs'
import {syncBuiltinESMExports} from 'node:module'
const rename = fs.renameSync
fs.renameSync = (from, to) => {
  if (String(to) === process.env.FAIL_RENAME_TO) throw Object.assign(new Error('ENOSPC: no space left on device'), {code: 'ENOSPC', syscall: 'rename', path: String(from)})
  return rename(from, to)
}
syncBuiltinESMExports()
`,
    )
    const cred = l.path('gen-full.cred')
    const dir = l.path('saw-full')
    const env = {NODE_OPTIONS: `--import ${pathToFileURL(preload).href}`, FAIL_RENAME_TO: cred}
    const r = exits(await l.spawn(['container', 'reset-credentials', serial, '--saw-dir', dir, '--yes', '--out', cred, '--json'], env), NOT_ALL_WRITTEN)
    const result = r.json.result
    expect(existsSync(cred)).toBe(false)
    expect(result.credentials).toMatchObject({container: serial, generation: await generation(), secret: expect.any(String)})
    expect(result.notWritten).toEqual([{what: 'credentials', file: cred, reason: `--out: cannot write ${cred}: no space left on the disk`}])
    // The SAW files are written, and the secret shown is the one they carry.
    expect(result.saws).toHaveLength(2)
    exits(await dev1.spawn(['saw', 'apply', join(dir, 'Dev1-fp-dev-1.saw'), '--json']), 0)
    expect(dev1.state().credentials[serial].secret).toBe(result.credentials.secret)
  })
})
