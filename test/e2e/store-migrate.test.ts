/**
 * A store's schema is brought up to date in one transaction: processes that open the same new store
 * together wait for each other instead of migrating it twice at once.
 */
import {spawn} from 'node:child_process'
import {join, resolve} from 'node:path'
import {pathToFileURL} from 'node:url'

import {afterAll, describe, expect, it} from 'vitest'

import {LATEST_MIGRATION} from '../../src/store/migrations.js'
import {tempDir} from '../unit/helpers.js'

const tmp = tempDir()
afterAll(() => tmp.cleanup())

const STORE = pathToFileURL(resolve('dist/store/store.js')).href
/** Opens the store at argv[1] with the built licadm, prints "ok" or the refusal, and closes it. */
const OPEN = `const {openStore} = await import(${JSON.stringify(STORE)})
try { const s = await openStore({path: process.argv[1]}); const r = await s.runSync((q) => q.get("select max(name) as m from kysely_migration")); await s.close(); console.log('ok ' + r.m) }
catch (e) { console.log('FAIL ' + e.code + ' ' + e.message) }`

function open(path: string): {done: Promise<string>; kill(): void} {
  const child = spawn(process.execPath, ['--input-type=module', '-e', OPEN, path], {stdio: ['ignore', 'pipe', 'inherit']})
  let out = ''
  child.stdout.on('data', (b: Buffer) => (out += b.toString()))
  return {done: new Promise((resolve) => child.on('close', () => resolve(out.trim()))), kill: () => child.kill('SIGKILL')}
}

describe('migrating a store', {timeout: 120_000}, () => {
  it('four processes opening the same new store at once all get it, migrated once', async () => {
    for (let round = 0; round < 3; round++) {
      const path = join(tmp.dir, `together-${round}`, 'licadm.db')
      const outcomes = await Promise.all([1, 2, 3, 4].map(() => open(path).done))
      expect(outcomes, `round ${round}`).toEqual(Array(4).fill(`ok ${LATEST_MIGRATION}`))
    }
  })
})
