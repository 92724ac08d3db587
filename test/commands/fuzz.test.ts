/**
 * Generated command lines for every command: random flags of the command (its own choices or any
 * value), random arguments, with and without --json, run in-process on a profile with a product and
 * licenses. Whatever is given, the command succeeds or refuses with its documented exit status and a
 * message: never exit 1, the status of an unexpected internal error. The seat and server commands run
 * against a license server over the same store half of the time. The values never name standard
 * input ("-") or a path outside the sandbox, which is the working directory meanwhile.
 */
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ok, ROOT, sandbox, type Sandbox} from '../helpers/cli.js'
import {FUZZ_SEED, generator} from '../helpers/fuzz.js'
import {runIn} from '../helpers/in-process.js'
import {systemClock} from '../../src/domain/clock.js'
import {startServer, type RunningServer} from '../../src/server/runtime.js'

interface ManifestFlag {
  type: 'boolean' | 'option'
  options?: string[]
  char?: string
}
interface ManifestCommand {
  flags: Record<string, ManifestFlag>
  args: Record<string, unknown>
}

const manifest = JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, ManifestCommand>}
/** These run on: a server, a child command, the whole demo. Their flag handling is tested on its own. */
const LONG_RUNNING = new Set(['server:start', 'seat:run', 'demo'])
const RUNS_PER_COMMAND = 8

let sb: Sandbox
let cwd: string
let known: string[] = []
/** A license server over the sandbox's store, for the seat and server commands to talk to. */
let server: RunningServer
const TOKEN = 'fuzz-vendor-token'
/** Flags left out: a checkout that may wait would wait for as long as it was told to. */
const NOT_FUZZED = new Set(['help', 'profile', 'wait'])

beforeAll(async () => {
  sb = sandbox('licadm-cmd-fuzz-')
  cwd = process.cwd()
  process.chdir(sb.dir)
  ok(await runIn(sb, ['init', '--vendor-code', '1001', '--name', 'Fuzz Vendor', '--json']))
  ok(await runIn(sb, ['product', 'create', '--code', '7', '--name', 'Seven', '--json']))
  const single = ok(await runIn(sb, ['license', 'create', '--product', '7', '--json'])).licenses[0]
  const floating = ok(await runIn(sb, ['license', 'create', '--product', '7', '--kind', 'concurrent', '--quantity', '5', '--json'])).licenses[0]
  known = [single.id, single.ticket, floating.id, '7', 'ann@example.com', 'default']
  server = await startServer({
    port: 0,
    data: {kind: 'profile', storePath: sb.storePath(), keyDir: sb.keyDir(), passphrase: async () => undefined},
    clock: systemClock,
    tokens: [{token: TOKEN, role: 'vendor', name: 'fuzz'}],
  })
})
afterAll(async () => {
  await server.close()
  process.chdir(cwd)
  sb.cleanup()
})

describe(`generated command lines never end in an internal error (seed ${FUZZ_SEED}; LICADM_FUZZ_SEED picks another)`, () => {
  it('every command, with its flags and arguments given any values', async () => {
    const random = generator(FUZZ_SEED)
    const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]
    const value = (): string =>
      pick([() => '', () => ' ', () => 'abc', () => '7', () => '-1', () => '0', () => '4294967296', () => '1.5', () => '0x10', () => '30d', () => '2026-13-45', () => 'ü😀', () => 'x'.repeat(300), () => pick(known), () => pick(known)])()
    const ids = Object.keys(manifest.commands).filter((id) => !LONG_RUNNING.has(id))
    expect(ids.length).toBeGreaterThan(80)
    const problems: string[] = []
    let served = 0
    for (const id of ids) {
      const command = manifest.commands[id]
      const flags = Object.entries(command.flags).filter(([name]) => !NOT_FUZZED.has(name))
      // The seat and server commands run against the server half of the time, else without one.
      const talks = /^(seat|server):/.test(id)
      for (let i = 0; i < RUNS_PER_COMMAND; i++) {
        const args = [...id.split(':')]
        for (const _ of Object.keys(command.args)) if (random() < 0.8) args.push(value())
        for (const [name, flag] of flags) {
          if (random() < 0.6) continue
          if (flag.type === 'boolean') args.push(`--${name}`)
          else args.push(`--${name}`, flag.options && random() < 0.5 ? pick(flag.options) : value())
        }
        if (random() < 0.5 && !args.includes('--json')) args.push('--json')
        const withServer = talks && i % 2 === 0
        const r = await runIn(sb, args, withServer ? {CI: '1', LICADM_SERVER: server.url, LICADM_TOKEN: TOKEN} : {CI: '1'})
        if (withServer && r.code === 0) served++
        const said = r.code === 0 || (args.includes('--json') && r.json ? typeof (r.json as {error?: {message?: unknown}}).error?.message === 'string' : r.stderr.trim().length > 10)
        if (r.code === 1 || !said) problems.push(`exit ${r.code}: licadm ${args.map((a) => JSON.stringify(a)).join(' ')}\n  ${(r.stderr || r.stdout).trim().split('\n').slice(0, 3).join('\n  ')}`)
      }
    }
    expect(problems.slice(0, 8).join('\n')).toBe('')
    // The server was reached: some of the generated seat and server command lines were good ones.
    expect(served).toBeGreaterThan(0)
  }, 300_000)

  it('the command lines other seeds found: each refused with exit 2 and what is wrong', async () => {
    const long = 'x'.repeat(300)
    const cases: [string[], RegExp][] = [
      [['store', 'backup', ''], /^FILE: give the name of the file to write$/],
      [['store', 'backup', long], /^cannot write x+: the name is too long$/],
      [['server', 'cert', 'csr', '--data', long, '--san', 'a.example', '--force'], /^cannot write x+\/tls\/server\.key: the name is too long$/],
      [['audit', 'list', '--limit', ' '], /^--limit: is required/],
      [['license', 'list', '--limit', ' '], /^--limit: is required/],
    ]
    for (const [args, message] of cases) {
      const r = await runIn(sb, [...args, '--json'], {CI: '1'})
      expect(r.code, args.join(' ')).toBe(2)
      expect((r.json as {error: {message: string}}).error.message).toMatch(message)
    }
    // Nothing was left behind: no temporary or partial file in the working directory.
    expect(readdirSync(sb.dir).filter((f) => /\.(tmp|partial)-/.test(f))).toEqual([])
  })
})
