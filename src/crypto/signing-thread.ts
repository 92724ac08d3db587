import type {KeyObject} from 'node:crypto'
import {Worker} from 'node:worker_threads'

import {ED25519_SIGNER_SOURCE, sodiumPath, type Ed25519Backend} from './ed25519.js'
import type {Signer} from './keys.js'

/** Signatures the worker sends back per message: see SigningThread. */
export const SIGNATURES_PER_ANSWER = 8

/**
 * The worker's program (CommonJS, run with eval): says which library signs (see crypto/ed25519.ts),
 * then signs each batch it is sent with the key it was given, and answers every
 * SIGNATURES_PER_ANSWER signatures with them packed into one buffer (transferred, not copied). When
 * signing fails (a key that cannot sign), it answers with the reason instead and leaves the rest of
 * that batch unsigned.
 */
const PROGRAM = `
const {parentPort, workerData} = require('node:worker_threads')
${ED25519_SIGNER_SOURCE}
const {sign, backend} = ed25519Signer(workerData.key, workerData.sodium, require)
parentPort.postMessage({backend})
const PER_ANSWER = ${SIGNATURES_PER_ANSWER}
parentPort.on('message', ({batch, items}) => {
  for (let start = 0; start < items.length; start += PER_ANSWER) {
    const end = Math.min(items.length, start + PER_ANSWER)
    const out = new Uint8Array((end - start) * 64)
    try {
      for (let i = start; i < end; i++) out.set(sign(items[i]), (i - start) * 64)
    } catch (error) {
      parentPort.postMessage({batch, start, out: new Uint8Array(0), failed: String(error && error.message || error)})
      return
    }
    parentPort.postMessage({batch, start, out, failed: null}, [out.buffer])
  }
})
`

interface Waiting {
  resolve(signature: Buffer): void
  reject(error: Error): void
}

/** The worker's answer: the signatures of items start, start + 1, … of a batch, or why it failed there. */
interface Answer {
  batch: number
  start: number
  out: Uint8Array
  failed: string | null
}

/**
 * Ed25519 signatures made on one worker thread, for the license server: it signs three times per
 * seat checkout and release. Signing in libuv's thread pool instead cost half as much again per
 * signature on a two-core machine (four pool threads woken per signature, contending with the
 * event loop for the cores); here the signatures asked for in one turn of the event loop go to the
 * worker in one message. They come back a few at a time (SIGNATURES_PER_ANSWER): under load a batch
 * holds dozens, and waiting for the whole batch left the event loop idle meanwhile, then answered
 * every client at once (measured with bench/server.bench.mjs: about 10% more cycles per second than
 * one answer per batch; one answer per signature did no better than one per batch, its messages
 * costing what they saved). The key is handed to the worker once, in memory.
 */
export class SigningThread {
  private readonly worker: Worker
  private queue: Array<{data: Buffer} & Waiting> = []
  private readonly sent = new Map<number, Waiting[]>()
  private nextBatch = 0
  private scheduled = false
  private failure: Error | null = null

  /** Which library the thread signs with: the worker's first message; ready() returns it. */
  private backend: Ed25519Backend | null = null

  /** `sodium`: where sodium-native is (by default where it is installed; null signs with node:crypto). */
  constructor(key: KeyObject, {sodium = sodiumPath()}: {sodium?: string | null} = {}) {
    this.worker = new Worker(PROGRAM, {eval: true, workerData: {key, sodium}})
    // Signing never keeps the process alive: close() ends the thread, and so does the exit.
    this.worker.unref()
    this.worker.on('message', (message: Answer | {backend: Ed25519Backend}) => {
      if ('backend' in message) this.backend = message.backend
      else this.answered(message)
    })
    this.worker.on('error', (error) => this.fail(error))
    this.worker.on('exit', (code) => this.fail(new Error(`the signing thread stopped (exit code ${code})`)))
  }

  /**
   * Resolves once the thread has signed a first time: the server waits for it before it reports
   * ready, so a thread that cannot start fails the start instead of the first request.
   */
  async ready(): Promise<Ed25519Backend> {
    await this.sign(Buffer.alloc(0))
    // The worker says which library it signs with before it answers anything.
    return this.backend as Ed25519Backend
  }

  /** The signature over `data`, made on the worker thread. */
  sign(data: Buffer): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      this.queue.push({data, resolve, reject})
      if (!this.scheduled) {
        this.scheduled = true
        // After this turn's I/O callbacks: every request read in this turn joins the batch.
        setImmediate(() => this.flush())
      }
    })
  }

  /**
   * Ends the thread once it has been idle for `graceMs`: the server signs with another key now, and
   * a request that took this key before the change still gets its signature.
   */
  retire(graceMs = 10_000): void {
    const timer = setTimeout(() => {
      if (this.queue.length === 0 && this.sent.size === 0) void this.close()
      else this.retire(graceMs)
    }, graceMs)
    timer.unref()
  }

  /** Stops the thread; signatures still waiting are refused. */
  async close(): Promise<void> {
    this.fail(new Error('the signing thread was closed'))
    await this.worker.terminate()
  }

  private flush(): void {
    this.scheduled = false
    if (this.queue.length === 0) return
    const batch = this.nextBatch++
    const items = this.queue
    this.queue = []
    this.sent.set(batch, items)
    this.worker.postMessage({batch, items: items.map((i) => i.data)})
  }

  private answered({batch, start, out, failed}: Answer): void {
    const waiting = this.sent.get(batch)
    if (!waiting) return
    const signed = out.length / 64
    for (let i = 0; i < signed; i++) waiting[start + i].resolve(Buffer.from(out.buffer, out.byteOffset + i * 64, 64))
    if (failed !== null) for (let i = start; i < waiting.length; i++) waiting[i].reject(new Error(`signing failed: ${failed}`))
    if (failed !== null || start + signed === waiting.length) this.sent.delete(batch)
  }

  private fail(error: Error): void {
    this.failure ??= error
    for (const waiting of [...this.sent.values(), this.queue].flat()) waiting.reject(this.failure)
    this.sent.clear()
    this.queue = []
  }
}

/** The same signer, whose asynchronous signatures are made on a signing thread. */
export function threadedSigner(signer: Signer, thread: SigningThread): Signer {
  return {...signer, signAsync: (data) => thread.sign(data)}
}
