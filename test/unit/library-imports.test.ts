/**
 * What a vendor's application loads when it imports the library (src/index.ts): node's own modules
 * and licadm's, nothing from node_modules at import time (the store's query builder alone is
 * hundreds of modules). Heavy modules are imported lazily, where they are needed.
 */
import {readFileSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src')

/** The modules a source file imports when it is loaded: static imports and re-exports, not `import type` nor `await import()`. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const found: string[] = []
  for (const m of text.matchAll(/^(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?'([^']+)'/gm)) found.push(m[1])
  return found
}

function graph(entry: string): {files: Set<string>; packages: Map<string, string>} {
  const files = new Set<string>()
  const packages = new Map<string, string>()
  const visit = (file: string) => {
    if (files.has(file)) return
    files.add(file)
    for (const spec of staticImports(file)) {
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
      else if (!spec.startsWith('node:')) packages.set(spec, file.slice(SRC.length + 1))
    }
  }
  visit(join(SRC, entry))
  return {files, packages}
}

describe('the library loads nothing from node_modules when imported', () => {
  it('src/index.ts reaches node: modules and licadm modules only', () => {
    const {files, packages} = graph('index.ts')
    expect(files.size).toBeGreaterThan(10)
    expect(Object.fromEntries(packages)).toEqual({})
  })

  it('the check sees a package import (it would catch kysely coming back)', () => {
    const {packages} = graph('services/licenses.ts')
    expect([...packages.keys()]).toContain('kysely')
  })
})
