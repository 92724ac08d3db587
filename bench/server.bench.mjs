/**
 * License server: seat checkout + release cycles per second and cycle latency (p50, p99) with 64
 * concurrent clients on loopback, set against a bare node:http server on the same machine that
 * answers a constant JSON body to the same load generator (the ceiling of this machine and
 * generator). Both servers run in their own process.
 *
 * The load generator is wrk (a C program, bench/server-cycle.lua: one thread per client) when it is
 * installed (Debian: apt-get install wrk), else node:http in this process (keep-alive, one socket
 * per client). On a machine with few cores the generator competes with the server for them: node's
 * costs about as much CPU per request as the bare server, wrk a fraction. The report says which
 * one ran; BENCH_GENERATOR=node or wrk chooses.
 *
 * This machine's speed varies from minute to minute (a shared host): every configuration is measured
 * in BENCH_ROUNDS interleaved rounds (default 3) and reported by its median run; the ratio is the
 * median of the rounds' ratios, each from a bare run and a server run made back to back.
 *
 * A cycle is POST /v1/leases (check out: a write transaction, a signed lease token, a signed
 * response) then DELETE /v1/leases/:id (release: a write, a signed response). Against the bare
 * server the same two requests get a constant answer. The three Ed25519 signatures of a cycle are
 * its largest single cost: the raw signing rate, measured in this process with the server's library,
 * says how many cycles per second signing alone allows on one core.
 *
 * Goal (issue 5): at least 5,000 cycles/s, p99 under 25 ms, cycles/s ÷ bare cycles/s at least 0.3.
 * Latencies are a whole cycle's (checkout sent to release answered), the stricter reading of the
 * goal; a single request's are reported beside them.
 *
 *   node bench/run.mjs server            (after a build)
 *   BENCH_SECONDS=10 BENCH_CLIENTS=64 BENCH_ROUNDS=5 node bench/run.mjs server
 *   BENCH_GENERATOR=node node bench/run.mjs server
 */
import {spawn, spawnSync} from 'node:child_process'
import {Agent, request} from 'node:http'
import {closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {fmtInt, fmtRatio, median, rawSignRate, ROOT} from './lib.mjs'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP ?? 1.5)
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 64)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const TOKEN = 'bench-client-token'
const LUA = join(ROOT, 'bench', 'server-cycle.lua')

/** wrk when installed (or BENCH_GENERATOR=wrk), else node:http. */
function chooseGenerator() {
  const wanted = process.env.BENCH_GENERATOR
  if (wanted === 'node') return 'node'
  const found = spawnSync('wrk', ['-v'], {encoding: 'utf8'})
  if (found.error) {
    if (wanted === 'wrk') throw new Error(`BENCH_GENERATOR=wrk, but wrk does not run: ${found.error.message}`)
    return 'node'
  }
  return 'wrk'
}

const BARE_SERVER = `
const http = require('node:http')
const body = JSON.stringify({ok: true, result: {lease: {id: 'lse_01bench', licenseId: 'lic_01bench', expiresAt: 0}, ttl: 300}})
const server = http.createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    res.writeHead(req.method === 'POST' ? 201 : 200, {'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body)})
    res.end(body)
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ok: true, result: {url: 'http://127.0.0.1:' + server.address().port}}) + '\\n'))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
`

/**
 * Spawns a server process and resolves with its ready object (first line of stdout). Its log (one
 * JSON line per request at the default level) goes to a file, as a deployed server's would, rather
 * than through a pipe into this process, which would spend the machine's CPU reading it.
 */
function spawnServer(args, logFile) {
  const log = openSync(logFile, 'w')
  const child = spawn(process.execPath, args, {cwd: ROOT, stdio: ['ignore', 'pipe', log], env: {...process.env, NO_COLOR: '1'}})
  closeSync(log)
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (b) => {
      out += b
      const nl = out.indexOf('\n')
      if (nl >= 0) resolve({child, ready: JSON.parse(out.slice(0, nl)).result})
    })
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${readFileSync(logFile, 'utf8').slice(-16_384)}`)))
  })
}

/**
 * CPU seconds (user + system) a process has used so far, all its threads, from /proc (null
 * elsewhere); with `mainThread`, its main thread's alone (the event loop: the server's bottleneck,
 * since signatures are made on the server's signing thread).
 */
function cpuSeconds(pid, mainThread = false) {
  try {
    const fields = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100 // clock ticks: 100 per second on Linux
  } catch {
    return null
  }
}

/** Both CPU figures at once. */
function cpuNow(pid) {
  return {all: cpuSeconds(pid), main: cpuSeconds(pid, true)}
}

/** CPU ms per cycle between two readings (null when /proc is not there). */
function perCycle(a, b, key, cycles) {
  return a[key] === null || b[key] === null || cycles === 0 ? null : ((b[key] - a[key]) * 1000) / cycles
}

/** Runs wrk with bench/server-cycle.lua; resolves with the JSON line its done() prints. */
function wrk(url, license, seconds) {
  return new Promise((resolve, reject) => {
    const args = [`-t${CLIENTS}`, `-c${CLIENTS}`, `-d${Math.max(1, Math.round(seconds))}s`, '--timeout', '30s', '-s', LUA, url, '--', license, TOKEN]
    const child = spawn('wrk', args, {stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    child.stdout.on('data', (b) => (out += b))
    child.stderr.on('data', (b) => (err += b))
    child.on('error', reject)
    child.on('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? ''
      try {
        if (code !== 0) throw new Error(`wrk exited ${code}`)
        resolve(JSON.parse(line))
      } catch (error) {
        reject(new Error(`${error.message}: ${err}${out}`))
      }
    })
  })
}

/** The same load from wrk: a warm-up run, then the measured run with the server's CPU around it. */
async function loadWrk(baseUrl, license, seconds, pid) {
  await wrk(baseUrl, license, WARMUP_SECONDS)
  const cpu0 = cpuNow(pid)
  const r = await wrk(baseUrl, license, seconds)
  const cpu1 = cpuNow(pid)
  const cpuMsPerCycle = perCycle(cpu0, cpu1, 'all', r.cycles)
  return {
    cyclesPerSecond: r.cycles / r.seconds,
    p50: r.p50,
    p99: r.p99,
    requestP50: r.requestP50,
    requestP99: r.requestP99,
    cycles: r.cycles,
    failures: r.failures + r.socketErrors,
    cpuMsPerCycle,
    mainCpuMsPerCycle: perCycle(cpu0, cpu1, 'main', r.cycles),
    serverCpuShare: cpu0.all === null ? null : (cpu1.all - cpu0.all) / r.seconds,
  }
}

async function stopServer(child) {
  const exited = new Promise((resolve) => child.on('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

function call(agent, url, method, path, body) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const headers = {authorization: `Bearer ${TOKEN}`}
    if (payload !== undefined) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = Buffer.byteLength(payload)
    }
    const req = request({agent, host: url.hostname, port: url.port, method, path, headers}, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({status: res.statusCode, body: Buffer.concat(chunks).toString()}))
    })
    req.on('error', reject)
    req.end(payload)
  })
}

/** A function giving the p-th percentile (p from 0 to 100) of these values. */
function percentiles(values) {
  const sorted = [...values].sort((a, b) => a - b)
  return (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}

/** CLIENTS loops of checkout + release for `seconds` (after a warm-up); cycle latencies in ms. */
async function load(baseUrl, license, seconds, pid) {
  const url = new URL(baseUrl)
  const agent = new Agent({keepAlive: true, maxSockets: CLIENTS})
  const latencies = []
  const requestLatencies = []
  let failures = 0
  let measuring = false
  let stop = false
  const client = async (c) => {
    while (!stop) {
      const t0 = performance.now()
      const out = await call(agent, url, 'POST', '/v1/leases', {license, user: `bench${c}`, host: 'loopback'})
      if (out.status !== 201) {
        failures++
        continue
      }
      const t1 = performance.now()
      const id = JSON.parse(out.body).result.lease.id
      const back = await call(agent, url, 'DELETE', `/v1/leases/${id}`)
      if (back.status !== 200) failures++
      const t2 = performance.now()
      if (measuring) {
        latencies.push(t2 - t0)
        requestLatencies.push(t1 - t0, t2 - t1)
      }
    }
  }
  const clients = Array.from({length: CLIENTS}, (_, c) => client(c))
  await new Promise((r) => setTimeout(r, WARMUP_SECONDS * 1000))
  measuring = true
  const start = performance.now()
  const cpu0 = cpuNow(pid)
  await new Promise((r) => setTimeout(r, seconds * 1000))
  measuring = false
  const cpu1 = cpuNow(pid)
  const elapsed = (performance.now() - start) / 1000
  const cycles = latencies.length
  stop = true
  await Promise.all(clients)
  agent.destroy()
  const pct = percentiles(latencies)
  const requestPct = percentiles(requestLatencies)
  // The server's own CPU time per cycle: what one free core would sustain, however busy the machine.
  const cpuMsPerCycle = perCycle(cpu0, cpu1, 'all', cycles)
  return {
    cyclesPerSecond: cycles / elapsed,
    p50: pct(50),
    p99: pct(99),
    requestP50: requestPct(50),
    requestP99: requestPct(99),
    cycles,
    failures,
    cpuMsPerCycle,
    mainCpuMsPerCycle: perCycle(cpu0, cpu1, 'main', cycles),
    serverCpuShare: cpu0.all === null ? null : (cpu1.all - cpu0.all) / elapsed,
  }
}

/** Signatures the server makes per cycle: the lease token and both responses. */
const SIGNATURES_PER_CYCLE = 3

/**
 * Raw Ed25519 signatures per second on one thread, with the library the server's signing thread
 * uses and with node:crypto, over a response's signing input (a protected header and a ~300-byte
 * body): the cycles per second that signing alone allows on one core.
 */
async function signingRates() {
  const {generateKeyPairSync} = await import('node:crypto')
  const {ed25519Signer} = await import(pathToFileURL(join(ROOT, 'dist', 'crypto', 'ed25519.js')).href)
  const {privateKey} = generateKeyPairSync('ed25519')
  const data = Buffer.from(`${'h'.repeat(140)}.${'b'.repeat(400)}`)
  const server = ed25519Signer(privateKey)
  const node = ed25519Signer(privateKey, null)
  return {
    library: server.backend,
    server: rawSignRate(data, server.sign, 1),
    node: server.backend === 'node:crypto' ? null : rawSignRate(data, node.sign, 1),
  }
}

/** The run of median throughput (its latencies and CPU figures come with it), and every round's throughput. */
function medianRun(runs) {
  const sorted = [...runs].sort((a, b) => a.cyclesPerSecond - b.cyclesPerSecond)
  return {...sorted[(sorted.length - 1) >> 1], rounds: runs.map((r) => Math.round(r.cyclesPerSecond))}
}

async function measure(args, label, generator, logFile) {
  const {child, ready} = await spawnServer(args, logFile)
  try {
    const license = ready.licenses?.[0]?.id ?? 'lic_01bench'
    process.stderr.write(`  ${label} …\n`)
    return await (generator === 'wrk' ? loadWrk : load)(ready.url, license, SECONDS, child.pid)
  } finally {
    await stopServer(child)
  }
}

export default async function run() {
  const generator = chooseGenerator()
  const {DEFAULT_LOG_LEVEL} = await import(pathToFileURL(join(ROOT, 'dist', 'server', 'logging.js')).href)
  const work = mkdtempSync(join(tmpdir(), 'licadm-bench-server-'))
  try {
    const seed = join(work, 'seed.json')
    writeFileSync(
      seed,
      JSON.stringify({
        vendor: {code: 1, name: 'Bench'},
        products: [{code: 7, name: 'Seven'}],
        licenses: [{key: 'many', product: 7, quantity: 100_000}],
        tokens: [{name: 'bench', role: 'client', token: TOKEN}],
      }),
    )
    const bin = join(ROOT, 'bin', 'run.js')
    const start = [bin, 'server', 'start', '--seed', seed, '--port', '0', '--json']
    process.stderr.write(`  load generator: ${generator}, ${ROUNDS} rounds\n`)
    const signing = await signingRates()
    // Each round's file store starts empty, like the in-memory ones.
    const configs = (round) => ({
      bare: ['-e', BARE_SERVER],
      // The server as started by default: its default log level writes a JSON line per request.
      memory: [...start, '--memory'],
      quiet: [...start, '--memory', '--log-level', 'silent'],
      file: [...start, '--data', join(work, `data-${round}`)],
    })
    // Interleaved rounds: each round measures every configuration once, the bare server and the
    // license server back to back, so a slow spell of the machine falls on both.
    const runs = {bare: [], memory: [], quiet: [], file: []}
    const ratios = []
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [name, args] of Object.entries(configs(round))) {
        runs[name].push(await measure(args, `round ${round}: ${name}`, generator, join(work, `${name}.log`)))
      }
      ratios.push(runs.memory.at(-1).cyclesPerSecond / runs.bare.at(-1).cyclesPerSecond)
    }
    const {bare, memory, quiet, file} = Object.fromEntries(Object.entries(runs).map(([name, r]) => [name, medianRun(r)]))
    const ratio = median(ratios)
    const ms = (v) => `${v.toFixed(1)} ms`
    const us = (v) => `${(v * 1000).toFixed(0)} µs`
    const cpu = (r) =>
      r.cpuMsPerCycle === null
        ? 'n/a'
        : `${us(r.cpuMsPerCycle)} CPU/cycle${r.mainCpuMsPerCycle === null ? '' : `, main thread ${us(r.mainCpuMsPerCycle)} → ${fmtInt(1000 / r.mainCpuMsPerCycle)} cycles/s with a free core for it`}`
    const cpuRatio = memory.cpuMsPerCycle && bare.cpuMsPerCycle ? bare.cpuMsPerCycle / memory.cpuMsPerCycle : null
    const loadavg = (await import('node:os')).loadavg()[0]
    const line = (r) => `${fmtInt(r.cyclesPerSecond)} cycles/s`
    const range = (r) => (ROUNDS > 1 ? ` (rounds: ${r.rounds.map(fmtInt).join(', ')})` : '')
    const note = (r) => `cycle p50 ${ms(r.p50)}, p99 ${ms(r.p99)}; request p50 ${ms(r.requestP50)}, p99 ${ms(r.requestP99)}${r.failures ? `, ${r.failures} failed` : ''}${range(r)}`
    return {
      title: `License server: checkout + release cycles, ${CLIENTS} concurrent clients on loopback, ${SECONDS} s per run, median of ${ROUNDS} interleaved rounds, load generator ${generator}`,
      rows: [
        [`licadm server --memory (log level ${DEFAULT_LOG_LEVEL})`, line(memory), note(memory)],
        ['bare node:http, constant JSON (ceiling)', line(bare), note(bare)],
        ['ratio server / bare', fmtRatio(ratio), ROUNDS > 1 ? `median of the rounds' ratios: ${ratios.map(fmtRatio).join(', ')}` : undefined],
        ['licadm server --memory --log-level silent', line(quiet), note(quiet)],
        ['licadm server --data (file, fsync per commit)', line(file), note(file)],
        ['server CPU per cycle (--memory)', cpu(memory)],
        ['server CPU per cycle (--memory, silent)', cpu(quiet)],
        ['bare server CPU per cycle', cpu(bare)],
        ['ratio by CPU per cycle (bare / server)', cpuRatio === null ? 'n/a' : fmtRatio(cpuRatio)],
        [
          `raw Ed25519 sign, one thread (${signing.library}, as the server)`,
          `${fmtInt(signing.server.perSecond)} signs/s`,
          `${signing.server.cpuMicros.toFixed(0)} µs each${signing.node ? `; node:crypto ${fmtInt(signing.node.perSecond)} signs/s, ${signing.node.cpuMicros.toFixed(0)} µs each` : ''}`,
        ],
        [
          `  signing alone allows (${SIGNATURES_PER_CYCLE} signatures per cycle, one core)`,
          `${fmtInt(signing.server.perSecond / SIGNATURES_PER_CYCLE)} cycles/s`,
          memory.cpuMsPerCycle === null || memory.mainCpuMsPerCycle === null
            ? undefined
            : `the server's other threads (signing) used ${us(memory.cpuMsPerCycle - memory.mainCpuMsPerCycle)} CPU per cycle`,
        ],
        ['machine load average (1 min) at the end', loadavg.toFixed(2), 'other work on these cores slows every figure above'],
      ],
      goals: [
        {name: '≥ 5,000 cycles/s', met: memory.cyclesPerSecond >= 5000},
        {name: 'p99 < 25 ms (of a whole cycle)', met: memory.p99 < 25},
        {name: 'ratio ≥ 0.3', met: ratio >= 0.3},
      ],
      data: {generator, logLevel: DEFAULT_LOG_LEVEL, clients: CLIENTS, seconds: SECONDS, rounds: ROUNDS, memory, quiet, bare, file, ratio, ratios, cpuRatio, signing, loadavg},
    }
  } finally {
    rmSync(work, {recursive: true, force: true})
  }
}
