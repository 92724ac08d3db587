/**
 * Helpers for the tests of containers, devices and SAW files (issue 3): a sandboxed vendor profile
 * plus any number of simulated devices, each with its own device directory (LICADM_DEVICE_DIR).
 *
 * Commands run either in this process (fast; oclif's `run` over dist/) or spawned (`node bin/run.js`,
 * for the end-to-end stories and the race test). Both return the same RunResult.
 */
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {initVendor, licadm, ok, sandbox, type RunResult, type Sandbox} from './cli.js'
import {runIn} from './in-process.js'

/** Variables runIn does not save and restore itself. */
const EXTRA_VARS = ['LICADM_DEVICE_DIR', 'LICADM_CONTAINER_SECRET']

export type Mode = 'in-process' | 'spawn'

/** Runs licadm in this process, also saving and restoring the device and secret variables. */
export async function runLocal(sb: Sandbox, args: string[], env: Record<string, string | undefined> = {}): Promise<RunResult> {
  const saved = Object.fromEntries(EXTRA_VARS.map((k) => [k, process.env[k]]))
  for (const k of EXTRA_VARS) delete process.env[k]
  try {
    return await runIn(sb, args, env)
  } finally {
    for (const k of EXTRA_VARS) {
      if (saved[k] === undefined) delete process.env[k]
      else process.env[k] = saved[k]
    }
  }
}

export interface Device {
  name: string
  fingerprint: string
  dir: string
  /** The identity file from `device export`. */
  identity: string
  env: Record<string, string>
  /** Runs licadm as this device (its device directory), against the lab's profile. */
  run(args: string[], env?: Record<string, string | undefined>): Promise<RunResult>
  /** The same, always as a spawned process (`node bin/run.js`), whatever the lab's mode. */
  spawn(args: string[], env?: Record<string, string | undefined>): Promise<RunResult>
  /** The device's state.json. */
  state(): any
}

export interface Lab extends Sandbox {
  mode: Mode
  /** Runs licadm as the admin (no device directory). */
  admin(args: string[], env?: Record<string, string | undefined>): Promise<RunResult>
  /** Runs licadm as the admin, always as a spawned process. */
  spawn(args: string[], env?: Record<string, string | undefined>): Promise<RunResult>
  /** Runs and asserts exit 0 with --json; returns the result. */
  json(args: string[], env?: Record<string, string | undefined>): Promise<any>
  /** A simulated device: `device init --fingerprint`, `device export`, and the vendor key pinned. */
  device(name: string, fingerprint?: string, options?: {trust?: boolean}): Promise<Device>
  /** The vendor's public key file (from `key export`). */
  vendorKey: string
  dbBytes(): Buffer
}

export async function lab(options: {mode?: Mode; vendorCode?: number; products?: number[]; prefix?: string; profile?: string} = {}): Promise<Lab> {
  const sb = sandbox(options.prefix ?? 'licadm-lab-')
  const mode = options.mode ?? 'in-process'
  const runAs = (args: string[], env: Record<string, string | undefined> = {}) =>
    mode === 'spawn' ? licadm(args, {env: {...sb.env, ...env}}) : runLocal(sb, args, env)
  await initVendor({...sb, run: (args, o = {}) => runAs(args, o.env)}, {vendorCode: options.vendorCode, products: options.products ?? [7], profile: options.profile})
  const vendorKey = sb.path('vendor-public.pem')
  ok(await runAs(['key', 'export', '--out', vendorKey, '--json']))
  let n = 0
  const l: Lab = {
    ...sb,
    mode,
    vendorKey,
    admin: runAs,
    spawn: (args, env = {}) => licadm(args, {env: {...sb.env, ...env}}),
    async json(args, env) {
      const r = await runAs([...args, '--json'], env)
      return ok(r)
    },
    async device(name, fingerprint, deviceOptions = {}) {
      n++
      const fp = fingerprint ?? `SIM-${String(n).padStart(4, '0')}-${name.toUpperCase().replaceAll(/[^A-Z0-9]/g, '')}`
      const dir = sb.path('devices', name)
      const env = {LICADM_DEVICE_DIR: dir}
      const run = (args: string[], extra: Record<string, string | undefined> = {}) => runAs(args, {...env, ...extra})
      ok(await run(['device', 'init', '--fingerprint', fp, '--name', name, '--json']))
      const identity = sb.path(`${name}.device`)
      ok(await run(['device', 'export', '--out', identity, '--json']))
      if (deviceOptions.trust !== false) ok(await run(['device', 'trust', vendorKey, '--json']))
      const spawn = (args: string[], extra: Record<string, string | undefined> = {}) => licadm(args, {env: {...sb.env, ...env, ...extra}})
      return {name, fingerprint: fp, dir, identity, env, run, spawn, state: () => JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'))}
    },
    dbBytes() {
      const path = sb.storePath(options.profile)
      return Buffer.concat([path, `${path}-wal`, `${path}-shm`, `${path}-journal`].filter((p) => existsSync(p)).map((p) => readFileSync(p)))
    },
  }
  return l
}

/** The secret of a credentials file written with --out. */
export function secretOf(credentialsFile: string): string {
  return JSON.parse(readFileSync(credentialsFile, 'utf8')).secret
}

/** Asserts an exit status and returns the --json error (or undefined in text mode), with the output on failure. */
export function refused(r: RunResult, exit: number): any {
  if (r.code !== exit) {
    throw new Error(`expected exit ${exit}, got ${r.code}\nlicadm ${r.args.join(' ')}\n--- stdout\n${r.stdout.slice(0, 3000)}\n--- stderr\n${r.stderr.slice(0, 3000)}`)
  }
  if (r.args.includes('--json')) {
    if (r.json?.ok !== false) throw new Error(`expected a --json error envelope\n${r.stdout.slice(0, 3000)}`)
    if (r.json.error.exitCode !== exit) throw new Error(`envelope exitCode ${r.json.error.exitCode}, process exit ${exit}`)
    return r.json.error
  }
  return undefined
}
