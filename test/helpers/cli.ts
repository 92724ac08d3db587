/**
 * End-to-end helpers: run the built CLI (`node bin/run.js …`) as a child process, without a shell,
 * with its config and data directories in a fresh temporary directory.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {Database} from 'better-sqlite3'

import {remoteEnv} from './remote.js'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const BIN = join(ROOT, 'bin', 'run.js')

/** Matches any ANSI escape sequence (colour or cursor). */
// eslint-disable-next-line no-control-regex
export const ANSI = /\u001b\[/

export interface RunOptions {
  /** Extra environment; a value of `undefined` removes the variable. */
  env?: Record<string, string | undefined>
  /** Written to the child's standard input (which is closed afterwards). */
  input?: string
  /** Leave the child's standard input to the caller (collect() closes it otherwise). */
  keepStdin?: boolean
  cwd?: string
  timeoutMs?: number
}

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** stdout parsed as JSON, when it is JSON. */
  json: any
  args: string[]
}

/** The environment every spawned licadm gets: no colour, no CI, no stray LICADM_* of the developer. */
export function baseEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('LICADM_') || k.startsWith('VITEST') || ['CI', 'FORCE_COLOR', 'DEBUG', 'NODE_OPTIONS', 'TERM'].includes(k)) continue
    env[k] = v
  }
  env.NO_COLOR = '1'
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k]
    else env[k] = v
  }
  return env
}

/** Spawns `node bin/run.js …args` and collects its output. */
export async function licadm(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const remote = await remoteEnv(args, options.env ?? {})
  const child = spawnLicadm(args, {...options, env: {...options.env, ...remote}})
  return collect(child, args, options)
}

export function spawnLicadm(args: string[], options: RunOptions = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: baseEnv(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  })
}

export function collect(child: ChildProcess, args: string[] = [], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout!.on('data', (b: Buffer) => out.push(b))
    child.stderr!.on('data', (b: Buffer) => err.push(b))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`licadm ${args.join(' ')} timed out\nstderr: ${Buffer.concat(err).toString()}`))
    }, options.timeoutMs ?? 50_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const stdout = Buffer.concat(out).toString()
      const stderr = Buffer.concat(err).toString()
      let json: unknown
      try {
        json = JSON.parse(stdout)
      } catch {
        json = undefined
      }
      resolvePromise({code, signal, stdout, stderr, json, args})
    })
    if (options.keepStdin) return
    child.stdin!.on('error', () => {})
    if (options.input !== undefined) child.stdin!.end(options.input)
    else child.stdin!.end()
  })
}

/** Everything a run printed, for "never appears in any output" checks. */
export function allOutput(...results: RunResult[]): string {
  return results.map((r) => r.stdout + r.stderr).join('\n')
}

/** Explains a failed expectation with the command's own output. */
export function describeRun(r: RunResult): string {
  return `licadm ${r.args.join(' ')} → exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\n--- stdout\n${r.stdout.slice(0, 4000)}\n--- stderr\n${r.stderr.slice(0, 4000)}`
}

/** Asserts exit 0 and returns the `--json` result (or the parsed stdout). */
export function ok(r: RunResult): any {
  if (r.code !== 0) throw new Error(`expected exit 0\n${describeRun(r)}`)
  if (r.json && typeof r.json === 'object' && 'ok' in r.json) {
    if (r.json.ok !== true) throw new Error(`expected ok: true\n${describeRun(r)}`)
    return r.json.result
  }
  return r.json
}

/** Asserts a failure with this exit status; returns the `--json` error when there is one. */
export function fails(r: RunResult, exit: number): any {
  if (r.code !== exit) throw new Error(`expected exit ${exit}\n${describeRun(r)}`)
  return r.json?.error
}

export interface Sandbox {
  dir: string
  configDir: string
  dataDir: string
  env: Record<string, string>
  /** Runs licadm with this sandbox's config and data directories. */
  run(args: string[], options?: RunOptions): Promise<RunResult>
  path(...parts: string[]): string
  storePath(profile?: string): string
  keyDir(profile?: string): string
  cleanup(): void
}

/** A fresh pair of config and data directories in a temporary directory. */
export function sandbox(prefix = 'licadm-e2e-'): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const configDir = join(dir, 'config')
  const dataDir = join(dir, 'data')
  const env = {LICADM_CONFIG_DIR: configDir, LICADM_DATA_DIR: dataDir}
  return {
    dir,
    configDir,
    dataDir,
    env,
    run: (args, options = {}) => licadm(args, {...options, env: {...env, ...options.env}}),
    path: (...parts) => join(dir, ...parts),
    storePath: (profile = 'default') => join(dataDir, 'profiles', profile, 'licadm.db'),
    keyDir: (profile = 'default') => join(configDir, 'profiles', profile, 'keys'),
    cleanup: () => rmSync(dir, {recursive: true, force: true}),
  }
}

/** Creates a vendor profile (and optionally products) in a sandbox; returns `init --json`'s result. */
export async function initVendor(
  sb: Sandbox,
  options: {profile?: string; vendorCode?: number; name?: string; products?: number[]; env?: Record<string, string | undefined>} = {},
): Promise<any> {
  const profileArgs = options.profile ? ['--profile', options.profile] : []
  const init = ok(
    await sb.run(['init', '--vendor-code', String(options.vendorCode ?? 1001), '--name', options.name ?? 'Acme Software', ...profileArgs, '--json'], {
      env: options.env,
    }),
  )
  for (const code of options.products ?? []) {
    ok(await sb.run(['product', 'create', '--code', String(code), '--name', `Product ${code}`, ...profileArgs, '--json'], {env: options.env}))
  }
  return init
}

/** Opens a profile's SQLite store read-only (for checks the CLI does not offer). */
export async function openStoreReadOnly(path: string): Promise<Database> {
  const {default: SQLite} = await import('better-sqlite3')
  return new SQLite(path, {readonly: true, fileMustExist: true})
}

export function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, {recursive: true}).map(String).sort()
}
