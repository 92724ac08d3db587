import {writeFileSync} from 'node:fs'

import {afterAll, describe, expect, it} from 'vitest'

import {collect, describeRun, initVendor, ok, openStoreReadOnly, sandbox, spawnLicadm} from '../helpers/cli.js'

/** Bulk issuance as a CI pipeline runs it: files, standard input, big files, a killed run. */
const sandboxes: Array<ReturnType<typeof sandbox>> = []
function fresh() {
  const sb = sandbox('licadm-e2e-bulk-')
  sandboxes.push(sb)
  return sb
}
afterAll(() => {
  for (const sb of sandboxes) sb.cleanup()
})

function ndjson(rows: number, row: (i: number) => object): string {
  const lines: string[] = []
  for (let i = 0; i < rows; i++) lines.push(JSON.stringify(row(i)))
  return `${lines.join('\n')}\n`
}

describe('license create --from - (standard input)', () => {
  const sb = fresh()

  it('reads CSV and NDJSON from standard input with --format', async () => {
    await initVendor(sb, {products: [7, 8]})
    const csv = 'product,quantity,customer,expires\n7,2,Alpha,365d\n8,1,Beta,30d\n'
    const r = await sb.run(['license', 'create', '--from', '-', '--format', 'csv', '--json'], {input: csv})
    expect(ok(r)).toMatchObject({rows: 2, issued: 2, alreadyIssued: 0})
    // No progress bar or other noise on a non-terminal stderr.
    expect(r.stderr).toBe('')

    const nd = ndjson(3, (i) => ({product: 7, customer: `N${i}`, features: i}))
    const text = await sb.run(['license', 'create', '--from', '-', '--format', 'ndjson'], {input: nd})
    expect(text.code, describeRun(text)).toBe(0)
    expect(text.stdout).toContain('3 row(s): 3 license(s) issued')
    expect(text.stderr).toBe('')
    // The same input again (same content hash): nothing new.
    const again = ok(await sb.run(['license', 'create', '--from', '-', '--format', 'ndjson', '--json'], {input: nd}))
    expect(again).toMatchObject({rows: 3, issued: 0, alreadyIssued: 3})
    expect(ok(await sb.run(['license', 'list', '--json'])).licenses).toHaveLength(5)
  })

  it('standard input needs --format (exit 2); bad rows from standard input are reported by line (exit 2)', async () => {
    const r = await sb.run(['license', 'create', '--from', '-', '--json'], {input: '{"product":7}\n'})
    expect(r.code, describeRun(r)).toBe(2)
    expect(r.json.error.message).toContain('--format')
    const bad = 'product,quantity\n7,1\n7,-3\n9,1\n7,x\n'
    const text = await sb.run(['license', 'create', '--from', '-', '--format', 'csv'], {input: bad})
    expect(text.code, describeRun(text)).toBe(2)
    expect(text.stderr).toContain('line 3:')
    expect(text.stderr).toContain('line 5:')
    expect(text.stderr).toContain('nothing was issued')
    expect(ok(await sb.run(['license', 'list', '--json'])).licenses).toHaveLength(5)
  })
})

describe('a 10,000-row NDJSON file', () => {
  const sb = fresh()

  it('issues routinely, and license list --limit 10000 sees every license', async () => {
    await initVendor(sb, {products: [7, 8]})
    const rows = 10_000
    writeFileSync(
      sb.path('big.ndjson'),
      ndjson(rows, (i) => ({product: i % 2 === 0 ? 7 : 8, customer: `Customer ${i}`, expires: '365d', features: i % 16, 'meta.order': `SO-${i}`})),
    )
    const r = await sb.run(['license', 'create', '--from', sb.path('big.ndjson'), '--json'], {timeoutMs: 120_000})
    const summary = ok(r)
    expect(summary).toMatchObject({rows, issued: rows, alreadyIssued: 0})
    expect(summary.licenses).toHaveLength(rows)
    expect(new Set(summary.licenses.map((l: any) => l.ticket)).size).toBe(rows)

    const list = ok(await sb.run(['license', 'list', '--limit', '10000', '--json'], {timeoutMs: 60_000}))
    expect(list.licenses).toHaveLength(rows)
    expect(list.nextCursor).toBeNull()
    expect(new Set(list.licenses.map((l: any) => l.id))).toEqual(new Set(summary.licenses.map((l: any) => l.id)))
    const products = ok(await sb.run(['product', 'list', '--json'])).products
    expect(products.map((p: any) => p.licenses.available)).toEqual([5000, 5000])
  })
})

describe('crash consistency: a bulk run killed with SIGKILL part-way', () => {
  const sb = fresh()
  const rows = 20_000

  it('leaves a consistent store, and re-running the same file completes it without a duplicate', async () => {
    await initVendor(sb, {products: [7]})
    const path = sb.path('crash.ndjson')
    writeFileSync(path, ndjson(rows, (i) => ({product: 7, customer: `C${i}`, expires: '365d'})))

    const child = spawnLicadm(['license', 'create', '--from', path, '--json'], {env: sb.env})
    const done = collect(child, ['license', 'create', '--from', path], {timeoutMs: 120_000})
    const db = await openStoreReadOnly(sb.storePath())
    const count = () => (db.prepare('select count(*) as n from licenses').get() as {n: number}).n
    // Kill as soon as the first chunk is committed: the run is then certainly part-way.
    let seen = 0
    try {
      const deadline = Date.now() + 100_000
      while (seen === 0 && child.exitCode === null && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10))
        seen = count()
      }
      child.kill('SIGKILL')
    } finally {
      db.close()
    }
    const killed = await done
    expect(killed.signal, describeRun(killed)).toBe('SIGKILL')
    expect(seen).toBeGreaterThan(0)

    const check = await openStoreReadOnly(sb.storePath())
    let issued: number
    try {
      expect(check.pragma('integrity_check', {simple: true})).toBe('ok')
      expect(check.pragma('foreign_key_check')).toEqual([])
      issued = (check.prepare('select count(*) as n from licenses').get() as {n: number}).n
      // Part-way, and whole transactions only: every license with its request record.
      expect(issued).toBeGreaterThan(0)
      expect(issued).toBeLessThan(rows)
      const requests = (check.prepare('select count(*) as n from requests').get() as {n: number}).n
      expect(requests).toBe(issued)
    } finally {
      check.close()
    }

    const rerun = await sb.run(['license', 'create', '--from', path, '--json'], {timeoutMs: 120_000})
    const summary = ok(rerun)
    expect(summary).toMatchObject({rows, issued: rows - issued, alreadyIssued: issued})

    const after = await openStoreReadOnly(sb.storePath())
    try {
      expect(after.pragma('integrity_check', {simple: true})).toBe('ok')
      const stats = after
        .prepare('select count(*) as n, count(distinct request_key) as keys, count(distinct ticket) as tickets, count(distinct customer) as customers from licenses')
        .get()
      expect(stats).toEqual({n: rows, keys: rows, tickets: rows, customers: rows})
    } finally {
      after.close()
    }
  })
})
