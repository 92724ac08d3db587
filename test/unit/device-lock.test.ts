/**
 * The device directory's lock: a state change (DeviceStore.update) holds state.lock, so licadm
 * processes on one device wait for each other instead of losing each other's change; a lock that is
 * never released ends in a clear refusal; one left by a process that is gone is taken over.
 */
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import {join} from 'node:path'

import {afterAll, afterEach, describe, expect, it} from 'vitest'

import {DeviceStore} from '../../src/device/state.js'
import {ConflictError, ExitCode} from '../../src/domain/errors.js'
import {tempDir} from './helpers.js'

const tmp = tempDir()
afterAll(tmp.cleanup)
let n = 0

function newDevice(options: {lockTimeoutMs?: number} = {}): DeviceStore {
  const dir = join(tmp.dir, `lock-${++n}`)
  new DeviceStore(dir).init({fingerprint: `SIM-LOCK-${n}`, name: `lock ${n}`, platform: 'test', fingerprintSource: 'given'}, new Date(Date.UTC(2026, 5, 1)))
  return new DeviceStore(dir, options)
}

/** A lock file as a licadm process with this pid writes it. */
function holdLock(store: DeviceStore, pid: number, host = hostname()): void {
  writeFileSync(join(store.dir, 'state.lock'), `${JSON.stringify({pid, host, nonce: `held-by-${pid}`, since: '2026-06-01T00:00:00.000Z'})}\n`)
}

const children: ChildProcess[] = []
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL')
})

/** A running process (not this one) to stand for another licadm; it runs `code`, then ends. */
async function otherProcess(code = 'setTimeout(() => {}, 30_000)', ...args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', code, ...args], {stdio: ['ignore', 'ignore', 'inherit']})
  children.push(child)
  await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject))
  return child
}

function refusal(fn: () => unknown): ConflictError {
  try {
    fn()
  } catch (error) {
    if (error instanceof ConflictError) return error
    throw error
  }
  throw new Error('expected a refusal, but the change went through')
}

describe('DeviceStore lock', () => {
  it('a change waits while another running process holds the lock, and goes through once it is released', async () => {
    const store = newDevice({lockTimeoutMs: 10_000})
    // The other process holds the lock for about 600 ms, then releases it (removes the file).
    const lock = join(store.dir, 'state.lock')
    const other = await otherProcess('setTimeout(() => require("fs").rmSync(process.argv[1]), 600)', lock)
    holdLock(store, other.pid!)
    const started = performance.now()
    store.update((s) => {
      // Only after the other process is done.
      expect(existsSync(lock)).toBe(true)
      expect(JSON.parse(readFileSync(lock, 'utf8')).pid).toBe(process.pid)
      s.usedSaws.push('saw_after_wait')
    })
    expect(performance.now() - started).toBeGreaterThanOrEqual(400)
    expect(store.state().usedSaws).toEqual(['saw_after_wait'])
    expect(existsSync(lock)).toBe(false)
  })

  it('a lock that is not released in time: DEVICE_BUSY (exit 4) naming the process and the lock file; nothing is changed and the lock is left', async () => {
    const store = newDevice({lockTimeoutMs: 300})
    const other = await otherProcess()
    holdLock(store, other.pid!)
    const before = readFileSync(join(store.dir, 'state.json'), 'utf8')
    const started = performance.now()
    let ran = false
    const e = refusal(() =>
      store.update((s) => {
        ran = true
        s.usedSaws.push('saw_never')
      }),
    )
    expect(performance.now() - started).toBeGreaterThanOrEqual(280)
    expect(ran).toBe(false)
    expect(e).toMatchObject({code: 'DEVICE_BUSY', exit: ExitCode.conflict, details: {pid: other.pid, lockFile: join(store.dir, 'state.lock')}})
    expect(e.message).toContain(`another licadm process (pid ${other.pid}`)
    expect(e.message).toContain(`is using the device directory ${store.dir}`)
    expect(e.hint).toContain(`remove the lock file ${join(store.dir, 'state.lock')}`)
    expect(readFileSync(join(store.dir, 'state.json'), 'utf8')).toBe(before)
    expect(JSON.parse(readFileSync(join(store.dir, 'state.lock'), 'utf8')).pid).toBe(other.pid)
  })

  it('a lock left by a process that has ended is taken over at once, and removed after the change', () => {
    const store = newDevice({lockTimeoutMs: 10_000})
    const gone = spawnSync(process.execPath, ['-e', '0']).pid
    holdLock(store, gone)
    const started = performance.now()
    store.update((s) => {
      s.usedSaws.push('saw_after_stale')
    })
    expect(performance.now() - started).toBeLessThan(2000)
    expect(store.state().usedSaws).toEqual(['saw_after_stale'])
    expect(readdirSync(store.dir).sort()).toEqual(['device.json', 'enc.pem', 'sign.pem', 'state.json'])
  })

  it('a lock of a process on another host is never taken as stale (its pid means nothing here)', () => {
    const store = newDevice({lockTimeoutMs: 200})
    holdLock(store, spawnSync(process.execPath, ['-e', '0']).pid, 'some-other-host.example')
    const e = refusal(() => store.update(() => undefined))
    expect(e.code).toBe('DEVICE_BUSY')
    expect(e.message).toContain('on some-other-host.example')
  })

  it('the lock is released when the change throws, and nothing is written', () => {
    const store = newDevice()
    const before = readFileSync(join(store.dir, 'state.json'), 'utf8')
    expect(() =>
      store.update((s) => {
        s.usedSaws.push('saw_x')
        throw new Error('refused')
      }),
    ).toThrow('refused')
    expect(readFileSync(join(store.dir, 'state.json'), 'utf8')).toBe(before)
    expect(existsSync(join(store.dir, 'state.lock'))).toBe(false)
    // And the next change goes through at once.
    new DeviceStore(store.dir, {lockTimeoutMs: 100}).update((s) => s.usedSaws.push('saw_y'))
    expect(store.state().usedSaws).toEqual(['saw_y'])
  })

  it('two stores on one directory, changes one after the other, keep both changes', () => {
    const a = newDevice()
    const b = new DeviceStore(a.dir)
    a.update((s) => s.usedSaws.push('one'))
    b.update((s) => s.usedSaws.push('two'))
    expect(a.state().usedSaws).toEqual(['one', 'two'])
  })
})
