import {spawn} from 'node:child_process'
import {closeSync, mkdirSync, openSync} from 'node:fs'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {baseEnv, BIN, collect, describeRun, initVendor, ok, ROOT, sandbox, spawnLicadm, type RunResult} from '../helpers/cli.js'

/**
 * Files as the commands read them: standard input that arrives late (a slow writer on the pipe), a
 * directory where a file belongs, empty standard input.
 */
const sb = sandbox('licadm-e2e-file-input-')
afterAll(() => sb.cleanup())

let licenseFile: string
beforeAll(async () => {
  await initVendor(sb, {products: [7]})
  const l = ok(await sb.run(['license', 'create', '--product', '7', '--json'])).licenses[0]
  const exported = await sb.run(['license', 'export', l.id])
  expect(exported.code, describeRun(exported)).toBe(0)
  licenseFile = exported.stdout
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Runs licadm with a pipe on standard input that gets `input` only after `delayMs`, then closes. */
async function lateInput(args: string[], input: string, delayMs = 1500): Promise<RunResult> {
  const child = spawnLicadm(args, {env: sb.env})
  const result = collect(child, args, {keepStdin: true})
  await sleep(delayMs)
  child.stdin!.end(input)
  return result
}

describe('standard input (-) that arrives late', () => {
  it('license verify - waits for the whole file', async () => {
    const r = await lateInput(['license', 'verify', '-', '--json'], licenseFile)
    expect(r.code, describeRun(r)).toBe(0)
    expect(r.json.result.license.product).toBe(7)
  })

  it('license create --from - waits for every row, and a slow writer in pieces', async () => {
    const args = ['license', 'create', '--from', '-', '--format', 'ndjson', '--json']
    const child = spawnLicadm(args, {env: sb.env})
    const result = collect(child, args, {keepStdin: true})
    await sleep(800)
    child.stdin!.write('{"product":7,"customer":"Late 1"}\n')
    await sleep(800)
    child.stdin!.end('{"product":7,"customer":"Late 2"}\n')
    const r = await result
    expect(r.code, describeRun(r)).toBe(0)
    expect(r.json.result).toMatchObject({rows: 2, issued: 2})
  })
})

describe('what cannot be read says what it is', () => {
  it('empty standard input without --format names standard input', async () => {
    const r = await sb.run(['license', 'create', '--from', '-', '--json'], {input: ''})
    expect(r.code, describeRun(r)).toBe(2)
    expect(r.json.error.message).toBe('--format: cannot tell the format of standard input: give --format csv or --format ndjson')
  })

  it('standard input that is a directory: "cannot read standard input: it is a directory", with a hint for reading', async () => {
    const fd = openSync(sb.dir, 'r')
    try {
      const args = ['license', 'verify', '-', '--json']
      const child = spawn(process.execPath, [BIN, ...args], {cwd: ROOT, env: baseEnv(sb.env), stdio: [fd, 'pipe', 'pipe']})
      const r = await collect(child, args, {keepStdin: true})
      expect(r.code, describeRun(r)).toBe(2)
      expect(r.json.error).toMatchObject({code: 'FILE_ERROR', message: 'cannot read standard input: it is a directory'})
      expect(r.json.error.hint).not.toMatch(/writable|unknown path/)
    } finally {
      closeSync(fd)
    }
  })

  it('a directory as the file to verify, to write, or as a store', async () => {
    const dir = sb.path('adir')
    mkdirSync(dir)
    const verify = await sb.run(['license', 'verify', dir, '--json'])
    expect(verify.code, describeRun(verify)).toBe(2)
    expect(verify.json.error).toMatchObject({code: 'FILE_ERROR', message: `cannot read ${dir}: it is a directory`})
    expect(verify.json.error.details).toBeUndefined()
    for (const force of [[], ['--force']]) {
      const r = await sb.run(['key', 'export', '--out', dir, ...force, '--json'])
      expect(r.code, describeRun(r)).toBe(2)
      expect(r.json.error).toMatchObject({code: 'INVALID_VALUE', message: `--out: cannot write ${dir}: it is a directory`})
    }
    const check = await sb.run(['store', 'check', dir, '--json'])
    expect(check.code, describeRun(check)).toBe(10)
    expect(check.json.error).toMatchObject({code: 'STORE_UNREADABLE', message: `${dir} is a directory, not a licadm store (SQLite database)`})
  })
})
