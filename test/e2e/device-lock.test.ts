/**
 * Device commands running at once on one device directory: each state change holds the directory's
 * lock, so none is lost and a SAW file is applied once. Writing the state is made slow (fsync sleeps,
 * from a preload), so both processes read the state before either has written it: without the lock,
 * the second write drops the first change, and both pass the single-use check.
 */
import {generateKeyPairSync} from 'node:crypto'
import {existsSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {describeRun} from '../helpers/cli.js'
import {lab, type Lab} from '../helpers/lab.js'

let l: Lab
let slow: Record<string, string>

beforeAll(async () => {
  l = await lab({prefix: 'licadm-device-lock-'})
  const preload = l.path('slow-fsync.mjs')
  writeFileSync(
    preload,
    `import fs from 'node:fs'
import {syncBuiltinESMExports} from 'node:module'
const fsync = fs.fsyncSync
const cell = new Int32Array(new SharedArrayBuffer(4))
fs.fsyncSync = (fd) => {
  Atomics.wait(cell, 0, 0, 1000)
  return fsync(fd)
}
syncBuiltinESMExports()
`,
  )
  slow = {NODE_OPTIONS: `--import ${pathToFileURL(preload).href}`}
})
afterAll(() => l?.cleanup())

describe('two device commands at once on one device', () => {
  it('two "device trust" at once: both keys are pinned', async () => {
    const d = await l.device('trusting', undefined, {trust: false})
    const pems = [1, 2].map((i) => {
      const path = l.path(`other-vendor-${i}.pem`)
      writeFileSync(path, generateKeyPairSync('ed25519').publicKey.export({format: 'pem', type: 'spki'}))
      return path
    })
    const results = await Promise.all(pems.map((pem) => d.spawn(['device', 'trust', pem, '--json'], slow)))
    for (const r of results) expect(r.code, describeRun(r)).toBe(0)
    const kids = results.flatMap((r) => r.json.result.trusted as string[])
    expect(Object.keys(d.state().trusted).sort()).toEqual(kids.sort())
    expect(existsSync(join(d.dir, 'state.lock'))).toBe(false)
  })

  it('the same SAW file applied twice at once (--offline): one applies it, the other is refused as used (16)', async () => {
    await l.json(['user', 'create', '--email', 'ada@example.com'])
    const serial = (await l.json(['container', 'create', '--kind', 'personal', '--user', 'ada@example.com', '--out', l.path('p.cred')])).container.serial
    const d = await l.device('twice')
    const saw = l.path('twice.saw')
    await l.json(['device', 'activate', '--container', serial, '--identity', d.identity, '--user', 'ada@example.com', '--saw', saw, '--credentials', l.path('p.cred')])
    const results = await Promise.all([1, 2].map(() => d.spawn(['saw', 'apply', saw, '--offline', '--json'], slow)))
    const codes = results.map((r) => r.code).sort()
    expect(codes, results.map(describeRun).join('\n')).toEqual([0, 16])
    const refused = results.find((r) => r.code === 16)!
    expect(refused.json.error).toMatchObject({code: 'REPLAYED', details: {reason: 'replayed'}})
    expect(d.state().usedSaws).toHaveLength(1)
  })
})
