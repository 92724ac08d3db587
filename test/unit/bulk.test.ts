import {join} from 'node:path'

import {afterAll, afterEach, beforeEach, describe, expect, it} from 'vitest'

import {ManualClock} from '../../src/domain/clock.js'
import {LicadmError} from '../../src/domain/errors.js'
import {localBackend, type Backend} from '../../src/services/backend.js'
import {detectFormat, readRows, type RowError} from '../../src/services/bulk.js'
import {CHUNK_SIZE} from '../../src/services/licenses.js'
import {crashOf, damage, FUZZ_SEED, generator} from '../helpers/fuzz.js'
import {rejection, tempDir} from './helpers.js'

const T0 = Date.UTC(2026, 5, 1, 12)
const tmp = tempDir()
afterAll(tmp.cleanup)
let n = 0
let backend: Backend

beforeEach(async () => {
  const dir = join(tmp.dir, `bulk-${++n}`)
  backend = await localBackend({keyDir: join(dir, 'keys'), storePath: join(dir, 'licadm.db')}, new ManualClock(T0), async () => undefined)
  await backend.vendor.init({code: 1234, name: 'Vendor'})
  await backend.products.create({code: 7, name: 'Seven'})
  await backend.products.create({code: 8, name: 'Eight'})
})
afterEach(async () => {
  await backend.close()
})

const all = async () => (await backend.licenses.list({limit: 10_000})).licenses

/** The rows a refused run reports, as [line, field] pairs; fails if the run was not refused. */
async function refusedRows(text: string, format: 'csv' | 'ndjson'): Promise<RowError[]> {
  const e = await rejection(backend.bulk.run(text, format))
  expect(e).toBeInstanceOf(LicadmError)
  expect(e.code).toBe('BULK_ROWS_INVALID')
  expect(e.exit).toBe(2)
  expect(e.message).toMatch(/nothing was issued/)
  return e.details!.errors as RowError[]
}

describe('bulk issuance', () => {
  it('issues CSV rows, with quoted cells, counts and line numbers', async () => {
    const csv = 'product,kind,quantity,customer,count,expires\r\n7,single,1,"ACME, Inc.",2,365d\r\n8,concurrent,10,"Initech ""Labs""",1,\r\n'
    const summary = await backend.bulk.run(csv, 'csv')
    expect(summary).toMatchObject({rows: 2, issued: 3, alreadyIssued: 0})
    expect(summary.licenses.map((l) => l.line)).toEqual([2, 2, 3])
    const licenses = await all()
    expect(licenses).toHaveLength(3)
    expect(licenses.filter((l) => l.customer === 'ACME, Inc.')).toHaveLength(2)
    expect(licenses.find((l) => l.customer === 'Initech "Labs"')).toMatchObject({productCode: 8, kind: 'concurrent', quantity: 10, expiresAt: null})
  })

  it('issues NDJSON rows with JSON values, a meta object, and skips blank lines', async () => {
    const ndjson = [
      '{"product": 7, "quantity": 2, "features": "0xff", "meta": {"po": "A-1", "seats": 3}}',
      '',
      '{"product_code": 8, "kind": "concurrent", "count": 2, "not_before": "2026-07-01", "expires": "30d"}\r',
    ].join('\n')
    const summary = await backend.bulk.run(ndjson, 'ndjson')
    expect(summary).toMatchObject({rows: 2, issued: 3})
    expect(summary.licenses.map((l) => l.line)).toEqual([1, 3, 3])
    const licenses = await all()
    const seven = licenses.find((l) => l.productCode === 7)!
    expect(seven).toMatchObject({quantity: 2, features: 255, metadata: {po: 'A-1', seats: '3'}})
    const eight = licenses.filter((l) => l.productCode === 8)
    const start = Date.UTC(2026, 6, 1) / 1000
    expect(eight.map((l) => [l.notBefore, l.expiresAt])).toEqual([[start, start + 30 * 86_400], [start, start + 30 * 86_400]])
  })

  it('maps meta.NAME columns to metadata, and refuses them beside a metadata column', async () => {
    await backend.bulk.run('product,meta.order,meta.region\n7,PO-9,eu\n7,PO-10,\n', 'csv')
    const licenses = await all()
    expect(licenses.map((l) => l.metadata).sort((a, b) => a.order.localeCompare(b.order))).toEqual([{order: 'PO-10'}, {order: 'PO-9', region: 'eu'}])
    const errors = await refusedRows('product,metadata,meta.x\n7,a=1,2\n', 'csv')
    expect(errors).toMatchObject([{line: 2, field: 'metadata'}])
    const bad = await refusedRows('product,meta.bad key\n7,1\n', 'csv')
    expect(bad[0].message).toMatch(/^metadata: key "bad key" is not accepted/)
  })

  it('reports every bad row with its line number and issues nothing', async () => {
    const csv = [
      'product,kind,quantity,features,expires,customer',
      '7,single,1,0,365d,ok',
      '7,floating,1,0,,bad kind', // 3
      '7,single,0,0,,zero quantity', // 4
      '7,single,1,0,,ok',
      '7,single,1,0x100000000,,features', // 6
      '"7","single","1","0","2027-02-30","bad date"', // 7
      '7,single,1', // 8: too few cells
      '7,single,1,0,2020-01-01,past', // 9
    ].join('\n')
    const errors = await refusedRows(csv, 'csv')
    expect(errors.map((e) => e.line)).toEqual([3, 4, 6, 7, 8, 9])
    expect(errors.map((e) => e.field)).toEqual(['kind', 'quantity', 'features', 'expires', undefined, 'expires'])
    // Messages name the file's columns, not the command's flags.
    expect(errors[1].message).toBe('quantity: 0 is out of range (accepted: 1 to 1000000)')
    expect(errors.every((e) => !e.message.includes('--'))).toBe(true)
    expect(await all()).toHaveLength(0)
  })

  it('reports NDJSON lines that are not JSON objects, with their line numbers', async () => {
    const ndjson = '{"product": 7}\n{not json}\n[1,2]\n\n{"product": 7, "quantity": -1}\n"text"\n'
    const errors = await refusedRows(ndjson, 'ndjson')
    expect(errors.map((e) => e.line)).toEqual([2, 3, 5, 6])
    expect(errors[0].message).toMatch(/not valid JSON/)
    expect(errors[2].message).toMatch(/^quantity: -1 is out of range/)
    expect(await all()).toHaveLength(0)
  })

  it('counts lines of multi-line quoted cells when it reports a row', async () => {
    const csv = 'product,customer,quantity\n7,"line one\nline two\nline three",1\n7,x,0\n'
    const errors = await refusedRows(csv, 'csv')
    expect(errors.map((e) => e.line)).toEqual([5])
    const unterminated = await refusedRows('product,customer\n7,ok\n7,"never closed\n7,x\n', 'csv')
    expect(unterminated).toEqual([{line: 3, message: 'a quoted cell is never closed'}])
    expect(await all()).toHaveLength(0)
  })

  it('refuses unknown columns, naming them and the accepted ones', async () => {
    // Said once, on the header's line, however many rows follow.
    const errors = await refusedRows(`product,qty,colour\n${'7,1,red\n'.repeat(500)}`, 'csv')
    expect(errors).toHaveLength(2)
    expect(errors.map((e) => [e.line, e.field])).toEqual([[1, 'qty'], [1, 'colour']])
    expect(errors[0].message).toMatch(/unknown column "qty" \(accepted: .*quantity.*meta\.NAME\)/)
    const nd = await refusedRows('{"product": 7, "colour": "red"}\n', 'ndjson')
    expect(nd[0]).toMatchObject({line: 1, field: 'colour'})
    expect(await all()).toHaveLength(0)
  })

  it('refuses an empty file and a header without rows', async () => {
    expect(await refusedRows('', 'csv')).toMatchObject([{line: 1}])
    expect(await refusedRows('product,quantity\n', 'csv')).toMatchObject([{line: 1, message: 'the file has no license rows'}])
    expect(await refusedRows('\n\n', 'ndjson')).toMatchObject([{line: 1}])
  })

  it('refuses rows for products that do not exist, issuing nothing', async () => {
    const errors = await refusedRows('product\n7\n99\n7\n98\n', 'csv')
    expect(errors.map((e) => [e.line, e.field])).toEqual([[3, 'product'], [5, 'product']])
    expect(errors[0].message).toMatch(/product 99 not found/)
    expect(await all()).toHaveLength(0)
  })

  // Known bug in src/services/bulk.ts: unknown products are looked up only when every row passed the
  // other checks, so a file with both kinds of mistakes reports only the first kind. Remove `.fails`
  // when fixed.
  it('reports unknown products together with other bad rows in one run', async () => {
    const errors = await refusedRows('product,quantity\n99,1\n7,0\n', 'csv')
    expect(errors.map((e) => e.line)).toEqual([2, 3])
  })

  // Known bug in src/services/bulk.ts: a blank `count` cell is read as null instead of the default 1;
  // the row is accepted, issues nothing, and its idempotency record violates NOT NULL, failing the
  // whole run after validation. Remove `.fails` when fixed.
  it('takes a blank count cell as 1', async () => {
    const summary = await backend.bulk.run('product,count\n7,2\n7,\n', 'csv')
    expect(summary.issued).toBe(3)
  })

  it('treats blank optional cells as defaults', async () => {
    const summary = await backend.bulk.run('product,kind,quantity,features,units,expires,customer\n7,,,,,,\n', 'csv')
    expect(summary.issued).toBe(1)
    expect((await all())[0]).toMatchObject({kind: 'single', quantity: 1, features: 0, units: null, expiresAt: null, customer: null})
  })

  it('issues nothing new when the same text is run again', async () => {
    const csv = 'product,customer,count\n7,A,2\n8,B,1\n'
    const first = await backend.bulk.run(csv, 'csv')
    const second = await backend.bulk.run(csv, 'csv')
    expect(second).toMatchObject({rows: 2, issued: 0, alreadyIssued: 2})
    expect(second.licenses.every((l) => l.replayed)).toBe(true)
    expect(second.licenses.map((l) => l.id)).toEqual(first.licenses.map((l) => l.id))
    expect(await all()).toHaveLength(3)
    // Other text (here one more row) is another run.
    const third = await backend.bulk.run(`${csv}7,C,1\n`, 'csv')
    expect(third.issued).toBe(4)
    expect(await all()).toHaveLength(7)
  })

  it('keys rows by their own idempotency_key column across different files, and by the run key otherwise', async () => {
    const first = await backend.bulk.run('idempotency_key,product,customer\nk-1,7,A\nk-2,7,B\n', 'csv')
    expect(first.issued).toBe(2)
    // Reordered, with a new row: k-1 and k-2 are returned, only k-3 is issued.
    const second = await backend.bulk.run('product,customer,idempotency_key\n7,C,k-3\n7,B,k-2\n7,A,k-1\n', 'csv')
    expect(second).toMatchObject({issued: 1, alreadyIssued: 2})
    expect(second.licenses.find((l) => l.key === 'k-1')!.id).toBe(first.licenses.find((l) => l.key === 'k-1')!.id)
    expect(await all()).toHaveLength(3)
    // The same key with other input is a bad row, and nothing of that run is issued.
    const reused = await refusedRows('idempotency_key,product,customer\nk-4,7,D\nk-1,7,Changed\n', 'csv')
    expect(reused).toMatchObject([{line: 3, field: 'idempotency_key'}])
    expect(await all()).toHaveLength(3)
    // A key used twice in one file is a bad row.
    const dup = await refusedRows('ref,product\nx,7\nx,7\n', 'csv')
    expect(dup).toMatchObject([{line: 3, field: 'idempotency_key'}])
    expect(dup[0].message).toMatch(/first on line 2/)
    // With an explicit run key, rows are keyed by it and their line: other text, same key, same licenses.
    const a = await backend.bulk.run('product\n8\n', 'csv', {idempotencyKey: 'run-1'})
    const b = await backend.bulk.run('product\r\n8\r\n', 'csv', {idempotencyKey: 'run-1'})
    expect(b.alreadyIssued).toBe(1)
    expect(b.licenses[0].id).toBe(a.licenses[0].id)
    // Blank key cells are no key: each row is keyed by its line, and none is taken for another.
    const blank = await backend.bulk.run('product,idempotency_key\n8,  \n8,\t\n', 'csv', {idempotencyKey: 'run-2'})
    expect(blank).toMatchObject({issued: 2, alreadyIssued: 0})
    expect(blank.licenses.map((l) => l.key)).toEqual(['run-2#2', 'run-2#3'])
  })

  it('refuses a key used before for other input as a bad row, with its line, before any chunk is issued', async () => {
    await backend.licenses.create({product: '7', customer: 'Old'}, {idempotencyKey: 'ORDER-42'})
    // 2,500 rows; the row on line 2400 (in the third chunk) reuses ORDER-42 with other fields.
    const rows = ['product,kind,quantity,customer,idempotency_key']
    for (let line = 2; line <= 2501; line++) rows.push(line === 2400 ? '7,single,1,New,ORDER-42' : `7,single,1,c${line},R-${line}`)
    const errors = await refusedRows(rows.join('\n'), 'csv')
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({line: 2400, field: 'idempotency_key'})
    expect(errors[0].message).toMatch(/"ORDER-42" was used before for a different request/)
    // Reported with the other bad rows of the file, in line order.
    const mixed = await refusedRows('product,customer,idempotency_key\n7,New,ORDER-42\n99,A,R-1\n', 'csv')
    expect(mixed.map((e) => [e.line, e.field])).toEqual([[2, 'idempotency_key'], [3, 'product']])
    expect(await all()).toHaveLength(1)
    // The same key with the same input (as the command passes its flags) is no conflict: returned, not issued again.
    const again = await backend.bulk.run('product,customer,idempotency_key\n7,Old,ORDER-42\n', 'csv')
    expect(again).toMatchObject({issued: 0, alreadyIssued: 1})
  })

  it('issues more rows than one chunk holds, in several chunks', async () => {
    const total = CHUNK_SIZE + 50
    const rows = Array.from({length: total}, (_, i) => JSON.stringify({product: 7, customer: `c${i}`}))
    const progress: Array<[number, number]> = []
    const summary = await backend.bulk.run(rows.join('\n'), 'ndjson', {onProgress: (done, all) => progress.push([done, all])})
    expect(summary.issued).toBe(total)
    expect(new Set(summary.licenses.map((l) => l.ticket)).size).toBe(total)
    expect(progress).toEqual([[0, total], [CHUNK_SIZE, total], [total, total]])
    expect(await all()).toHaveLength(total)
  })

  it('detects the format from the file name or the flag', () => {
    expect(detectFormat('x.csv')).toBe('csv')
    expect(detectFormat('x.NDJSON')).toBe('ndjson')
    expect(detectFormat('x.jsonl')).toBe('ndjson')
    expect(detectFormat('-', 'csv')).toBe('csv')
    expect(() => detectFormat('-')).toThrow(/^--format: /)
    expect(readRows('a\n', 'csv').rows).toEqual([])
  })
})

describe(`damaged bulk files (seed ${FUZZ_SEED}; LICADM_FUZZ_SEED picks another)`, () => {
  const csv = [
    'product,kind,quantity,features,customer,count,expires,not_before,meta.po,idempotency_key',
    '7,single,1,0x5,"ACME, Inc.",2,365d,,A-1,k1',
    '8,concurrent,10,3,"Initech ""Labs""",1,2027-01-01,2026-07-01,,k2',
    '7,single,3,,Globex,1,,,B-7,k3',
  ].join('\n')
  const ndjson = [
    '{"product": 7, "quantity": 2, "features": "0xff", "meta": {"po": "A-1"}, "idempotency_key": "n1"}',
    '{"product_code": 8, "kind": "concurrent", "count": 2, "not_before": "2026-07-01", "expires": "30d", "idempotency_key": "n2"}',
    '{"product": 7, "customer": "Hooli", "units": 500, "idempotency_key": "n3"}',
  ].join('\n')

  it.each([
    ['csv', csv],
    ['ndjson', ndjson],
  ] as const)('%s: each damaged copy issues its rows, or is refused whole with the reason, issuing nothing', async (format, valid) => {
    const random = generator(FUZZ_SEED)
    const crashes: string[] = []
    let refused = 0
    for (let i = 0; i < 60; i++) {
      const text = damage(valid, random)
      const before = (await all()).length
      try {
        const summary = await backend.bulk.run(text, format)
        expect((await all()).length, text).toBe(before + summary.issued)
      } catch (error) {
        const crash = crashOf(error, text)
        if (crash) crashes.push(crash)
        else refused++
        expect((await all()).length, text).toBe(before)
      }
    }
    expect(crashes.slice(0, 3).join('\n')).toBe('')
    expect(refused).toBeGreaterThan(10)
  })
})
