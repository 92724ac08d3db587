/**
 * Shutting a seat client down while checkouts are under way, and signals with several clients in
 * one process: no seat is left held when close(), releaseAll() or the signal handler is done.
 */
import {spawn} from 'node:child_process'

import {afterAll, describe, expect, it} from 'vitest'

import type {SeatClient} from '../../src/client/seat-client.js'
import type {Grant} from '../../src/services/seats.js'
import {CLIENT_TOKEN, closeAll, refusal, testServer} from './helpers.js'
import {seatClient, serverWithTtl, until, used} from './seat-client-helpers.js'

afterAll(closeAll)

/**
 * Holds the answer to the client's next checkout: `granted` resolves once the server has granted
 * the seat, and the answer reaches the client only when `answer()` is called.
 */
function holdCheckoutAnswer(seats: SeatClient): {granted: Promise<void>; answer: () => void} {
  const real = seats.client.checkout.bind(seats.client)
  let answer!: () => void
  let granted!: () => void
  const answered = new Promise<void>((resolve) => (answer = resolve))
  const got = new Promise<void>((resolve) => (granted = resolve))
  seats.client.checkout = async (input, options) => {
    const grant: Grant = await real(input, options)
    granted()
    await answered
    return grant
  }
  return {granted: got, answer}
}

/** Whether `promise` settles by itself, before anything else happens (a macrotask later). */
async function settlesAlone(promise: Promise<unknown>): Promise<boolean> {
  let settled = false
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  )
  await new Promise((resolve) => setImmediate(resolve))
  return settled
}

describe('checkouts under way when the client is shut down', () => {
  it('close() during a checkout request (not waiting in line) waits for its answer and releases the seat it got', async () => {
    const {s, two} = await serverWithTtl(60)
    const hooks = process.listenerCount('SIGINT')
    const {seats} = seatClient(s)
    const held = holdCheckoutAnswer(seats)
    const checkout = refusal(seats.checkout({license: two}))
    await held.granted
    expect(await used(s, two)).toBe(1)
    const closing = seats.close()
    // It waits for the checkout's answer.
    expect(await settlesAlone(closing)).toBe(false)
    held.answer()
    await closing
    // Free as soon as close() resolves, and no seat (nor its heartbeat timer) was handed over.
    expect(await used(s, two)).toBe(0)
    expect(await checkout).toMatchObject({code: 'USAGE', message: expect.stringMatching(/closed/)})
    expect(seats.seats).toEqual([])
    expect(process.listenerCount('SIGINT')).toBe(hooks)
    await s.close()
  })

  it('releaseAll() during a checkout request: the checkout is cancelled, its seat released before releaseAll() resolves; the client checks out again after', async () => {
    const {s, two} = await serverWithTtl(60)
    const {seats} = seatClient(s)
    const held = holdCheckoutAnswer(seats)
    const checkout = refusal(seats.checkout({license: two}))
    await held.granted
    const releasing = seats.releaseAll()
    expect(await settlesAlone(releasing)).toBe(false)
    held.answer()
    await releasing
    expect(await used(s, two)).toBe(0)
    expect(await checkout).toMatchObject({code: 'CANCELLED', exit: 9})
    const seat = await seats.checkout({license: two}, {autoHeartbeat: false})
    expect(seat.active).toBe(true)
    await seats.close()
    expect(await used(s, two)).toBe(0)
    await s.close()
  })

  it('releaseAll() ends a checkout waiting in line: nothing is held or waiting when it resolves', async () => {
    const {s, two} = await serverWithTtl(60)
    await s.client.checkout({license: two, user: 'h1', host: 'x'})
    await s.client.checkout({license: two, user: 'h2', host: 'x'})
    const {seats} = seatClient(s)
    let ended = false
    const waiting = refusal(seats.checkout({license: two}, {waitMs: 600_000})).finally(() => (ended = true))
    await until('it waits on the server', () => s.seats.queue.length === 1)
    await seats.releaseAll()
    await until('the checkout ended', () => ended, 5000)
    expect(await waiting).toMatchObject({code: 'CANCELLED'})
    await until('the server drops the wait', () => s.seats.queue.length === 0)
    expect((await s.client.list({license: two}))[0].holders.map((h) => h.user).sort()).toEqual(['h1', 'h2'])
    await s.close()
  })
})

describe('signals with several seat clients in one process', () => {
  it('one SIGINT/SIGTERM listener for all the clients, removed when none holds a seat', async () => {
    const {s, two} = await serverWithTtl(60)
    const hooks = {sigint: process.listenerCount('SIGINT'), sigterm: process.listenerCount('SIGTERM'), beforeExit: process.listenerCount('beforeExit')}
    const [a, b] = [seatClient(s).seats, seatClient(s, {user: 'other'}).seats]
    await a.checkout({license: two}, {autoHeartbeat: false})
    await b.checkout({license: two}, {autoHeartbeat: false})
    expect(process.listenerCount('SIGINT')).toBe(hooks.sigint + 1)
    expect(process.listenerCount('SIGTERM')).toBe(hooks.sigterm + 1)
    expect(process.listenerCount('beforeExit')).toBe(hooks.beforeExit + 1)
    await a.close()
    expect(process.listenerCount('SIGINT')).toBe(hooks.sigint + 1)
    await b.releaseAll()
    expect(process.listenerCount('SIGINT')).toBe(hooks.sigint)
    expect(process.listenerCount('SIGTERM')).toBe(hooks.sigterm)
    expect(process.listenerCount('beforeExit')).toBe(hooks.beforeExit)
    await s.close()
  })

  it('a SIGINT the app handles itself: the seats are released and the app hears it through onLost (RELEASED_ON_SIGNAL), as it may go on running', async () => {
    const {s, two} = await serverWithTtl(60)
    const lost: Array<{code: string; seat: string}> = []
    const {seats} = seatClient(s, {onLost: (error, seat) => lost.push({code: error.code, seat: seat.id})})
    const seat = await seats.checkout({license: two}, {autoHeartbeat: false})
    const appHandler = () => {}
    process.on('SIGINT', appHandler)
    try {
      process.emit('SIGINT', 'SIGINT')
      await until('the app hears of the release', () => lost.length > 0)
      expect(lost).toEqual([{code: 'RELEASED_ON_SIGNAL', seat: seat.id}])
      expect(seat.state).toBe('released')
      expect(await used(s, two)).toBe(0)
    } finally {
      process.removeListener('SIGINT', appHandler)
      await seats.close()
      await s.close()
    }
  })

  it("SIGTERM to an app with two clients and no handler of its own: both seats are released before the process ends by the signal", async () => {
    const s = await testServer()
    const ten = s.license('ten')
    const script = new URL('fixtures/two-seat-clients.mjs', import.meta.url).pathname
    const child = spawn(process.execPath, [script, s.url, CLIENT_TOKEN, ten], {stdio: ['ignore', 'pipe', 'pipe']})
    try {
      let err = ''
      child.stderr.on('data', (b) => (err += b))
      const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) => child.on('exit', (code, signal) => resolve({code, signal})))
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => b.toString().includes('ready') && resolve())
        child.on('exit', (code) => reject(new Error(`app exited ${code}: ${err}`)))
      })
      expect(await used(s, ten)).toBe(2)
      child.kill('SIGTERM')
      expect(await exited, err).toEqual({code: null, signal: 'SIGTERM'})
      expect(await used(s, ten)).toBe(0)
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await s.close()
    }
  })
})
