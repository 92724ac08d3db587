import {sign, verify} from 'node:crypto'

import {createLocalJWKSet, jwtVerify} from 'jose'
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import {dearmor} from '../../src/crypto/armor.js'
import {generateSigningKey, signerFor} from '../../src/crypto/keys.js'
import {LicadmError} from '../../src/domain/errors.js'
import {decodeCompact} from '../../src/crypto/jws.js'
import {LICENSE_TYP, signLicense, type LicenseClaims} from '../../src/formats/license.js'
import {SigningPool, type SigningJob} from '../../src/services/bulk.js'
import {CHUNK_SIZE} from '../../src/services/licenses.js'
import {openStoreReadOnly} from '../helpers/cli.js'
import {adminFixture, type AdminFixture} from '../helpers/admin-fixture.js'
import {rejection} from './helpers.js'

const realStart = SigningPool.start.bind(SigningPool)

/** Signing inputs of different lengths, like license payloads of different customers. */
const inputs = (n: number, tag: string) => Array.from({length: n}, (_, i) => `${tag}.${i}.${'x'.repeat(i % 97)}`)
/** A job's signatures, 64 bytes each, one by one. */
const each = (signatures: Buffer) => Array.from({length: signatures.length / 64}, (_, i) => signatures.subarray(64 * i, 64 * i + 64))

describe('signing pool: this thread and the workers share a chunk', () => {
  it('makes the key\'s own signature of every input, in order, whichever thread signed it', async () => {
    const {privateKey, publicKey} = generateSigningKey()
    const pool = SigningPool.start(signerFor(privateKey))
    // The test machine has a core to spare; licadm signs on one thread without it (tested by the runs below).
    if (!pool) return
    try {
      // Left to the workers alone.
      const first = inputs(300, 'first')
      const byWorkers = each(await pool.submit(first).signatures)
      // Ed25519 signatures are deterministic: each must be the one this thread makes for its input.
      expect(byWorkers.map((s) => s.toString('hex'))).toEqual(first.map((d) => sign(null, Buffer.from(d), privateKey).toString('hex')))

      // Helped at once: this thread claims the first batches before a worker can see the job.
      const second = inputs(3000, 'second')
      const job = pool.submit(second)
      const here = job.help()
      const signatures = each(await job.signatures)
      expect(here).toBeGreaterThan(0)
      expect(here).toBeLessThanOrEqual(second.length)
      expect(signatures).toHaveLength(second.length)
      for (const [i, s] of signatures.entries()) expect(verify(null, Buffer.from(second[i]), publicKey, s), `input ${i}`).toBe(true)
      expect(signatures.map((s) => s.toString('hex'))).toEqual(second.map((d) => sign(null, Buffer.from(d), privateKey).toString('hex')))
      // A job that is done has nothing left to help with.
      expect(job.help()).toBe(0)
    } finally {
      await pool.close()
    }
  })

  it('fails the waiting jobs when a worker stops, instead of waiting forever', async () => {
    const pool = SigningPool.start(signerFor(generateSigningKey().privateKey))
    if (!pool) return
    const job = pool.submit(inputs(2000, 'stopped'))
    await pool.close()
    await expect(job.signatures).rejects.toThrow(/stopped/)
    await expect(pool.submit(inputs(10, 'after')).signatures).rejects.toThrow(/stopped/)
  })
})

describe('bulk issuance with signing threads', () => {
  let f: AdminFixture
  beforeEach(async () => {
    f = await adminFixture()
  })
  afterEach(async () => {
    await f.close()
  })

  const rows = (n: number, last?: string) =>
    Array.from({length: n}, (_, i) => (i === n - 1 && last ? last : JSON.stringify({product: 7, customer: `c${i}`, expires: '365d', meta: {order: `SO-${i}`}}))).join('\n')

  it('stores every license once, each verifying with jose, however the signing was shared', async () => {
    const start = vi.spyOn(SigningPool, 'start')
    const jobs: Array<{size: number; here: number; job: SigningJob}> = []
    start.mockImplementation((signer) => {
      const pool = realStart(signer)
      if (!pool) return undefined
      const submit = pool.submit.bind(pool)
      pool.submit = (list) => {
        const job = submit(list)
        const entry = {size: list.length, here: 0, job}
        jobs.push(entry)
        return {signatures: job.signatures, help: () => (entry.here += job.help())}
      }
      return pool
    })
    const total = 2 * CHUNK_SIZE + 500
    const summary = await f.backend.bulk.run(rows(total), 'ndjson')
    expect(summary).toMatchObject({rows: total, issued: total, alreadyIssued: 0})
    expect(start).toHaveBeenCalledTimes(1)
    // Every license went through the pool (when the machine has a core for it), one job a chunk.
    if (jobs.length > 0) expect(jobs.map((j) => j.size)).toEqual([CHUNK_SIZE, CHUNK_SIZE, 500])

    const db = await openStoreReadOnly(f.storePath)
    try {
      const stats = db.prepare('select count(*) as n, count(distinct id) as ids, count(distinct ticket) as tickets, count(distinct jws) as files from licenses').get()
      expect(stats).toEqual({n: total, ids: total, tickets: total, files: total})
      expect((db.prepare('select count(*) as n from requests').get() as {n: number}).n).toBe(total)
    } finally {
      db.close()
    }
    const jwks = createLocalJWKSet({keys: (await f.backend.vendor.exportKey()).map((k) => k.jwk)})
    const options = {algorithms: ['EdDSA'], typ: LICENSE_TYP, issuer: '1234', currentDate: new Date(f.clock.now())}
    for (const l of summary.licenses) {
      const {jws} = dearmor((await f.backend.licenses.export(l.id)).file, 'LICENSE')
      const {payload} = await jwtVerify(jws, jwks, options)
      expect(payload.sub).toBe(l.id)
    }
    // Laid out in bulk, a license file is byte for byte what signLicense makes of its claims
    // (Ed25519 is deterministic): one format, whichever path issued it.
    const signer = await f.backend.vendor.signer()
    for (const l of [summary.licenses[0], summary.licenses[CHUNK_SIZE + 1], summary.licenses[total - 1]]) {
      const {jws} = dearmor((await f.backend.licenses.export(l.id)).file, 'LICENSE')
      expect(signLicense(decodeCompact(jws).payload as unknown as LicenseClaims, signer)).toBe(jws)
    }
    // One audit event per transaction.
    const events = (await f.backend.audit.list({action: 'license.create', limit: 100})).events.filter((e) => e.subject.startsWith('batch:'))
    expect(events.map((e) => (e.after as {count: number}).count)).toEqual([CHUNK_SIZE, CHUNK_SIZE, 500])
  })

  it('issues nothing when a bad row comes after chunks that were already being signed', async () => {
    const total = 3 * CHUNK_SIZE
    const e = await rejection(f.backend.bulk.run(rows(total, '{"product": 7, "quantity": 0}'), 'ndjson'))
    expect(e).toBeInstanceOf(LicadmError)
    expect(e.details!.errors).toMatchObject([{line: total, field: 'quantity'}])
    expect((await f.backend.licenses.list({limit: 10})).licenses).toEqual([])
    expect((await f.backend.audit.list({action: 'license.create'})).events).toEqual([])
    // The same file, fixed, issues every row.
    const summary = await f.backend.bulk.run(rows(total), 'ndjson')
    expect(summary.issued).toBe(total)
  })
})
