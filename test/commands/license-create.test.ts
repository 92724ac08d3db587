import {writeFileSync} from 'node:fs'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {describeRun, ok, openStoreReadOnly, sandbox, type RunResult} from '../helpers/cli.js'
import {runIn} from '../helpers/in-process.js'

const TICKET = /^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){4}$/

const sb = sandbox('licadm-cmd-create-')
const run = (args: string[], env?: Record<string, string | undefined>) => runIn(sb, args, env)

beforeAll(async () => {
  ok(await run(['init', '--vendor-code', '1001', '--name', 'Acme', '--json']))
  for (const code of ['7', '8']) ok(await run(['product', 'create', '--code', code, '--name', `P${code}`, '--json']))
})
afterAll(() => sb.cleanup())

async function licenseCount(): Promise<number> {
  const db = await openStoreReadOnly(sb.storePath())
  try {
    return (db.prepare('select count(*) as n from licenses').get() as {n: number}).n
  } finally {
    db.close()
  }
}

/** Runs in text and in --json mode; both must fail with `exit`, naming `words` in the message. */
async function refusedInBothModes(args: string[], exit: number, words: string[]): Promise<{text: RunResult; json: any}> {
  const text = await run(args)
  expect(text.code, describeRun(text)).toBe(exit)
  for (const w of words) expect(text.stderr, describeRun(text)).toContain(w)
  expect(text.stdout).toBe('')
  const jsonRun = await run([...args, '--json'])
  expect(jsonRun.code, describeRun(jsonRun)).toBe(exit)
  expect(jsonRun.json, describeRun(jsonRun)).toMatchObject({ok: false, error: {exitCode: exit}})
  for (const w of words) expect(jsonRun.json.error.message + (jsonRun.json.error.hint ?? '')).toContain(w)
  return {text, json: jsonRun.json.error}
}

describe('license create: refusals name the flag and the accepted range, with the same exit code with and without --json', () => {
  it.each<[string, string[], number, string[]]>([
    ['unknown product', ['--product', '99'], 3, ['product 99 not found', '--product']],
    ['product not a number', ['--product', 'abc'], 2, ['--product', 'not a whole number', '1 to 4294967295']],
    ['product 0', ['--product', '0'], 2, ['--product', '1 to 4294967295']],
    ['quantity 0', ['--product', '7', '--quantity', '0'], 2, ['--quantity', 'out of range', '1 to 1000000']],
    ['negative quantity', ['--product', '7', '--quantity=-5'], 2, ['--quantity', '1 to 1000000']],
    ['negative quantity (separate value)', ['--product', '7', '--quantity', '-5'], 2, ['--quantity']],
    ['absurd quantity', ['--product', '7', '--quantity', '99999999999999999999'], 2, ['--quantity', '1 to 1000000']],
    ['fractional quantity', ['--product', '7', '--quantity', '1.5'], 2, ['--quantity', 'not a whole number']],
    ['features over 32 bits', ['--product', '7', '--features', '0x100000000'], 2, ['--features', '0 to 4294967295']],
    ['negative features', ['--product', '7', '--features=-1'], 2, ['--features', '0 to 4294967295']],
    ['features not a number', ['--product', '7', '--features', 'all'], 2, ['--features']],
    ['units 0', ['--product', '7', '--units', '0'], 2, ['--units', '1 to 2147483647']],
    ['units absurd', ['--product', '7', '--units', '2147483648'], 2, ['--units', '1 to 2147483647']],
    ['unknown kind', ['--product', '7', '--kind', 'floating'], 2, ['--kind', 'single', 'concurrent']],
    ['impossible date', ['--product', '7', '--expires', '2027-02-31'], 2, ['--expires', 'not a valid calendar date']],
    ['not a date', ['--product', '7', '--expires', 'tomorrow'], 2, ['--expires', 'YYYY-MM-DD']],
    ['expiry in the past', ['--product', '7', '--expires', '2020-01-01'], 2, ['--expires', 'in the past']],
    ['expiry before not-before', ['--product', '7', '--not-before', '2031-01-01', '--expires', '2030-06-01'], 2, ['--expires', 'after the start']],
    ['absurd expiry', ['--product', '7', '--expires', '9999999d'], 2, ['--expires']],
    ['bad not-before', ['--product', '7', '--not-before', '31/12/2030'], 2, ['--not-before']],
    ['count 0', ['--product', '7', '--count', '0'], 2, ['--count', '1 to 10000']],
    ['count too large', ['--product', '7', '--count', '10001'], 2, ['--count', '1 to 10000']],
    ['metadata not key=value', ['--product', '7', '--meta', 'order'], 2, ['--meta', 'key=value']],
    ['metadata key twice', ['--product', '7', '--meta', 'a=1', '--meta', 'a=2'], 2, ['--meta', 'twice']],
    ['customer too long', ['--product', '7', '--customer', 'x'.repeat(201)], 2, ['--customer', '200']],
    ['empty idempotency key', ['--product', '7', '--idempotency-key', ' '], 2, ['--idempotency-key']],
    ['--product with --from', ['--product', '7', '--from', 'x.csv'], 2, ['--from', '--product']],
    ['--format without --from', ['--product', '7', '--format', 'csv'], 2, ['--from']],
    ['--customer with --from (not silently ignored)', ['--from', 'x.csv', '--customer', 'Bob'], 2, ['--customer', '--from']],
    ['--expires with --from', ['--from', 'x.csv', '--expires', '30d'], 2, ['--expires', '--from']],
    ['--kind with --from', ['--from', 'x.csv', '--kind', 'concurrent'], 2, ['--kind', '--from']],
    ['--meta with --from', ['--from', 'x.csv', '--meta', 'a=b'], 2, ['--meta', '--from']],
    ['unknown flag', ['--product', '7', '--colour', 'red'], 2, ['--colour']],
  ])('%s', async (_name, args, exit, words) => {
    const {json} = await refusedInBothModes(['license', 'create', ...args], exit, words)
    if (exit === 2 && json.code === 'INVALID_VALUE') expect(words).toContain(json.details.flag)
  })

  it('without a terminal, a missing --product is named (exit 2)', async () => {
    const {json} = await refusedInBothModes(['license', 'create'], 2, ['--product'])
    expect(json.details).toEqual({flag: '--product'})
  })

  it('issued nothing while refusing', async () => {
    expect(await licenseCount()).toBe(0)
  })
})

describe('license create: issuing', () => {
  it('takes every flag and prints the license with its ticket', async () => {
    const args = ['license', 'create', '--product', '7', '--kind', 'concurrent', '--quantity', '25', '--features', '0x5', '--units', '1000',
      '--not-before', '2030-01-01', '--expires', '365d', '--customer', 'Globex', '--meta', 'order=SO-1001', '--meta', 'region=eu']
    const result = ok(await run([...args, '--json']))
    expect(result.replayed).toBe(false)
    expect(result.licenses).toHaveLength(1)
    const l = result.licenses[0]
    expect(l).toMatchObject({
      productCode: 7,
      kind: 'concurrent',
      quantity: 25,
      features: 5,
      units: 1000,
      notBefore: '2030-01-01T00:00:00Z',
      expiresAt: '2031-01-01T00:00:00Z',
      status: 'available',
      validity: 'not-yet-valid',
      customer: 'Globex',
      metadata: {order: 'SO-1001', region: 'eu'},
      revokedAt: null,
    })
    expect(l.id).toMatch(/^lic_[0-9a-z]+$/)
    expect(l.ticket).toMatch(TICKET)

    const text = await run(args)
    expect(text.code, describeRun(text)).toBe(0)
    expect(text.stdout).toContain('Issued 1 license(s)')
    expect(text.stdout).toMatch(/Ticket\s+[0-9A-Z]{5}-/)
    expect(text.stdout).toContain('0x00000005 (5)')
    expect(text.stdout).toContain('order=SO-1001, region=eu')
    expect(text.stdout).toMatch(/Kind\s+concurrent/)
  })

  it('defaults: single, quantity 1, no features, unlimited units, valid from now, never expires', async () => {
    const l = ok(await run(['license', 'create', '--product', '8', '--json'])).licenses[0]
    expect(l).toMatchObject({productCode: 8, kind: 'single', quantity: 1, features: 0, units: null, expiresAt: null, customer: null, metadata: {}, validity: 'valid'})
  })

  it('accepts the edges of every range', async () => {
    const l = ok(await run(['license', 'create', '--product', '7', '--quantity', '1000000', '--features', '0xffffffff', '--units', '2147483647', '--json'])).licenses[0]
    expect(l).toMatchObject({quantity: 1_000_000, features: 4_294_967_295, units: 2_147_483_647})
    const dec = ok(await run(['license', 'create', '--product', '7', '--features', '4294967295', '--expires', '2099-12-31', '--json'])).licenses[0]
    expect(dec).toMatchObject({features: 4_294_967_295, expiresAt: '2099-12-31T00:00:00Z'})
  })

  it('--count issues a batch with distinct ids and tickets', async () => {
    const result = ok(await run(['license', 'create', '--product', '7', '--count', '5', '--customer', 'Batch', '--json']))
    expect(result.licenses).toHaveLength(5)
    expect(new Set(result.licenses.map((l: any) => l.id)).size).toBe(5)
    expect(new Set(result.licenses.map((l: any) => l.ticket)).size).toBe(5)
    const text = await run(['license', 'create', '--product', '7', '--count', '3', '--customer', 'Batch2'])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain('Issued 3 license(s)')
    expect(text.stdout).toMatch(/TICKET/)
    expect(text.stdout.match(/Batch2/g)).toHaveLength(3)
  })

  it('--idempotency-key replays the same licenses, in text and --json', async () => {
    const args = ['license', 'create', '--product', '7', '--count', '2', '--customer', 'Initech', '--idempotency-key', 'order-SO-42']
    const first = ok(await run([...args, '--json']))
    const before = await licenseCount()
    const again = ok(await run([...args, '--json']))
    expect(first.replayed).toBe(false)
    expect(again.replayed).toBe(true)
    expect(again.licenses.map((l: any) => [l.id, l.ticket])).toEqual(first.licenses.map((l: any) => [l.id, l.ticket]))
    const text = await run(args)
    expect(text.code).toBe(0)
    expect(text.stdout).toContain('Already issued earlier with idempotency key "order-SO-42"')
    expect(text.stdout).toContain(first.licenses[0].id)
    // --external-ref is the same key.
    const alias = ok(await run(['license', 'create', '--product', '7', '--count', '2', '--customer', 'Initech', '--external-ref', 'order-SO-42', '--json']))
    expect(alias.licenses.map((l: any) => l.id)).toEqual(first.licenses.map((l: any) => l.id))
    expect(await licenseCount()).toBe(before)
  })

  it('the same key with different input is a conflict (exit 4) and issues nothing', async () => {
    const before = await licenseCount()
    const {json} = await refusedInBothModes(
      ['license', 'create', '--product', '7', '--count', '3', '--customer', 'Initech', '--idempotency-key', 'order-SO-42'],
      4,
      ['order-SO-42', 'different request'],
    )
    expect(json.code).toBe('IDEMPOTENCY_KEY_REUSED')
    await refusedInBothModes(['license', 'create', '--product', '8', '--count', '2', '--customer', 'Initech', '--idempotency-key', 'order-SO-42'], 4, ['order-SO-42'])
    expect(await licenseCount()).toBe(before)
  })
})

describe('license create --from: bulk issuance', () => {
  it('issues from CSV with every column, and --json gives the summary', async () => {
    const csv = [
      'product,kind,quantity,features,units,not_before,expires,customer,metadata,count,idempotency_key',
      '7,single,1,0x1,,,365d,Alpha,order=A1;region=eu,1,csv-A1',
      '7,concurrent,10,3,500,2030-01-01,2031-01-01,"Beta, Inc.",order=B1,2,csv-B1',
      '8,,,,,,,Gamma,,1,',
    ].join('\n')
    writeFileSync(sb.path('batch.csv'), `${csv}\n`)
    const before = await licenseCount()
    const summary = ok(await run(['license', 'create', '--from', sb.path('batch.csv'), '--json']))
    expect(summary).toMatchObject({rows: 3, issued: 4, alreadyIssued: 0})
    expect(summary.licenses.map((l: any) => [l.line, l.key, l.replayed])).toEqual([
      [2, 'csv-A1', false],
      [3, 'csv-B1', false],
      [3, 'csv-B1', false],
      [4, expect.stringMatching(/^file:.+#4$/), false],
    ])
    for (const l of summary.licenses) expect(l.ticket).toMatch(TICKET)
    expect(await licenseCount()).toBe(before + 4)

    const beta = ok(await run(['license', 'show', summary.licenses[1].id, '--json'])).license
    expect(beta).toMatchObject({kind: 'concurrent', quantity: 10, features: 3, units: 500, customer: 'Beta, Inc.', metadata: {order: 'B1'},
      notBefore: '2030-01-01T00:00:00Z', expiresAt: '2031-01-01T00:00:00Z'})

    // Running the same file again returns the same licenses; nothing new.
    const again = ok(await run(['license', 'create', '--from', sb.path('batch.csv'), '--json']))
    expect(again).toMatchObject({rows: 3, issued: 0, alreadyIssued: 3})
    expect(again.licenses.map((l: any) => l.id)).toEqual(summary.licenses.map((l: any) => l.id))
    expect(await licenseCount()).toBe(before + 4)

    const text = await run(['license', 'create', '--from', sb.path('batch.csv')])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain('3 row(s): 0 license(s) issued, 3 row(s) already issued by an earlier run')
    expect(text.stdout).toContain('earlier run')
  })

  // BUG (src/services/bulk.ts, BulkIssuer.prepare): an empty count cell parses to null instead of 1,
  // and the run dies with exit 1 "NOT NULL constraint failed: requests.count". Flip to it() when fixed.
  it('an empty count cell means one license', async () => {
    writeFileSync(sb.path('blank-count.csv'), 'product,customer,count\n8,Blank,\n')
    expect(ok(await run(['license', 'create', '--from', sb.path('blank-count.csv'), '--json']))).toMatchObject({rows: 1, issued: 1})
  })

  it('issues from NDJSON (numbers, JSON metadata, meta.NAME)', async () => {
    const rows = [
      {product: 7, quantity: 2, features: 6, expires: '30d', customer: 'Delta', metadata: {seat: 'x', n: 3}},
      {product: '8', kind: 'concurrent', quantity: '5', 'meta.order': 'D2', idempotency_key: 'nd-2'},
    ]
    writeFileSync(sb.path('batch.ndjson'), `${rows.map((r) => JSON.stringify(r)).join('\n')}\n\n`)
    const summary = ok(await run(['license', 'create', '--from', sb.path('batch.ndjson'), '--json']))
    expect(summary).toMatchObject({rows: 2, issued: 2, alreadyIssued: 0})
    const a = ok(await run(['license', 'show', summary.licenses[0].id, '--json'])).license
    const b = ok(await run(['license', 'show', summary.licenses[1].id, '--json'])).license
    expect(a).toMatchObject({productCode: 7, quantity: 2, features: 6, customer: 'Delta', metadata: {seat: 'x', n: '3'}})
    expect(b).toMatchObject({productCode: 8, kind: 'concurrent', quantity: 5, metadata: {order: 'D2'}})
    // --format overrides the name.
    writeFileSync(sb.path('rows.txt'), `${JSON.stringify({product: 7, customer: 'Epsilon'})}\n`)
    expect(ok(await run(['license', 'create', '--from', sb.path('rows.txt'), '--format', 'ndjson', '--json']))).toMatchObject({rows: 1, issued: 1})
  })

  it('reports every bad row with its line number and issues nothing (CSV)', async () => {
    const csv = [
      'product,quantity,features,expires,customer',
      '7,1,0,365d,ok-1',
      '7,0,0,365d,bad-quantity', // line 3
      '7,1,0x100000000,365d,bad-features', // line 4
      '7,1,0,365d,ok-2',
      '99,1,0,365d,unknown-product', // line 6: reported in the same run as the others
      '7,1,0,2020-01-01,past', // line 7
      '7,1,0', // line 8: too few cells
    ].join('\n')
    writeFileSync(sb.path('bad.csv'), csv)
    const before = await licenseCount()
    const {text, json} = await refusedInBothModes(['license', 'create', '--from', sb.path('bad.csv')], 2, ['row(s) refused', 'nothing was issued'])
    for (const line of [3, 4, 6, 7, 8]) expect(text.stderr).toContain(`line ${line}:`)
    expect(text.stderr).toContain('quantity')
    expect(json.code).toBe('BULK_ROWS_INVALID')
    expect(json.details.errors.map((e: any) => e.line)).toEqual([3, 4, 6, 7, 8])
    expect(json.details.errors.find((e: any) => e.line === 6)).toMatchObject({field: 'product'})
    expect(json.details.errors.find((e: any) => e.line === 4)).toMatchObject({field: 'features'})
    expect(json.details.errors.find((e: any) => e.line === 4).message).toContain('0 to 4294967295')
    expect(await licenseCount()).toBe(before)

    // Only unknown products: each reported by its line.
    writeFileSync(sb.path('bad2.csv'), ['product,customer', '7,ok', '99,nope', '98,nope'].join('\n'))
    const {json: j2} = await refusedInBothModes(['license', 'create', '--from', sb.path('bad2.csv')], 2, ['product 99 not found', 'line 3'])
    expect(j2.details.errors.map((e: any) => [e.line, e.field])).toEqual([[3, 'product'], [4, 'product']])
    expect(await licenseCount()).toBe(before)
  })

  it('reports every bad row with its line number and issues nothing (NDJSON)', async () => {
    const lines = [
      JSON.stringify({product: 7, customer: 'fine'}),
      '{"product": 7, "customer": ', // 2: not JSON
      '',
      JSON.stringify({product: 7, kind: 'floating'}), // 4
      JSON.stringify([7]), // 5
      JSON.stringify({product: 7, colour: 'red'}), // 6
      JSON.stringify({product: 7, idempotency_key: 'dup'}),
      JSON.stringify({product: 7, idempotency_key: 'dup'}), // 8
    ]
    writeFileSync(sb.path('bad.ndjson'), lines.join('\n'))
    const before = await licenseCount()
    const {json} = await refusedInBothModes(['license', 'create', '--from', sb.path('bad.ndjson')], 2, ['line 2:', 'line 4:', 'line 5:', 'line 6:', 'line 8:'])
    expect(json.details.errors.map((e: any) => e.line)).toEqual([2, 4, 5, 6, 8])
    expect(await licenseCount()).toBe(before)
  })

  it('refuses an unreadable --from: missing file (3), unknown format (2), empty file (2)', async () => {
    await refusedInBothModes(['license', 'create', '--from', sb.path('missing.csv')], 3, ['missing.csv'])
    writeFileSync(sb.path('rows.dat'), '')
    await refusedInBothModes(['license', 'create', '--from', sb.path('rows.dat')], 2, ['--format'])
    writeFileSync(sb.path('empty.csv'), '')
    await refusedInBothModes(['license', 'create', '--from', sb.path('empty.csv')], 2, ['empty'])
    writeFileSync(sb.path('header-only.csv'), 'product,customer\n')
    await refusedInBothModes(['license', 'create', '--from', sb.path('header-only.csv')], 2, ['no license rows'])
  })

  it('a run key from --idempotency-key: rows keyed by line, and a different file under the same key is refused by line before anything is issued', async () => {
    writeFileSync(sb.path('keyed.csv'), 'product,customer\n7,K1\n7,K2\n')
    const first = ok(await run(['license', 'create', '--from', sb.path('keyed.csv'), '--idempotency-key', 'run-77', '--json']))
    expect(first.licenses.map((l: any) => l.key)).toEqual(['run-77#2', 'run-77#3'])
    writeFileSync(sb.path('keyed2.csv'), 'product,customer\n7,K1\n7,K2-changed\n')
    const {json} = await refusedInBothModes(['license', 'create', '--from', sb.path('keyed2.csv'), '--idempotency-key', 'run-77'], 2, ['line 3:', 'run-77#3'])
    expect(json.code).toBe('BULK_ROWS_INVALID')
    expect(json.details.errors).toMatchObject([{line: 3, field: 'idempotency_key'}])
  })
})
