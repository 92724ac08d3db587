#!/usr/bin/env node
/**
 * Runs every benchmark in bench/ (files named *.bench.mjs, in name order, or only those whose name
 * contains one of the arguments: `node bench/run.mjs bulk`), each in its own Node process so that
 * one benchmark's heap, JIT state and open handles do not colour the next one.
 *
 * A benchmark module's default export is an async function that returns
 *   {title, rows: [[label, value, note?], ...], goals?: [{name, met}], data: {...}}
 * `rows` is what is printed; `data` (plain numbers) goes to bench/results.json (not committed).
 * Benchmarks report; they never fail on a time. The exit status is non-zero only when one crashes.
 */
import {fork} from 'node:child_process'
import {readdirSync, writeFileSync} from 'node:fs'
import {cpus, loadavg, totalmem} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

const HERE = fileURLToPath(new URL('.', import.meta.url))

if (process.argv[2] === '--child') {
  // Child: run one benchmark and hand its result to the parent.
  const mod = await import(pathToFileURL(process.argv[3]).href)
  const result = await mod.default()
  process.send(result, () => process.exit(0))
} else {
  await main(process.argv.slice(2))
}

async function main(filters) {
  const files = readdirSync(HERE)
    .filter((f) => f.endsWith('.bench.mjs'))
    .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
    .sort()
  if (files.length === 0) {
    console.error(`no benchmark matches ${filters.join(', ')}`)
    process.exit(2)
  }
  const machine = {node: process.version, platform: `${process.platform} ${process.arch}`, cpu: cpus()[0]?.model ?? '?', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30)}
  // Others' work on the machine changes every figure: the load average says how busy it was.
  machine.loadAverage = loadavg().map((l) => Number(l.toFixed(2)))
  console.log(`licadm benchmarks — Node ${machine.node}, ${machine.cores} × ${machine.cpu}, ${machine.memoryGiB} GiB, load average ${machine.loadAverage.join(' ')}\n`)
  const results = {date: new Date().toISOString(), machine, benchmarks: {}}
  let failed = 0
  for (const file of files) {
    const name = file.replace(/\.bench\.mjs$/, '')
    process.stderr.write(`running ${name} …\n`)
    try {
      const result = await runChild(join(HERE, file))
      results.benchmarks[name] = {title: result.title, goals: result.goals ?? [], data: result.data}
      printResult(name, result)
    } catch (error) {
      failed++
      results.benchmarks[name] = {error: error.message}
      console.log(`${name}: FAILED\n${error.message}\n`)
    }
  }
  const out = join(HERE, 'results.json')
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`)
  console.log(`results written to ${out}`)
  if (failed > 0) process.exitCode = 1
}

function runChild(file) {
  return new Promise((resolve, reject) => {
    let result
    const child = fork(fileURLToPath(import.meta.url), ['--child', file], {stdio: ['ignore', 'inherit', 'inherit', 'ipc']})
    child.on('message', (m) => (result = m))
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      if (result !== undefined && code === 0) resolve(result)
      else reject(new Error(`the benchmark process exited with ${signal ?? code}${result === undefined ? ' before reporting' : ''}`))
    })
  })
}

function printResult(name, {title, rows, goals = []}) {
  console.log(`${title ?? name}`)
  const width = Math.max(...rows.map((r) => r[0].length))
  const valueWidth = Math.max(...rows.map((r) => String(r[1]).length))
  for (const [label, value, note] of rows) {
    console.log(`  ${label.padEnd(width)}  ${String(value).padStart(valueWidth)}${note ? `  ${note}` : ''}`)
  }
  for (const goal of goals) console.log(`  goal: ${goal.name.padEnd(width - 6)}  ${goal.met ? 'met' : 'NOT MET'}`)
  console.log('')
}
