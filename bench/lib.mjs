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
