import {writeFileSync} from 'node:fs'

import {Config} from '@oclif/core'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {ANSI, ROOT, describeRun, ok, sandbox, type RunResult} from '../helpers/cli.js'
import {runIn} from '../helpers/in-process.js'

/** The --json envelope, exit codes, colour and help of every command of the licensing spine. */
const sb = sandbox('licadm-cmd-output-')
const run = (args: string[], env?: Record<string, string | undefined>) => runIn(sb, args, env)
afterAll(() => sb.cleanup())

const COMMANDS = [
  'demo',
  'init',
  'profile list',
  'profile show',
  'profile use',
  'key export',
  'key list',
  'key rotate',
  'key remove',
  'product create',
  'product list',
  'product show',
  'product delete',
  'license create',
  'license list',
  'license show',
  'license revoke',
  'license export',
  'license verify',
]

function expectSuccessEnvelope(r: RunResult) {
  expect(r.code, describeRun(r)).toBe(0)
  expect(r.json, describeRun(r)).toBeDefined()
  expect(Object.keys(r.json).sort()).toEqual(['ok', 'result'])
  expect(r.json.ok).toBe(true)
  expect(typeof r.json.result).toBe('object')
  expect(r.json.result).not.toBeNull()
  expect(r.stdout).not.toMatch(ANSI)
}

function expectErrorEnvelope(r: RunResult, exit: number) {
  expect(r.code, describeRun(r)).toBe(exit)
  expect(r.json, describeRun(r)).toBeDefined()
  expect(Object.keys(r.json).sort()).toEqual(['error', 'ok'])
  expect(r.json.ok).toBe(false)
  const {error} = r.json
  expect(Object.keys(error).every((k) => ['code', 'message', 'exitCode', 'hint', 'details'].includes(k))).toBe(true)
  expect(error.code).toMatch(/^[A-Z][A-Z_]+$/)
  expect(typeof error.message).toBe('string')
  expect(error.message.length).toBeGreaterThan(0)
  expect(error.exitCode).toBe(exit)
  // Under --json nothing but the envelope is printed.
  // (Outside production oclif warns when a command fails before parsing; node adds a line to its first warning.)
  expect(r.stderr.replace(/\(node:\d+\) \[UnparsedCommand\][^\n]*\n?(\(Use `node --trace-warnings[^\n]*\n?)?/g, '')).toBe('')
}

let licenseId: string
let licensePath: string
let otherKid: string

beforeAll(async () => {
  ok(await run(['init', '--vendor-code', '1001', '--name', 'Acme', '--json']))
  ok(await run(['product', 'create', '--code', '7', '--name', 'CAD', '--json']))
  licenseId = ok(await run(['license', 'create', '--product', '7', '--json'])).licenses[0].id
  licensePath = sb.path('a.lic')
  writeFileSync(licensePath, ok(await run(['license', 'export', licenseId, '--json'])).file)
})

describe('every command of the spine', () => {
  it('exists, has a summary, a description or examples, and the --json flag', async () => {
    const config = await Config.load({root: ROOT})
    for (const id of COMMANDS) {
      const cmd = config.findCommand(id.replaceAll(' ', ':'))
      expect(cmd, id).toBeDefined()
      expect(cmd!.summary, id).toBeTruthy()
      expect(cmd!.flags.json, `${id} --json`).toBeDefined()
      expect(cmd!.flags.profile, `${id} --profile`).toBeDefined()
      expect((cmd!.examples ?? []).length, `${id} examples`).toBeGreaterThan(0)
    }
  })
})

describe('the --json envelope: success', () => {
  const cases: Array<[string, () => string[]]> = [
    ['init', () => ['init', '--profile', 'second', '--vendor-code', '2002', '--name', 'Second']],
    ['profile list', () => ['profile', 'list']],
    ['profile show', () => ['profile', 'show']],
    ['profile use', () => ['profile', 'use', 'default']],
    ['key export', () => ['key', 'export']],
    ['key list', () => ['key', 'list']],
    ['product create', () => ['product', 'create', '--code', '8', '--name', 'Viewer']],
    ['product list', () => ['product', 'list']],
    ['product show', () => ['product', 'show', '7']],
    ['product delete', () => ['product', 'delete', '8', '--yes']],
    ['license create', () => ['license', 'create', '--product', '7', '--count', '2']],
    ['license list', () => ['license', 'list']],
    ['license show', () => ['license', 'show', licenseId]],
    ['license export', () => ['license', 'export', licenseId]],
    ['license verify', () => ['license', 'verify', licensePath]],
    ['key rotate', () => ['key', 'rotate', '--yes']],
    ['license revoke', () => ['license', 'revoke', licenseId, '--yes']],
    ['demo', () => ['demo']],
  ]
  it.each(cases)('%s', async (_id, args) => {
    const r = await run([...args(), '--json'])
    expectSuccessEnvelope(r)
    if (_id === 'key rotate') otherKid = r.json.result.retired[0]
  })

  it('key remove', async () => {
    // A key id can begin with "-": it goes after "--".
    expectSuccessEnvelope(await run(['key', 'remove', '--yes', '--json', '--', otherKid]))
  })
})

describe('the --json envelope: errors, with the same exit code as in text mode', () => {
  const cases: Array<[string, string[], number]> = [
    ['init', ['init', '--vendor-code', '1', '--name', 'X'], 4],
    ['profile show', ['profile', 'show', 'nope'], 3],
    ['profile use', ['profile', 'use', 'nope'], 3],
    ['profile list', ['profile', 'list', '--bogus'], 2],
    ['key export', ['key', 'export', '--kid', 'nope'], 3],
    ['key list', ['key', 'list', '--profile', 'nope'], 3],
    ['key rotate', ['key', 'rotate'], 2],
    ['key remove', ['key', 'remove', 'nope', '--yes'], 3],
    ['product create', ['product', 'create', '--code', '7', '--name', 'Dup'], 4],
    ['product list', ['product', 'list', '--profile', 'nope'], 3],
    ['product show', ['product', 'show', '99'], 3],
    ['product delete', ['product', 'delete', '7', '--yes'], 4],
    ['license create', ['license', 'create', '--product', '7', '--quantity', '0'], 2],
    ['license list', ['license', 'list', '--limit', '0'], 2],
    ['license show', ['license', 'show', 'lic_nope'], 3],
    ['license revoke', ['license', 'revoke', 'lic_nope', '--yes'], 3],
    ['license export', ['license', 'export', 'lic_nope'], 3],
    ['license verify', ['license', 'verify', 'no-such-file.lic'], 3],
    ['unknown flag', ['license', 'list', '--bogus'], 2],
    ['missing argument', ['license', 'show'], 2],
    ['demo', ['demo', '--bogus'], 2],
  ]
  it.each(cases)('%s', async (_id, args, exit) => {
    const json = await run([...args, '--json'])
    expectErrorEnvelope(json, exit)
    const text = await run(args)
    expect(text.code, describeRun(text)).toBe(exit)
    expect(text.stdout).toBe('')
    expect(text.stderr).toContain(`Error: ${json.json.error.message.split('\n')[0]}`)
  })
})

describe('colour', () => {
  const streams = [process.stdout, process.stderr] as Array<NodeJS.WriteStream & {isTTY?: boolean}>
  const saved = streams.map((s) => Object.getOwnPropertyDescriptor(s, 'isTTY'))
  const asTerminal = () => {
    for (const s of streams) Object.defineProperty(s, 'isTTY', {value: true, configurable: true, writable: true})
  }
  afterEach(() => {
    streams.forEach((s, i) => {
      if (saved[i]) Object.defineProperty(s, 'isTTY', saved[i]!)
      else delete (s as {isTTY?: boolean}).isTTY
    })
  })

  const samples: string[][] = [
    ['product', 'create', '--code', '30', '--name', 'Colour'],
    ['product', 'list'],
    ['license', 'list'],
    ['license', 'verify', 'placeholder'],
    ['product', 'show', '99'],
  ]
  const argsOf = (args: string[]) => args.map((a) => (a === 'placeholder' ? licensePath : a))

  it('a terminal gets colour (the control for the NO_COLOR test below)', async () => {
    asTerminal()
    const outputs: string[] = []
    for (const args of samples) {
      const r = await run(argsOf(args), {NO_COLOR: undefined, CI: '1'})
      outputs.push(r.stdout + r.stderr)
    }
    expect(outputs.filter((o) => ANSI.test(o)).length).toBeGreaterThanOrEqual(4)
    ok(await run(['product', 'delete', '30', '--yes', '--json']))
  })

  it('NO_COLOR: no ANSI escapes anywhere, even on a terminal; --json is never coloured', async () => {
    asTerminal()
    for (const args of samples) {
      const r = await run(argsOf(args), {NO_COLOR: '1', CI: '1'})
      expect(r.stdout + r.stderr, describeRun(r)).not.toMatch(ANSI)
    }
    const json = await run(['license', 'list', '--json'], {NO_COLOR: '1', CI: '1'})
    expect(json.stdout).not.toMatch(ANSI)
    expect(JSON.parse(json.stdout).ok).toBe(true)
  })
})

describe('help', () => {
  it('licadm --help lists the topics', async () => {
    const r = await run(['--help'])
    expect(r.code).toBe(0)
    for (const topic of ['profile', 'key', 'product', 'license', 'init', 'demo']) expect(r.stdout).toMatch(new RegExp(`\\n\\s+${topic}\\s`))
  })

  it.each(['profile', 'key', 'product', 'license'])('licadm %s --help lists its commands', async (topic) => {
    const r = await run([topic, '--help'])
    expect(r.code, describeRun(r)).toBe(0)
    const ids = COMMANDS.filter((c) => c.startsWith(`${topic} `))
    for (const id of ids) expect(r.stdout).toContain(id)
  })

  it.each(COMMANDS)('licadm %s --help shows usage, flags and examples', async (id) => {
    const r = await run([...id.split(' '), '--help'])
    expect(r.code, describeRun(r)).toBe(0)
    expect(r.stdout).toContain(`$ licadm ${id}`)
    expect(r.stdout).toContain('--json')
    expect(r.stdout).toContain('EXAMPLES')
    expect(r.stdout).not.toContain('<%=')
  })
})
