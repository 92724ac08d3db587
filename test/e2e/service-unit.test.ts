/**
 * examples/licadm-server.service, as systemd would run it: its ExecStart command line with its
 * Environment (the /var/lib/licadm paths moved into a sandbox), after the README's set-up (a profile
 * of the service's own, a token), stopped with its KillSignal. Needs the build (dist/).
 */
import type {ChildProcess} from 'node:child_process'
import {readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {describeRun, ok, ROOT, sandbox, spawnLicadm} from '../helpers/cli.js'

const UNIT = readFileSync(join(ROOT, 'examples', 'licadm-server.service'), 'utf8')
const STATE = '/var/lib/licadm'

/** The unit's settings: section → key → values (a key may repeat, as Environment= does). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>()
  let current: Map<string, string[]> | undefined
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const section = /^\[(\w+)\]$/.exec(line)
    if (section) {
      current = new Map()
      sections.set(section[1], current)
      continue
    }
    const eq = line.indexOf('=')
    if (!current || eq < 0) throw new Error(`not a unit line: ${line}`)
    const key = line.slice(0, eq)
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)])
  }
  return sections
}

const sb = sandbox('licadm-e2e-unit-')
let child: ChildProcess | undefined
afterAll(() => {
  child?.kill('SIGKILL')
  sb.cleanup()
})

describe('examples/licadm-server.service', {timeout: 120_000}, () => {
  const unit = parseUnit(UNIT)
  const service = unit.get('Service')!
  const one = (key: string) => service.get(key)?.[0]

  it('runs as its own user with private files, secrets from a file only, and a clean stop', () => {
    expect(unit.has('Install') && unit.has('Unit')).toBe(true)
    expect(one('User')).toBe('licadm')
    expect(one('UMask')).toBe('0077')
    expect(one('StateDirectoryMode')).toBe('0700')
    expect(one('EnvironmentFile')).toMatch(/^-?\/etc\/licadm\/server\.env$/)
    expect(one('KillSignal')).toBe('SIGTERM')
    expect(one('ReadWritePaths')).toBe(STATE)
    // A token or passphrase on the command line would show in the process list.
    expect(one('ExecStart')).not.toMatch(/--(client-token|admin-token|token)\b|PASSPHRASE|TOKEN=/)
  })

  it("its command line, with its environment, serves HTTPS on the service's profile and stops on SIGTERM", async () => {
    const env: Record<string, string> = {}
    for (const assignment of service.get('Environment') ?? []) {
      const [name, value] = assignment.split('=')
      env[name] = value.replace(STATE, sb.dir)
    }
    expect(Object.keys(env).sort()).toEqual(['LICADM_CONFIG_DIR', 'LICADM_DATA_DIR'])

    // The README's set-up, as the service's user.
    ok(await sb.run(['init', '--vendor-code', '1001', '--name', 'Acme Software', '--json'], {env}))
    const tokenFile = sb.path('admins.token')
    ok(await sb.run(['token', 'create', '--role', 'vendor', '--name', 'admins', '--out', tokenFile, '--json'], {env}))

    const [program, ...args] = one('ExecStart')!.split(/\s+/)
    expect(program).toMatch(/\/licadm$/)
    expect(args.slice(0, 2)).toEqual(['server', 'start'])
    child = spawnLicadm([...args, '--port', '0', '--json'], {env})
    let out = ''
    let err = ''
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()))
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()))
    const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)))
    const deadline = Date.now() + 60_000
    while (!out.includes('\n') && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    const ready = JSON.parse(out.split('\n')[0]).result
    expect(ready.url).toMatch(/^https:\/\//)
    expect(ready.host).toBe('0.0.0.0')
    expect(ready.vendor).toEqual({code: 1001, name: 'Acme Software'})
    expect(ready.tls.sans).toContain('licenses.example.com')

    // An admin elsewhere: the service's certificate pinned with --ca, the token from the file.
    const ca = sb.path('server.pem')
    writeFileSync(ca, ready.tls.certificate)
    const url = ready.url.replace('0.0.0.0', '127.0.0.1')
    const status = await sb.run(['server', 'status', '--server', url, '--ca', ca, '--json'], {env: {LICADM_TOKEN: readFileSync(tokenFile, 'utf8').trim()}})
    expect(ok(status), describeRun(status)).toMatchObject({version: ready.version})

    // The TLS key the service made is private to it.
    const tlsKey = join(sb.dataDir, 'profiles', 'default', 'tls', 'server.key')
    expect(statSync(tlsKey).mode & 0o777).toBe(0o600)

    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(err).toMatch(/licadm server stopped/)
  })
})
