import {existsSync, readFileSync, writeFileSync} from 'node:fs'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {generateTicket} from '../../src/domain/ticket.js'
import {ANSI, describeRun, ok, sandbox, type RunResult} from '../helpers/cli.js'
import {runIn} from '../helpers/in-process.js'

const sb = sandbox('licadm-cmd-licenses-')
const run = (args: string[], env?: Record<string, string | undefined>) => runIn(sb, args, env)

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

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
/** The same ticket with one character changed (not the dashes). */
function mistype(ticket: string, at = 7): string {
  const c = ticket[at]
  const other = ALPHABET[(ALPHABET.indexOf(c) + 1) % ALPHABET.length]
  return ticket.slice(0, at) + other + ticket.slice(at + 1)
}

interface L {
  id: string
  ticket: string
  customer: string | null
  productCode: number
  status: string
  expiresAt: string | null
}
let all: L[] = []
const create = async (...args: string[]): Promise<L[]> => ok(await run(['license', 'create', ...args, '--json'])).licenses

beforeAll(async () => {
  ok(await run(['init', '--vendor-code', '1001', '--name', 'Acme', '--json']))
  for (const code of ['7', '8']) ok(await run(['product', 'create', '--code', code, '--name', `P${code}`, '--json']))
  all = [
    ...(await create('--product', '7', '--customer', 'Globex', '--expires', '10d')),
    ...(await create('--product', '7', '--customer', 'Globex', '--expires', '400d')),
    ...(await create('--product', '7', '--customer', 'Initech', '--count', '3')),
    ...(await create('--product', '8', '--customer', 'Globex', '--expires', '20d')),
    ...(await create('--product', '8', '--customer', 'Umbrella', '--count', '2', '--expires', '2y')),
  ]
  expect(all).toHaveLength(8)
})
afterAll(() => sb.cleanup())

const ids = (licenses: Array<{id: string}>) => licenses.map((l) => l.id)
const sorted = (xs: string[]) => [...xs].sort()

describe('license list', () => {
  it('lists every license, ordered by id, as a table and as --json', async () => {
    const json = ok(await run(['license', 'list', '--json']))
    expect(ids(json.licenses)).toEqual(sorted(ids(all)))
    expect(json.nextCursor).toBeNull()
    const text = await run(['license', 'list'])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/ID\s+TICKET\s+PRODUCT\s+KIND\s+QTY\s+STATUS\s+CUSTOMER\s+EXPIRES/)
    for (const l of all) expect(text.stdout).toContain(l.ticket)
    expect(text.stdout).not.toMatch(ANSI)
    expect(text.stdout).not.toContain('More:')
  })

  it('filters by product, status, customer and expiry, combined', async () => {
    const list = async (...args: string[]) => ids(ok(await run(['license', 'list', ...args, '--json'])).licenses)
    expect(await list('--product', '8')).toEqual(sorted(ids(all.filter((l) => l.productCode === 8))))
    expect(await list('--customer', 'Globex')).toEqual(sorted(ids(all.filter((l) => l.customer === 'Globex'))))
    expect(await list('--customer', 'globex')).toEqual([])
    expect(await list('--customer', 'Globex', '--product', '7')).toEqual(sorted(ids(all.slice(0, 2))))
    expect(await list('--expiring-before', '30d')).toEqual(sorted([all[0].id, all[5].id]))
    expect(await list('--expiring-before', '2099-01-01', '--product', '8')).toEqual(sorted(ids(all.slice(5))))
    expect(await list('--status', 'available')).toEqual(sorted(ids(all)))
    expect(await list('--status', 'revoked')).toEqual([])
    const text = await run(['license', 'list', '--customer', 'Nobody'])
    expect(text.stdout).toContain('no licenses match')
  })

  it('pages with --limit and --cursor, without gaps or repeats', async () => {
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page: any = ok(await run(['license', 'list', '--limit', '3', ...(cursor ? ['--cursor', cursor] : []), '--json']))
      expect(page.licenses.length).toBeLessThanOrEqual(3)
      seen.push(...ids(page.licenses))
      cursor = page.nextCursor
      pages++
    } while (cursor)
    expect(pages).toBe(3)
    expect(seen).toEqual(sorted(ids(all)))
    const text = await run(['license', 'list', '--limit', '3'])
    expect(text.stdout).toContain(`More: licadm license list --cursor ${sorted(ids(all))[2]}`)
  })

  it('refuses bad filter values naming the flag (exit 2)', async () => {
    await refused(['license', 'list', '--limit', '0'], 2, ['--limit', '1 to 10000'])
    await refused(['license', 'list', '--limit', '10001'], 2, ['--limit', '1 to 10000'])
    await refused(['license', 'list', '--status', 'lost'], 2, ['--status'])
    await refused(['license', 'list', '--product', 'x'], 2, ['--product'])
    await refused(['license', 'list', '--expiring-before', 'soon'], 2, ['--expiring-before'])
  })
})

describe('license show', () => {
  it('shows a license by id and by ticket', async () => {
    const l = all[0]
    const byId = ok(await run(['license', 'show', l.id, '--json'])).license
    expect(byId).toMatchObject({id: l.id, ticket: l.ticket, customer: 'Globex', status: 'available', validity: 'valid'})
    const byTicket = ok(await run(['license', 'show', l.ticket, '--json'])).license
    expect(byTicket.id).toBe(l.id)
    const text = await run(['license', 'show', l.ticket])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(new RegExp(`License\\s+${l.id}`))
    expect(text.stdout).toMatch(new RegExp(`Ticket\\s+${l.ticket}`))
    expect(text.stdout).toMatch(/Status\s+available \(valid\)/)
  })

  it('accepts a ticket typed in lower case, without dashes, with O for 0', async () => {
    for (const l of all.slice(0, 4)) {
      const typed = l.ticket.toLowerCase().replaceAll('-', '')
      expect(ok(await run(['license', 'show', typed, '--json'])).license.id).toBe(l.id)
    }
    const withZero = all.find((l) => l.ticket.includes('0'))
    if (withZero) expect(ok(await run(['license', 'show', withZero.ticket.replaceAll('0', 'O'), '--json'])).license.id).toBe(withZero.id)
  })

  it('reports a mistyped ticket as mistyped (exit 2), not as unknown', async () => {
    for (const at of [0, 7, 13, 28]) {
      const {error} = await refused(['license', 'show', mistype(all[1].ticket, at)], 2, ['mistyped'])
      expect(error.details).toMatchObject({reason: 'ticket-check-failed'})
    }
  })

  it('an unknown id or a well-formed unknown ticket is not found (exit 3)', async () => {
    await refused(['license', 'show', 'lic_nope'], 3, ['lic_nope not found'])
    const {error} = await refused(['license', 'show', generateTicket()], 3, ['not found'])
    expect(error.code).toBe('TICKET_NOT_FOUND')
  })
})

describe('license revoke', () => {
  it('without a terminal it needs --yes (exit 2) and changes nothing', async () => {
    const {error} = await refused(['license', 'revoke', all[2].id], 2, ['--yes'])
    expect(error.details).toEqual({flag: '--yes'})
    expect(ok(await run(['license', 'show', all[2].id, '--json'])).license.status).toBe('available')
  })

  it('revokes with --yes, by id or by ticket; a second revoke changes nothing and succeeds', async () => {
    const text = await run(['license', 'revoke', all[2].id, '--yes'])
    expect(text.code, describeRun(text)).toBe(0)
    expect(text.stdout).toContain(`Revoked license ${all[2].id}`)
    const again = await run(['license', 'revoke', all[2].id, '--yes'])
    expect(again.code).toBe(0)
    expect(again.stdout).toContain('was already revoked; nothing changed')
    // Already revoked: nothing to confirm, so no --yes is needed either.
    const noYes = ok(await run(['license', 'revoke', all[2].ticket, '--json']))
    expect(noYes).toMatchObject({changed: false, license: {id: all[2].id, status: 'revoked', validity: 'revoked'}})
    expect(noYes.license.revokedAt).toMatch(/Z$/)

    const byTicket = ok(await run(['license', 'revoke', all[3].ticket.toLowerCase(), '-y', '--json']))
    expect(byTicket).toMatchObject({changed: true, license: {id: all[3].id, status: 'revoked'}})
    expect(ids(ok(await run(['license', 'list', '--status', 'revoked', '--json'])).licenses)).toEqual(sorted([all[2].id, all[3].id]))
  })

  it('unknown (3) and mistyped (2) licenses', async () => {
    await refused(['license', 'revoke', 'lic_nope', '--yes'], 3, ['not found'])
    await refused(['license', 'revoke', mistype(all[4].ticket), '--yes'], 2, ['mistyped'])
    expect(ok(await run(['license', 'show', all[4].id, '--json'])).license.status).toBe('available')
  })
})

describe('license export', () => {
  it('writes the armored license file to stdout', async () => {
    const r = await run(['license', 'export', all[0].id])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^-----BEGIN LICADM LICENSE-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END LICADM LICENSE-----\n$/)
    expect(r.stderr).toBe('')
    const json = ok(await run(['license', 'export', all[0].ticket, '--json']))
    expect(json).toEqual({licenseId: all[0].id, file: r.stdout})
  })

  it('--out writes the file; an existing file is refused without --force (exit 4)', async () => {
    const out = sb.path('globex.lic')
    const r = await run(['license', 'export', all[0].id, '--out', out])
    expect(r.code, describeRun(r)).toBe(0)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain(`Wrote license ${all[0].id} to ${out}`)
    const file = readFileSync(out, 'utf8')
    expect(file).toContain('-----BEGIN LICADM LICENSE-----')
    await refused(['license', 'export', all[1].id, '--out', out], 4, ['exists already', '--force'])
    expect(readFileSync(out, 'utf8')).toBe(file)
    const forced = ok(await run(['license', 'export', all[1].id, '--out', out, '--force', '--json']))
    expect(forced).toMatchObject({licenseId: all[1].id, path: out})
    expect(readFileSync(out, 'utf8')).not.toBe(file)
    expect(ok(await run(['license', 'verify', out, '--json'])).license.sub).toBe(all[1].id)
  })

  it('--out in a missing directory is a usage error (exit 2) naming --out, leaving nothing behind', async () => {
    const out = sb.path('no-such-dir', 'x.lic')
    const {error} = await refused(['license', 'export', all[0].id, '--out', out], 2, ['--out', 'directory does not exist'])
    expect(error.details).toEqual({flag: '--out'})
    expect(existsSync(sb.path('no-such-dir'))).toBe(false)
  })

  it('refuses to export a revoked license (exit 17), writing nothing', async () => {
    const out = sb.path('revoked.lic')
    const {error} = await refused(['license', 'export', all[2].id, '--out', out], 17, ['revoked'])
    expect(error.code).toBe('LICENSE_REVOKED')
    expect(existsSync(out)).toBe(false)
    const stdout = await run(['license', 'export', all[2].id])
    expect(stdout.code).toBe(17)
    expect(stdout.stdout).toBe('')
  })

  it('unknown license: exit 3', async () => {
    await refused(['license', 'export', 'lic_nope'], 3, ['not found'])
  })

  it('verify --json of a revoked license in this profile: exit 17', async () => {
    // Exported before revoking, e.g. handed to a customer earlier.
    const l = (await create('--product', '7', '--customer', 'Soon revoked'))[0]
    writeFileSync(sb.path('soon.lic'), (await run(['license', 'export', l.id])).stdout)
    ok(await run(['license', 'revoke', l.id, '--yes', '--json']))
    const {error} = await refused(['license', 'verify', sb.path('soon.lic')], 17, ['revoked'])
    expect(error).toMatchObject({code: 'REVOKED', details: {reason: 'revoked', licenseId: l.id}})
  })
})
