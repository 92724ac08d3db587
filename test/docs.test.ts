/**
 * The generated documentation is fresh and well-formed: oclif.manifest.json, the README's command
 * reference and tables, the man pages and package.json "man". Each is regenerated into a temporary
 * directory from the compiled CLI (dist/, built before the tests) and compared with the checked-in
 * file, so a command whose help changed without "npm run docs" fails here.
 */
import {execFile, execFileSync} from 'node:child_process'
import {cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

// @ts-expect-error: plain ESM scripts without type declarations
import {updateReadme} from '../scripts/gen-docs.mjs'
// @ts-expect-error: plain ESM scripts without type declarations
import {ENVIRONMENT, generate} from '../scripts/gen-man.mjs'

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..')
const run = promisify(execFile)
const FIX = 'run "npm run docs" and commit the result'

interface ManifestFlag {
  name: string
  type: string
}
interface ManifestCommand {
  id: string
  summary?: string
  description?: string
  examples?: Array<string | {command: string; description?: string}>
  enableJsonFlag?: boolean
  flags: Record<string, ManifestFlag>
  hidden?: boolean
}
interface Manifest {
  version: string
  commands: Record<string, ManifestCommand>
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T
const pkg = readJson<{version: string; man?: string[]; oclif: {bin: string; topics?: Record<string, {description?: string}>}}>(join(ROOT, 'package.json'))

let tmp: string
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'licadm-docs-'))
})
afterAll(() => {
  rmSync(tmp, {recursive: true, force: true})
})

/** A manifest generated now from dist/, in a copy of the project, so the real one is not touched. */
async function freshManifest(): Promise<Manifest> {
  const dir = mkdtempSync(join(tmp, 'manifest-'))
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'))
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), {recursive: true})
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
  await run(process.execPath, [join(ROOT, 'node_modules', 'oclif', 'bin', 'run.js'), 'manifest', dir], {
    cwd: dir,
    env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true'},
  })
  return readJson<Manifest>(join(dir, 'oclif.manifest.json'))
}

function gitShow(path: string): string | undefined {
  try {
    return execFileSync('git', ['show', `HEAD:${path}`], {cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024})
  } catch {
    return undefined // not a git checkout (e.g. an unpacked tarball), or not committed yet
  }
}

const manPages = () => readdirSync(join(ROOT, 'man')).filter((f) => /\.\d$/.test(f)).sort()

describe('oclif.manifest.json', () => {
  let fresh: Manifest
  beforeAll(async () => {
    fresh = await freshManifest()
  })

  it('matches the commands in dist/', () => {
    const current = readJson<Manifest>(join(ROOT, 'oclif.manifest.json'))
    expect(current, 'oclif.manifest.json is stale: run "npm run build:fast"').toEqual(fresh)
  })

  it('is committed fresh (the version in git HEAD matches the commands in dist/)', (ctx) => {
    const committed = gitShow('oclif.manifest.json')
    if (committed === undefined) ctx.skip()
    expect(JSON.parse(committed!), 'the committed oclif.manifest.json is stale: commit the one "npm run build:fast" wrote').toEqual(fresh)
  })
})

describe('README.md', () => {
  it('has a fresh command reference, exit-code and environment tables', async () => {
    const copy = join(tmp, 'README.md')
    writeFileSync(copy, readFileSync(join(ROOT, 'README.md'), 'utf8'))
    const regenerated = await updateReadme({readmePath: copy})
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8'), `README.md is stale: ${FIX}`).toBe(regenerated)
  })

  it('documents every LICADM_ environment variable the code reads', () => {
    const documented = new Set((ENVIRONMENT as Array<[string, string]>).map(([name]) => name))
    const read = new Set<string>()
    for (const file of readdirSync(join(ROOT, 'src'), {recursive: true, encoding: 'utf8'}).filter((f) => f.endsWith('.ts'))) {
      for (const m of readFileSync(join(ROOT, 'src', file), 'utf8').matchAll(/\bLICADM_[A-Z0-9_]+/g)) read.add(m[0])
    }
    expect(read.size).toBeGreaterThan(5)
    expect([...read].filter((name) => !documented.has(name)), 'add them to ENVIRONMENT in scripts/gen-man.mjs').toEqual([])
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    for (const name of read) expect(readme, name).toContain(`| \`${name}\` |`)
  })

  it('lists every command in its reference', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const manifest = readJson<Manifest>(join(ROOT, 'oclif.manifest.json'))
    for (const c of Object.values(manifest.commands).filter((c) => !c.hidden)) {
      expect(readme, `README.md has no section for ${c.id}: ${FIX}`).toContain(`### \`${pkg.oclif.bin} ${c.id.replaceAll(':', ' ')}`)
    }
  })
})

describe('man pages', () => {
  let fresh: Map<string, string>
  beforeAll(async () => {
    fresh = await generate({outDir: join(tmp, 'man')})
  })

  it('are fresh: man/ holds exactly what scripts/gen-man.mjs generates', () => {
    expect(manPages(), `man/ has other pages than the commands make: ${FIX}`).toEqual([...fresh.keys()].sort())
    for (const [file, text] of fresh) {
      expect(readFileSync(join(ROOT, 'man', file), 'utf8'), `man/${file} is stale: ${FIX}`).toBe(text)
    }
  })

  it('include a page for each topic and each top-level command', () => {
    const manifest = readJson<Manifest>(join(ROOT, 'oclif.manifest.json'))
    const names = new Set(Object.values(manifest.commands).filter((c) => !c.hidden).map((c) => c.id.split(':')[0]))
    expect([...fresh.keys()].sort()).toEqual([`${pkg.oclif.bin}.1`, ...[...names].map((n) => `${pkg.oclif.bin}-${n}.1`)].sort())
  })

  const groff = (() => {
    try {
      execFileSync('groff', ['--version'], {stdio: 'ignore'})
      return true
    } catch {
      return false
    }
  })()

  it.skipIf(!groff)('pass groff -man -ww without a warning', async () => {
    const checks = manPages().flatMap((file) =>
      [[], ['-Tutf8']].map(async (device) => {
        const {stderr} = await run('groff', ['-man', '-ww', '-z', ...device, join(ROOT, 'man', file)])
        return {file, device: device.join(' ') || 'default device', stderr}
      }),
    )
    for (const {file, device, stderr} of await Promise.all(checks)) {
      expect(stderr, `groff warns about man/${file} (${device})`).toBe('')
    }
  })

  it('are listed in package.json "man", and nothing else is', () => {
    expect(pkg.man, `package.json "man" is out of step with man/: ${FIX}`).toEqual([...fresh.keys()].map((f) => `./man/${f}`))
    expect([...(pkg.man ?? [])].sort()).toEqual(manPages().map((f) => `./man/${f}`))
    for (const entry of pkg.man ?? []) {
      expect(entry, 'npm needs a section number at the end of a "man" entry').toMatch(/\.\d$/)
      expect(existsSync(join(ROOT, entry))).toBe(true)
    }
  })
})

describe('command help', () => {
  const manifest = readJson<Manifest>(join(ROOT, 'oclif.manifest.json'))
  const commands = Object.values(manifest.commands).filter((c) => !c.hidden)

  it('has commands', () => {
    expect(commands.length).toBeGreaterThan(0)
  })

  it.each(commands.map((c) => [c.id, c] as const))('%s has a summary, a description, examples and --json', (_id, c) => {
    expect(c.summary?.trim(), 'summary').toBeTruthy()
    expect((c.description ?? c.summary)?.trim(), 'description or summary').toBeTruthy()
    const examples = (c.examples ?? []).map((e) => (typeof e === 'string' ? e : e.command))
    expect(examples.length, 'at least one example').toBeGreaterThan(0)
    for (const e of examples) expect(e, 'examples name the command as <%= config.bin %>').toContain('<%= config.bin %>')
    expect(c.enableJsonFlag, 'enableJsonFlag').toBe(true)
    expect(c.flags.json?.type, '--json flag').toBe('boolean')
  })

  it('every topic has a description in package.json oclif.topics', () => {
    const topics = new Set(commands.filter((c) => c.id.includes(':')).map((c) => c.id.split(':')[0]))
    const missing = [...topics].filter((t) => !pkg.oclif.topics?.[t]?.description)
    expect(missing, 'topics without a description').toEqual([])
  })
})
