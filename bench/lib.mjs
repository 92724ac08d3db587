// Helpers shared by the benchmarks (not a benchmark itself: run.mjs only runs *.bench.mjs).
import {spawnSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))

export function median(values) {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

export const fmtInt = (n) => Math.round(n).toLocaleString('en-US')
export const fmtMs = (ms) => `${ms.toFixed(0)} ms`
export const fmtRatio = (r) => r.toFixed(2)

/** Runs `fn` `runs` times after `warmup` discarded runs; returns every measured value and the median. */
export async function repeat(fn, {warmup = 1, runs = 3} = {}) {
  for (let i = 0; i < warmup; i++) await fn(-1 - i)
  const values = []
  for (let i = 0; i < runs; i++) values.push(await fn(i))
  return {values, median: median(values)}
}

/** Wall time of a spawned command, in milliseconds; throws when it fails. */
export function timeSpawn(cmd, args, options = {}) {
  const start = process.hrtime.bigint()
  const res = spawnSync(cmd, args, {cwd: ROOT, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...options})
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (res.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${res.status ?? res.signal}:\n${res.stderr}${res.stdout.slice(0, 2000)}`)
  }
  return {ms, stdout: res.stdout, stderr: res.stderr}
}

/**
 * Raw signatures per second by `sign` over `data` on this thread, signing for about `seconds`; also
 * the CPU time a signature took (µs).
 */
export function rawSignRate(data, sign, seconds) {
  for (let i = 0; i < 200; i++) sign(data)
  let n = 0
  const cpu = process.cpuUsage()
  const start = process.hrtime.bigint()
  const limit = BigInt(Math.round(seconds * 1e9))
  let elapsed = 0n
  while (elapsed < limit) {
    for (let i = 0; i < 200; i++) sign(data)
    n += 200
    elapsed = process.hrtime.bigint() - start
  }
  const used = process.cpuUsage(cpu)
  return {perSecond: n / (Number(elapsed) / 1e9), cpuMicros: (used.user + used.system) / n}
}
