/**
 * Bulk issuance: 10,000 licenses from NDJSON into a fresh store, in process (parse + validate + sign
 * + insert, through BulkIssuer.run) and end to end through the CLI; set against the raw Ed25519
 * signing rate measured in the same process, of the library the signing workers use (libsodium when
 * sodium-native is installed, else node:crypto: see src/crypto/ed25519.ts).
 *
 * Goal (issue 2): at least 10,000 licenses/s, and licenses/s ÷ raw signs/s of at least 0.5.
 *
 *   node bench/run.mjs bulk          (after a build)
 *   BENCH_ROWS=2000 BENCH_RUNS=5 node bench/run.mjs bulk
 */
import {generateKeyPairSync} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {cpus, loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {fmtInt, fmtMs, fmtRatio, median, rawSignRate, repeat, ROOT, timeSpawn} from './lib.mjs'

const ROWS = Number(process.env.BENCH_ROWS ?? 10_000)
const RUNS = Math.max(3, Number(process.env.BENCH_RUNS ?? 3))
const PRODUCTS = [101, 102, 103, 104, 105]
const dist = (p) => import(pathToFileURL(join(ROOT, 'dist', p)).href)

/** Deterministic pseudo-random numbers (mulberry32), so every run issues the same file. */
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Rows like a vendor's order export: mixed products, kinds, expiries, customers and metadata. */
export function makeRows(n, nowMs = Date.now()) {
  const rnd = prng(42)
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)]
  const regions = ['eu', 'us', 'apac', 'latam']
  const companies = ['Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark Industries', 'Wayne Enterprises', 'Acme Corp', 'Soylent']
  const lines = []
  for (let i = 0; i < n; i++) {
    const row = {product: pick(PRODUCTS)}
    if (rnd() < 0.3) {
      row.kind = 'concurrent'
      row.quantity = 5 + Math.floor(rnd() * 245)
    } else if (rnd() < 0.5) {
      row.kind = 'single'
    }
    if (rnd() < 0.6) row.features = rnd() < 0.5 ? `0x${Math.floor(rnd() * 0xffff).toString(16)}` : Math.floor(rnd() * 1024)
    if (rnd() < 0.15) row.units = 100 + Math.floor(rnd() * 10_000)
    const e = rnd()
    if (e < 0.4) row.expires = pick(['30d', '90d', '365d', '1y', '2y'])
    else if (e < 0.7) row.expires = new Date(nowMs + (60 + Math.floor(rnd() * 1000)) * 86_400_000).toISOString().slice(0, 10)
    else if (e < 0.8) row.expires = 'never'
    if (rnd() < 0.1) row.not_before = new Date(nowMs + Math.floor(rnd() * 30) * 86_400_000).toISOString().slice(0, 10)
    if (rnd() < 0.9) row.customer = `${pick(companies)} ${1000 + Math.floor(rnd() * 9000)}`
    const m = Math.floor(rnd() * 5)
    if (m > 0) {
      row.metadata = {order: `SO-${100000 + i}`}
      if (m > 1) row.metadata.region = pick(regions)
      if (m > 2) row.metadata.seller = `rep-${Math.floor(rnd() * 50)}`
      if (m > 3) row.metadata.note = 'renewal of an earlier subscription, same terms'
    }
    if (rnd() < 0.2) row.idempotency_key = `order-${100000 + i}`
    lines.push(JSON.stringify(row))
  }
  return `${lines.join('\n')}\n`
}

/** One in-process run on a fresh store; returns the time of BulkIssuer.run alone. */
async function inProcessRun(text, {localBackend, systemClock}) {
  const dir = mkdtempSync(join(tmpdir(), 'licadm-bench-'))
  try {
    const backend = await localBackend({keyDir: join(dir, 'keys'), storePath: join(dir, 'data', 'licadm.db')}, systemClock, async () => undefined)
    try {
      await backend.vendor.init({code: 1001, name: 'Bench Software'})
      for (const code of PRODUCTS) await backend.products.create({code, name: `Product ${code}`})
      const cpu = process.cpuUsage()
      const thread = threadCpuMs()
      const start = process.hrtime.bigint()
      const summary = await backend.bulk.run(text, 'ndjson')
      const ms = Number(process.hrtime.bigint() - start) / 1e6
      const used = process.cpuUsage(cpu)
      const threadMs = thread === undefined ? undefined : threadCpuMs() - thread
      if (summary.issued !== ROWS) throw new Error(`issued ${summary.issued} licenses, expected ${ROWS}`)
      const sample = await backend.licenses.export(summary.licenses[summary.licenses.length >> 1].id)
      return {ms, cpuMs: (used.user + used.system) / 1000, threadMs, sample}
    } finally {
      await backend.close()
    }
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

/**
 * CPU time of this (the main) thread in ms, from Linux's /proc (10 ms ticks); undefined elsewhere.
 * process.cpuUsage counts every thread, signing workers included.
 */
function threadCpuMs() {
  try {
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}

/**
 * How busy the machine is: the 1-minute load average, and on Linux the share of the last 10 seconds
 * in which some task waited for a CPU (/proc/pressure/cpu). Others' work on these cores slows every
 * figure, the raw signing rate included; the ratio by CPU time below is the least affected.
 */
function machineLoad() {
  let pressure
  try {
    pressure = Number(/some avg10=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'))[1])
  } catch {
    pressure = undefined
  }
  return {load: loadavg()[0], pressure}
}

const fmtLoad = ({load, pressure}) => `load ${load.toFixed(2)}${pressure === undefined ? '' : `, CPU pressure ${pressure.toFixed(0)}%`}`

/** A fresh CLI profile with the benchmark's products; returns the environment that selects it. */
function cliProfile() {
  const dir = mkdtempSync(join(tmpdir(), 'licadm-bench-cli-'))
  const env = {...process.env, LICADM_CONFIG_DIR: join(dir, 'config'), LICADM_DATA_DIR: join(dir, 'data'), NO_COLOR: '1', CI: '1'}
  delete env.LICADM_PROFILE
  delete env.LICADM_KEY_PASSPHRASE
  delete env.LICADM_NOW
  timeSpawn('node', ['bin/run.js', 'init', '--vendor-code', '1001', '--name', 'Bench Software'], {env})
  for (const code of PRODUCTS) timeSpawn('node', ['bin/run.js', 'product', 'create', '--code', String(code), '--name', `Product ${code}`], {env})
  return {dir, env}
}

export default async function bulkIssueBench() {
  const [{localBackend}, {systemClock}, {dearmor}, {ed25519Signer}] = await Promise.all([
    dist('services/backend.js'),
    dist('domain/clock.js'),
    dist('crypto/armor.js'),
    dist('crypto/ed25519.js'),
  ])
  const text = makeRows(ROWS)
  const work = mkdtempSync(join(tmpdir(), 'licadm-bench-rows-'))
  const file = join(work, 'rows.ndjson')
  writeFileSync(file, text)

  try {
    // In process: one warm-up run, then RUNS runs, each on a fresh store. Before each run, half a
    // second of raw signing, so that both rates see the same machine (others may be using its cores).
    let signingInput
    const rawRates = []
    const signCpu = []
    const cpuPerLicense = []
    const threadPerLicense = []
    const {privateKey} = generateKeyPairSync('ed25519')
    // The baseline signs with the library the signing workers use (libsodium when it is installed).
    const signer = ed25519Signer(privateKey)
    const loads = [machineLoad()]
    const inProc = await repeat(async (i) => {
      if (i >= 0) {
        const r = rawSignRate(signingInput, signer.sign, 0.5)
        rawRates.push(r.perSecond)
        signCpu.push(r.cpuMicros)
      }
      const r = await inProcessRun(text, {localBackend, systemClock})
      if (i >= 0) {
        cpuPerLicense.push((r.cpuMs * 1000) / ROWS)
        if (r.threadMs !== undefined) threadPerLicense.push((r.threadMs * 1000) / ROWS)
      }
      // The signing input of a license from the middle of the file: header.payload of its JWS.
      signingInput ??= Buffer.from(dearmor(r.sample.file, 'LICENSE').jws.split('.').slice(0, 2).join('.'))
      if (i >= 0) loads.push(machineLoad())
      return r.ms
    }, {warmup: 1, runs: RUNS})
    const perSecond = inProc.values.map((ms) => ROWS / (ms / 1000))
    const licensesPerSecond = median(perSecond)
    const raw = median(rawRates)
    // Each run against the raw rate measured just before it (the same machine, as far as it can be):
    // the median of those ratios, as the server benchmark pairs its rounds.
    const ratios = perSecond.map((p, i) => p / rawRates[i])
    const ratio = median(ratios)
    // By CPU time: what the run would do if every thread had a core of its own. Signing workers
    // and the main thread run side by side, so the busier of the two sets the pace.
    const cpu = median(cpuPerLicense)
    const thread = threadPerLicense.length === RUNS ? median(threadPerLicense) : undefined
    const paceMicros = thread === undefined ? cpu : Math.max(thread, cpu - thread)
    const cpuRatio = median(signCpu) / paceMicros

    // End to end through the CLI, each run on a fresh profile (a re-run would find every row issued):
    // with --json as CI runs it (10,000 ids and tickets on stdout), and in text (a summary line).
    const cliRun = (extra) => async () => {
      const {dir, env} = cliProfile()
      try {
        return timeSpawn('node', ['bin/run.js', 'license', 'create', '--from', file, ...extra], {env}).ms
      } finally {
        rmSync(dir, {recursive: true, force: true})
      }
    }
    const cli = await repeat(cliRun(['--json']), {warmup: 1, runs: RUNS})
    const cliText = await repeat(cliRun([]), {warmup: 0, runs: RUNS})
    // The same file again on one profile: every row is found by its idempotency key, none issued.
    const {dir, env} = cliProfile()
    let rerun
    try {
      timeSpawn('node', ['bin/run.js', 'license', 'create', '--from', file, '--json'], {env})
      rerun = await repeat(() => {
        const {ms, stdout} = timeSpawn('node', ['bin/run.js', 'license', 'create', '--from', file, '--json'], {env})
        if (JSON.parse(stdout).result.issued !== 0) throw new Error('the re-run issued licenses again')
        return ms
      }, {warmup: 0, runs: RUNS})
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
    const nodeStart = await repeat(() => timeSpawn('node', ['-e', '0']).ms, {warmup: 1, runs: 5})
    const version = await repeat(() => timeSpawn('node', ['bin/run.js', '--version']).ms, {warmup: 1, runs: 5})

    const rows = [
      [`bulk issue, in process (${fmtInt(ROWS)} rows)`, `${fmtInt(licensesPerSecond)} licenses/s`, `median of ${RUNS}: ${inProc.values.map(fmtMs).join(', ')}`],
      [`raw Ed25519 sign (${signer.backend}, as the workers)`, `${fmtInt(raw)} signs/s`, `median of ${RUNS} × 0.5 s before the runs: ${rawRates.map(fmtInt).join(', ')}; ${signingInput.length}-byte input, one thread`],
      ['ratio licenses/s ÷ raw signs/s', fmtRatio(ratio), `median of each run's ratio to the raw rate just before it: ${ratios.map(fmtRatio).join(', ')}`],
      [
        'CPU per license',
        `${cpu.toFixed(0)} µs`,
        `${thread === undefined ? '' : `main thread ${thread.toFixed(0)} µs, other threads ${(cpu - thread).toFixed(0)} µs; `}a raw signature ${median(signCpu).toFixed(0)} µs`,
      ],
      ['ratio by CPU time (free cores)', fmtRatio(cpuRatio), `${fmtInt(1e6 / paceMicros)} licenses/s if no other work shared the cores`],
      ['machine during the in-process runs', `${cpus().length} cores`, `before and after each run: ${loads.map(fmtLoad).join('; ')}`],
      [`CLI license create --from (${fmtInt(ROWS)} rows) --json`, fmtMs(cli.median), `median of ${RUNS}: ${cli.values.map(fmtMs).join(', ')}; ${fmtInt(ROWS / (cli.median / 1000))} licenses/s end to end`],
      [`  the same in text, without --json`, fmtMs(cliText.median), `median of ${RUNS}: ${cliText.values.map(fmtMs).join(', ')}`],
      ['CLI re-run of the same file (all issued)', fmtMs(rerun.median), `median of ${RUNS}, --json`],
      ['CLI --version', fmtMs(version.median), 'median of 5'],
      ['node -e 0', fmtMs(nodeStart.median), 'median of 5'],
    ]
    return {
      title: `Bulk issuance from NDJSON (store in ${tmpdir()})`,
      rows,
      goals: [
        {name: '≥ 10,000 licenses/s', met: licensesPerSecond >= 10_000},
        {name: 'ratio ≥ 0.5', met: ratio >= 0.5},
      ],
      data: {
        rows: ROWS,
        runs: RUNS,
        licensesPerSecond,
        inProcessMs: inProc.values,
        rawSignsPerSecond: raw,
        signingLibrary: signer.backend,
        rawSignRates: rawRates,
        signingInputBytes: signingInput.length,
        ratio,
        ratios,
        cpuMicrosPerLicense: cpu,
        mainThreadMicrosPerLicense: thread ?? null,
        rawSignCpuMicros: median(signCpu),
        cpuRatio,
        machineLoad: loads,
        cliMs: cli.values,
        cliMedianMs: cli.median,
        cliTextMs: cliText.values,
        cliRerunMs: rerun.values,
        cliVersionMs: version.median,
        nodeStartMs: nodeStart.median,
      },
    }
  } finally {
    rmSync(work, {recursive: true, force: true})
  }
}
