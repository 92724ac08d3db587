#!/usr/bin/env node
/**
 * Regenerates the generated parts of the documentation from the compiled CLI (run "npm run
 * build:fast" first; "npm run docs" does both):
 *
 *   README.md  <!-- usage -->, <!-- commands -->     by `oclif readme --no-aliases`
 *              <!-- exitcodes -->                   from EXIT_CODE_TABLE in dist/domain/errors.js
 *              <!-- environment -->                 from the environment list of scripts/gen-man.mjs
 *   man/*.1 and package.json "man"                  by scripts/gen-man.mjs
 *
 * Usage: node scripts/gen-docs.mjs [--readme PATH] [--man-out DIR]
 *   --readme PATH   update this copy of the README instead of README.md (the docs test uses it)
 *   --man-out DIR   write the man pages to DIR instead of man/ (and leave package.json alone)
 *
 * The output is deterministic: the one machine-specific line of oclif's usage block (platform, Node
 * version) is replaced by a fixed one, and the help is rendered at a fixed width.
 */
import {execFile} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {promisify} from 'node:util'

import {ENVIRONMENT, generate} from './gen-man.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const run = promisify(execFile)

/** What `licadm --version` prints, as shown in the README: fixed, so the README does not depend on the machine. */
const VERSION_LINE_PLATFORM = 'linux-x64 node-v20.x'

/** Runs `oclif readme` on readmePath, then fills the markers oclif does not know. */
export async function updateReadme({root = ROOT, readmePath = join(root, 'README.md')} = {}) {
  const oclif = join(root, 'node_modules', 'oclif', 'bin', 'run.js')
  await run(process.execPath, [oclif, 'readme', '--no-aliases', '--readme-path', readmePath], {
    cwd: root,
    env: {...process.env, COLUMNS: '120', OCLIF_SKIP_NEW_VERSION_CHECK: 'true', NO_COLOR: '1', FORCE_COLOR: '0', DEBUG: ''},
  })
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  const {EXIT_CODE_TABLE} = await import(pathToFileURL(join(root, 'dist', 'domain', 'errors.js')).href)
  let text = readFileSync(readmePath, 'utf8')
  text = normaliseUsage(text, pkg)
  text = demoteCommandHeadings(text)
  text = replaceTag(text, 'exitcodes', exitCodeTable(EXIT_CODE_TABLE))
  text = replaceTag(text, 'environment', environmentTable())
  writeFileSync(readmePath, text)
  return text
}

/** oclif prints `licadm/0.1.0 linux-x64 node-v20.20.2`: the platform and Node version vary by machine. */
function normaliseUsage(text, pkg) {
  const re = new RegExp(`^(${escapeRe(pkg.name)}/${escapeRe(pkg.version)}) \\S+ node-v\\S+$`, 'm')
  return text.replace(re, `$1 ${VERSION_LINE_PLATFORM}`)
}

/** oclif writes each command as a level-2 heading; in this README they sit under "Command reference". */
function demoteCommandHeadings(text) {
  return mapTag(text, 'commands', (body) => body.replace(/^## `/gm, '### `'))
}

export function exitCodeTable(table) {
  const rows = table.map((r) => `| ${r.code} | \`${r.name}\` | ${cell(r.meaning)} |`)
  return ['| Exit | Name | Meaning |', '|---:|---|---|', ...rows].join('\n')
}

export function environmentTable() {
  const rows = ENVIRONMENT.map(([name, text]) => `| \`${name}\` | ${cell(text)} |`)
  return ['| Variable | Meaning |', '|---|---|', ...rows].join('\n')
}

function cell(text) {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ')
}

function replaceTag(text, tag, body) {
  const open = `<!-- ${tag} -->`
  const close = `<!-- ${tag}stop -->`
  const start = text.indexOf(open)
  if (start === -1) throw new Error(`README has no ${open} marker`)
  const end = text.indexOf(close, start)
  const after = end === -1 ? text.slice(start + open.length) : text.slice(end + close.length)
  return `${text.slice(0, start)}${open}\n${body}\n${close}${after}`
}

function mapTag(text, tag, fn) {
  const open = `<!-- ${tag} -->`
  const close = `<!-- ${tag}stop -->`
  const start = text.indexOf(open)
  const end = text.indexOf(close, start)
  if (start === -1 || end === -1) return text
  return text.slice(0, start + open.length) + fn(text.slice(start + open.length, end)) + text.slice(end)
}

function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const opt = (name) => {
    const at = args.indexOf(name)
    return at === -1 ? undefined : resolve(args[at + 1] ?? '')
  }
  const readmePath = opt('--readme')
  const manOut = opt('--man-out')
  await updateReadme({readmePath})
  process.stdout.write(`README: ${readmePath ?? join(ROOT, 'README.md')}\n`)
  const pages = await generate({outDir: manOut, updatePackage: manOut === undefined})
  process.stdout.write(`man pages: ${[...pages.keys()].join(', ')} -> ${manOut ?? join(ROOT, 'man')}\n`)
}
