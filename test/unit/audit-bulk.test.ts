import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {adminFixture, type AdminFixture} from '../helpers/admin-fixture.js'

let f: AdminFixture
beforeEach(async () => {
  f = await adminFixture()
})
afterEach(async () => {
  await f.close()
})

describe('audit events of bulk issuance', () => {
  it('one event per transaction names every license, and a license id finds it', async () => {
    const rows = Array.from({length: 3}, (_, i) => JSON.stringify({product: 7, customer: `c${i}`})).join('\n')
    const summary = await f.backend.bulk.run(rows, 'ndjson')
    const ids = summary.licenses.map((l) => l.id)
    const batch = (await f.backend.audit.list({action: 'license.create', limit: 100})).events.filter((e) => e.subject.startsWith('batch:'))
    expect(batch).toHaveLength(1)
    expect((batch[0].after as {licenses: string[]}).licenses).toEqual(ids)
    for (const id of ids) {
      const found = (await f.backend.audit.list({subject: id})).events
      expect(found.map((e) => e.seq)).toContain(batch[0].seq)
    }
    // A re-run issues nothing and records nothing.
    const before = (await f.backend.audit.list({limit: 10_000})).events.length
    await f.backend.bulk.run(rows, 'ndjson')
    expect((await f.backend.audit.list({limit: 10_000})).events).toHaveLength(before)
    expect((await f.backend.audit.verify()).ok).toBe(true)
  })
})
