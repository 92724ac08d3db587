import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ANSI, describeRun, ok, sandbox, type RunResult} from '../helpers/cli.js'
import {runIn} from '../helpers/in-process.js'

const sb = sandbox('licadm-cmd-product-')
const run = (args: string[], env?: Record<string, string | undefined>) => runIn(sb, args, env)

beforeAll(async () => {
  ok(await run(['init', '--vendor-code', '1001', '--name', 'Acme', '--json']))
})
afterAll(() => sb.cleanup())

async function refused(args: string[], exit: number, words: string[]): Promise<{text: RunResult; error: any}> {
  const text = await run(args)
  expect(text.code, describeRun(text)).toBe(exit)
  for (const w of words) expect(text.stderr, describeRun(text)).toContain(w)
  const json = await run([...args, '--json'])
  expect(json.code, describeRun(json)).toBe(exit)
  expect(json.json).toMatchObject({ok: false, error: {exitCode: exit}})
  for (const w of words) expect(`${json.json.error.message} ${json.json.error.hint ?? ''}`).toContain(w)
  return {text, error: json.json.error}
}

async function codes(): Promise<number[]> {
  return ok(await run(['product', 'list', '--json'])).products.map((p: any) => p.code)
}

describe('product create', () => {
  it('creates a product (text and --json)', async () => {
    const text = await run(['product', 'create', '--code', '7', '--name', 'Acme CAD'])
    expect(text.code, describeRun(text)).toBe(0)
    expect(text.stdout).toContain('Created product 7 (Acme CAD)')
    expect(text.stdout).not.toMatch(ANSI)
    const json = ok(await run(['product', 'create', '-c', '4294967295', '-n', 'Max', '--json']))
    expect(json.product).toMatchObject({code: 4294967295, name: 'Max', licenses: {available: 0, assigned: 0, revoked: 0}})
    expect(json.product.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
  })

  it('refuses a duplicate code (exit 4) and keeps the first name', async () => {
    const {error} = await refused(['product', 'create', '--code', '7', '--name', 'Other'], 4, ['product 7 exists already'])
    expect(error.code).toBe('PRODUCT_EXISTS')
    expect(ok(await run(['product', 'show', '7', '--json'])).product.name).toBe('Acme CAD')
  })

  it.each([['0'], ['-1'], ['4294967296'], ['abc'], ['1.5'], ['0x10']])('refuses --code %s naming the flag and its range (exit 2)', async (code) => {
    const {error} = await refused(['product', 'create', `--code=${code}`, '--name', 'X'], 2, ['--code', '1 to 4294967295'])
    expect(error).toMatchObject({code: 'INVALID_VALUE', details: {flag: '--code'}})
  })

  it('refuses --code -1 written as a separate argument too', async () => {
    const r = await run(['product', 'create', '--code', '-1', '--name', 'X'])
    expect(r.code, describeRun(r)).toBe(2)
    expect(r.stderr).toContain('--code')
  })

  it('refuses an empty or too long name (exit 2)', async () => {
    await refused(['product', 'create', '--code', '9', '--name', ' '], 2, ['--name', '1 to 200'])
    await refused(['product', 'create', '--code', '9', '--name', 'n'.repeat(201)], 2, ['--name', '1 to 200'])
  })

  it('without a terminal, names the missing flag (exit 2)', async () => {
    const {error} = await refused(['product', 'create', '--name', 'X'], 2, ['--code'])
    expect(error.details).toEqual({flag: '--code'})
    await refused(['product', 'create', '--code', '9'], 2, ['--name'])
    await refused(['product', 'create', '--code', '9'], 2, ['--name'])
  })

  it('created nothing while refusing', async () => {
    expect(await codes()).toEqual([7, 4294967295])
  })
})

describe('product list and show', () => {
  it('lists products with their license counts by status', async () => {
    ok(await run(['product', 'create', '--code', '8', '--name', 'Viewer', '--json']))
    const created = ok(await run(['license', 'create', '--product', '8', '--count', '3', '--json']))
    ok(await run(['license', 'revoke', created.licenses[0].id, '--yes', '--json']))
    const list = ok(await run(['product', 'list', '--json']))
    expect(list.products.find((p: any) => p.code === 8)).toMatchObject({name: 'Viewer', licenses: {available: 2, assigned: 0, revoked: 1}})
    const text = await run(['product', 'list'])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/CODE\s+NAME\s+AVAILABLE\s+ASSIGNED\s+REVOKED/)
    expect(text.stdout).toMatch(/8\s+Viewer\s+2\s+0\s+1/)
    expect(text.stdout).toMatch(/7\s+Acme CAD\s+0\s+0\s+0/)
  })

  it('shows one product', async () => {
    const shown = ok(await run(['product', 'show', '8', '--json']))
    expect(shown.product).toMatchObject({code: 8, name: 'Viewer', licenses: {available: 2, revoked: 1}})
    const text = await run(['product', 'show', '8'])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/Licenses\s+2 available, 0 assigned, 1 revoked/)
  })

  it('show: unknown (3) and invalid (2) codes', async () => {
    const {error} = await refused(['product', 'show', '99'], 3, ['product 99 not found'])
    expect(error.code).toBe('PRODUCT_NOT_FOUND')
    expect(error.hint).toBe('Run "licadm product list" to see the products.')
    // Any other kind not found names its list command too.
    const key = (await refused(['key', 'remove', 'nokid', '--yes'], 3, ['key nokid not found'])).error
    expect(key).toMatchObject({code: 'KEY_NOT_FOUND', hint: '"licadm key list" shows the keys there are.'})
    await refused(['product', 'show', 'abc'], 2, ['1 to 4294967295'])
  })

  it('an empty list says so', async () => {
    const other = sandbox('licadm-cmd-product-empty-')
    try {
      ok(await runIn(other, ['init', '--vendor-code', '5', '--name', 'E', '--json']))
      const text = await runIn(other, ['product', 'list'])
      expect(text.stdout).toContain('no products yet')
      expect(ok(await runIn(other, ['product', 'list', '--json']))).toEqual({products: []})
    } finally {
      other.cleanup()
    }
  })
})

describe('product delete', () => {
  it('without a terminal it needs --yes (exit 2), and deletes nothing', async () => {
    ok(await run(['product', 'create', '--code', '20', '--name', 'Doomed', '--json']))
    const {error} = await refused(['product', 'delete', '20'], 2, ['--yes', 'needs confirmation'])
    expect(error.details).toEqual({flag: '--yes'})
    expect(await codes()).toContain(20)
    // CI set: the same, even if there were a terminal.
    const ci = await run(['product', 'delete', '20'], {CI: 'true'})
    expect(ci.code).toBe(2)
    expect(await codes()).toContain(20)
    // The hint says why no question is asked.
    expect((await run(['product', 'delete', '20'])).stderr).toContain('Pass --yes to confirm: licadm asks no questions without a terminal.')
    expect(ci.stderr).toContain('licadm asks no questions with CI set.')
    expect(error.hint).toBe('Pass --yes to confirm: licadm asks no questions with --json.')
  })

  it('deletes with --yes', async () => {
    const text = await run(['product', 'delete', '20', '--yes'])
    expect(text.code, describeRun(text)).toBe(0)
    expect(text.stdout).toContain('Deleted product 20 (Doomed)')
    ok(await run(['product', 'create', '--code', '21', '--name', 'Doomed too', '--json']))
    expect(ok(await run(['product', 'delete', '21', '-y', '--json'])).deleted).toMatchObject({code: 21, name: 'Doomed too'})
    expect(await codes()).not.toContain(20)
    expect(await codes()).not.toContain(21)
  })

  it('is refused while licenses reference the product, revoked ones too (exit 4)', async () => {
    const {error} = await refused(['product', 'delete', '8', '--yes'], 4, ['product 8 is referenced by 3 license(s)'])
    expect(error).toMatchObject({code: 'PRODUCT_IN_USE', details: {productCode: 8, licenses: 3}})
    ok(await run(['product', 'create', '--code', '22', '--name', 'Revoked only', '--json']))
    const l = ok(await run(['license', 'create', '--product', '22', '--json'])).licenses[0]
    ok(await run(['license', 'revoke', l.id, '--yes', '--json']))
    await refused(['product', 'delete', '22', '--yes'], 4, ['referenced by 1 license(s)'])
    expect(await codes()).toEqual(expect.arrayContaining([8, 22]))
  })

  it('unknown product: exit 3, even without --yes', async () => {
    await refused(['product', 'delete', '99', '--yes'], 3, ['product 99 not found'])
    await refused(['product', 'delete', '99'], 3, ['product 99 not found'])
  })
})
