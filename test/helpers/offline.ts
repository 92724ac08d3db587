/**
 * Offline activation test helpers: read, change and re-sign armored request, update and receipt
 * files with node:crypto only (independently of licadm's own armor and JWS code), spawn licadm for
 * a simulated device (its own LICADM_DEVICE_DIR), and the shared setup of the offline e2e files
 * (test/e2e/offline-*.test.ts), so that each file stands alone and they can run in parallel.
 */
import {createPrivateKey, sign} from 'node:crypto'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {ok, sandbox, type RunOptions, type RunResult, type Sandbox} from './cli.js'
import {runLocal} from './lab.js'

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const unb64 = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))

export function unarmor(file: string): {kind: string; jws: string} {
  const lines = file.trim().split('\n')
  const kind = /^-----BEGIN LICADM ([A-Z]+)-----$/.exec(lines[0])![1]
  return {kind, jws: Buffer.from(lines.slice(1, -1).join(''), 'base64').toString('utf8')}
}

export function rearmor(jws: string, kind: string): string {
  const body = Buffer.from(jws, 'utf8').toString('base64').match(/.{1,64}/g)!.join('\n')
  return `-----BEGIN LICADM ${kind}-----\n${body}\n-----END LICADM ${kind}-----\n`
}

export function decoded(file: string): {kind: string; header: any; payload: any; jws: string} {
  const {kind, jws} = unarmor(file)
  const [h, p] = jws.split('.')
  return {kind, header: unb64(h), payload: unb64(p), jws}
}

/** The file with its payload changed and signed again with `privateKeyPem` (a holder of that key). */
export function resign(file: string, privateKeyPem: string, change: (payload: any) => any, headerChange: (header: any) => any = (h) => h): string {
  const {kind, header, payload} = decoded(file)
  const input = `${b64(headerChange(header))}.${b64(change(structuredClone(payload)))}`
  const signature = sign(null, Buffer.from(input), createPrivateKey(privateKeyPem)).toString('base64url')
  return rearmor(`${input}.${signature}`, kind)
}

/** The file with its payload changed and the original signature kept (what a forger does). */
export function forge(file: string, change: (payload: any) => any): string {
  const {kind, jws} = unarmor(file)
  const [h, p, s] = jws.split('.')
  return rearmor(`${h}.${b64(change(unb64(p)))}.${s}`, kind)
}

/** The device's private signing key, read from its device directory. */
export function deviceKeyPem(deviceDir: string): string {
  return readFileSync(join(deviceDir, 'sign.pem'), 'utf8')
}

/** A licadm runner for one simulated device of a sandbox. */
export function onDevice(sb: Sandbox, deviceDir: string): (args: string[], options?: RunOptions) => Promise<RunResult> {
  return (args, options = {}) => sb.run(args, {...options, env: {LICADM_DEVICE_DIR: deviceDir, ...options.env}})
}

export type DeviceRunner = (args: string[], options?: RunOptions) => Promise<RunResult>

/**
 * One sandbox with a vendor profile and two simulated devices (directories dev1 and dev2), as the
 * offline e2e files use it. The runners spawn `node bin/run.js`; `setup` and `roundTrip` make the
 * state a file starts from, in this process when `fast` (oclif's run over dist/: the steps are
 * tested spawned in offline-round-trip.test.ts, a file that only needs them done need not pay for
 * ~40 more node start-ups).
 */
export interface OfflineLab {
  sb: Sandbox
  dir1: string
  dir2: string
  dev1: DeviceRunner
  dev2: DeviceRunner
  /** licadm as the vendor (the sandbox's profile). */
  vendor: (args: string[], env?: Record<string, string | undefined>) => Promise<RunResult>
  file: (name: string) => string
  read: (name: string) => string
  /** Creates one license of product 7 (with `args`); returns its id. */
  license: (args?: string[]) => Promise<string>
  /** `device init` and `device trust vendor.pem` in `dir`; returns the device's runner. */
  newDevice: (dir: string, fingerprint: string) => Promise<DeviceRunner>
  /**
   * Vendor 1001 with products 7 and 8 and its public key in vendor.pem; L1 (never expires), L2
   * (expires in 30 days) and 8 spare licenses of product 7; devices SIM-DEV-0001 (dev1) and
   * SIM-DEV-0002 (dev2), each trusting the vendor key.
   */
  setup: (options?: {fast?: boolean}) => Promise<{kid: string; L1: string; L2: string}>
}

export function offlineLab(prefix: string): OfflineLab {
  const sb = sandbox(prefix)
  const file = (name: string) => sb.path(name)
  const vendor = (args: string[], env: Record<string, string | undefined> = {}) => sb.run(args, {env})
  const dir1 = sb.path('dev1')
  const dir2 = sb.path('dev2')
  const license = async (args: string[] = []) => ok(await vendor(['license', 'create', '--product', '7', ...args, '--json'])).licenses[0].id as string
  const newDevice = async (dir: string, fingerprint: string) => {
    const run = onDevice(sb, dir)
    ok(await run(['device', 'init', '--fingerprint', fingerprint, '--name', fingerprint.toLowerCase(), '--json']))
    ok(await run(['device', 'trust', file('vendor.pem'), '--json']))
    return run
  }
  return {
    sb,
    dir1,
    dir2,
    dev1: onDevice(sb, dir1),
    dev2: onDevice(sb, dir2),
    vendor,
    file,
    read: (name) => readFileSync(file(name), 'utf8'),
    license,
    newDevice,
    async setup({fast = false} = {}) {
      const run = setupRunner(sb, fast)
      const kid = ok(await run(['init', '--vendor-code', '1001', '--name', 'Acme Software', '--json'])).kid as string
      for (const code of [7, 8]) ok(await run(['product', 'create', '--code', String(code), '--name', `Product ${code}`, '--json']))
      writeFileSync(file('vendor.pem'), (await run(['key', 'export'])).stdout)
      const create = async (args: string[]) => ok(await run(['license', 'create', '--product', '7', ...args, '--json'])).licenses[0].id as string
      const L1 = await create([])
      const L2 = await create(['--expires', '30d'])
      // Spares for "--product 7".
      await create(['--count', '8'])
      for (const [dir, fingerprint] of [[dir1, 'SIM-DEV-0001'], [dir2, 'SIM-DEV-0002']]) {
        ok(await run(['device', 'init', '--fingerprint', fingerprint, '--name', fingerprint.toLowerCase(), '--json'], {LICADM_DEVICE_DIR: dir}))
        ok(await run(['device', 'trust', file('vendor.pem'), '--json'], {LICADM_DEVICE_DIR: dir}))
      }
      return {kid, L1, L2}
    },
  }
}

export type SetupRun = (args: string[], env?: Record<string, string | undefined>) => Promise<RunResult>

/** Runs licadm for setup: in this process when `fast`, else spawned. */
export function setupRunner(sb: Sandbox, fast: boolean): SetupRun {
  return fast ? (args, env = {}) => runLocal(sb, args, env) : (args, env = {}) => sb.run(args, {env})
}

/**
 * The state the round trip of offline-round-trip.test.ts leaves, made without its checks: device 1
 * got L1 and L2 in a new local container (u1, counter 1, confirmed) and returned L1 (counter 2);
 * the admin added a license ("busy") to that container; device 2 got L1 in a container of its own
 * (u2, counter 1); device 1 then got "busy" and a product-8 license (r3 → u3, counter 3). Each
 * receipt is confirmed. Also writes l2.lic, the license file of L2.
 */
export async function roundTrip(lab: OfflineLab, ids: {L1: string; L2: string}, {fast = false} = {}): Promise<{container1: string; container2: string}> {
  const run = setupRunner(lab.sb, fast)
  const {file} = lab
  const {L1, L2} = ids
  const on = (dir: string): SetupRun => (args, env = {}) => run(args, {LICADM_DEVICE_DIR: dir, ...env})
  const dev1 = on(lab.dir1)
  const dev2 = on(lab.dir2)

  ok(await dev1(['activation', 'request', '--vendor', '1001', '--out', file('r1.request'), '--json']))
  const container1 = ok(await run(['activation', 'fulfill', file('r1.request'), '--license', L1, '--license', L2, '--out', file('u1.update'), '--json'])).container as string
  ok(await dev1(['activation', 'apply', file('u1.update'), '--receipt', file('rc1.receipt'), '--json']))
  ok(await run(['activation', 'confirm', file('rc1.receipt'), '--json']))
  // The round trip's refused fulfill leaves one more available license of product 7.
  ok(await run(['license', 'create', '--product', '7', '--json']))

  ok(await dev1(['activation', 'return', '--license', L1, '--out', file('ret1.request'), '--json']))
  ok(await run(['activation', 'fulfill', file('ret1.request'), '--out', file('ret1.update'), '--json']))
  ok(await dev1(['activation', 'apply', file('ret1.update'), '--receipt', file('ret1.receipt'), '--json']))
  ok(await run(['activation', 'confirm', file('ret1.receipt'), '--json']))

  ok(await dev2(['activation', 'request', '--vendor', '1001', '--out', file('r2.request'), '--json']))
  const busy = ok(await run(['license', 'create', '--product', '7', '--json'])).licenses[0].id as string
  ok(await run(['container', 'add-license', container1, busy, '--json']))
  const container2 = ok(await run(['activation', 'fulfill', file('r2.request'), '--license', L1, '--out', file('u2.update'), '--json'])).container as string
  ok(await dev2(['activation', 'apply', file('u2.update'), '--receipt', file('rc2.receipt'), '--json']))
  ok(await run(['activation', 'confirm', file('rc2.receipt'), '--json']))

  ok(await run(['license', 'create', '--product', '8', '--json']))
  ok(await dev1(['activation', 'request', '--container', container1, '--out', file('r3.request'), '--json']))
  const u3 = ok(await run(['activation', 'fulfill', file('r3.request'), '--product', '8', '--out', file('u3.update'), '--json']))
  if (u3.counter !== 3 || u3.holds.length !== 3) throw new Error(`roundTrip: u3 is at counter ${u3.counter} with ${u3.holds.length} licenses, expected 3 and 3`)
  ok(await dev1(['activation', 'apply', file('u3.update'), '--receipt', file('rc3.receipt'), '--json']))
  ok(await run(['activation', 'confirm', file('rc3.receipt'), '--json']))

  ok(await run(['license', 'export', L2, '--out', file('l2.lic'), '--json']))
  return {container1, container2}
}
