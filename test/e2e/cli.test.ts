import {writeFileSync} from 'node:fs'

import {afterAll, describe, expect, it} from 'vitest'

import {ANSI, describeRun, initVendor, ok, sandbox} from '../helpers/cli.js'

/** The CLI as a process: help, version, the main flow in text mode without colour, --json exits. */
const sb = sandbox('licadm-e2e-cli-')
afterAll(() => sb.cleanup())

describe('help and version', () => {
  it('licadm --help lists the topics; a topic lists its commands', async () => {
    const [top, license, verify] = await Promise.all([
      sb.run(['--help']),
      sb.run(['license', '--help']),
      sb.run(['help', 'license', 'verify']),
    ])
    expect(top.code, describeRun(top)).toBe(0)
    for (const topic of ['profile', 'key', 'product', 'license']) expect(top.stdout).toMatch(new RegExp(`\\n\\s+${topic}\\s+\\S`))
    expect(license.code).toBe(0)
    for (const cmd of ['create', 'list', 'show', 'revoke', 'export', 'verify']) expect(license.stdout).toContain(`license ${cmd}`)
    expect(verify.code).toBe(0)
    expect(verify.stdout).toContain('$ licadm license verify FILE')
    expect(verify.stdout).toContain('--public-key')
    for (const r of [top, license, verify]) expect(r.stdout + r.stderr).not.toMatch(ANSI)
  })

  it('--version prints the version', async () => {
    const r = await sb.run(['--version'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^licadm\/\d+\.\d+\.\d+ /)
  })
})

describe('the main flow in text mode, NO_COLOR, no terminal', () => {
  it('init → product → license → export → verify prints plain text and exits 0', async () => {
    const outputs: string[] = []
    const step = async (args: string[], options = {}) => {
      const r = await sb.run(args, options)
      expect(r.code, describeRun(r)).toBe(0)
      outputs.push(r.stdout, r.stderr)
      return r
    }
    await step(['init', '--vendor-code', '1001', '--name', 'Acme'])
    await step(['product', 'create', '--code', '7', '--name', 'CAD'])
    const created = await step(['license', 'create', '--product', '7', '--customer', 'Globex', '--expires', '365d'])
    const id = /License\s+(lic_\S+)/.exec(created.stdout)![1]
    const ticket = /Ticket\s+(\S+)/.exec(created.stdout)![1]
    await step(['license', 'list'])
    await step(['license', 'show', ticket.toLowerCase().replaceAll('-', '')])
    const exported = await step(['license', 'export', id])
    writeFileSync(sb.path('globex.lic'), exported.stdout)
    const verified = await step(['license', 'verify', sb.path('globex.lic')])
    expect(verified.stdout).toContain(`VALID license ${id}`)
    // An error in text mode: on stderr, without colour.
    const refused = await sb.run(['license', 'create', '--product', '7', '--quantity', '0'])
    expect(refused.code).toBe(2)
    outputs.push(refused.stdout, refused.stderr)
    expect(refused.stderr).toBe('Error: --quantity: 0 is out of range (accepted: 1 to 1000000)\n')
    for (const o of outputs) expect(o).not.toMatch(ANSI)
  })

  it('--json keeps the exit code of a refusal, from a real process', async () => {
    const [unknown, usage, conflict] = await Promise.all([
      sb.run(['license', 'create', '--product', '99', '--json']),
      sb.run(['license', 'create', '--product', '7', '--features', '0x100000000', '--json']),
      sb.run(['product', 'create', '--code', '7', '--name', 'Dup', '--json']),
    ])
    expect(unknown.code, describeRun(unknown)).toBe(3)
    expect(unknown.json.error).toMatchObject({code: 'PRODUCT_NOT_FOUND', exitCode: 3})
    expect(usage.code).toBe(2)
    expect(usage.json.error).toMatchObject({exitCode: 2, details: {flag: '--features'}})
    expect(conflict.code).toBe(4)
    expect(conflict.json.error.exitCode).toBe(4)
  })

  it("a number flag out of range is refused in one line that starts with the flag, as licadm's own refusals are", async () => {
    const [json, text] = await Promise.all([sb.run(['seat', 'checkout', '--license', 'x', '--seats', '0', '--json']), sb.run(['server', 'start', '--memory', '--port', '99999'])])
    expect(json.code).toBe(2)
    expect(json.json.error).toMatchObject({code: 'USAGE', message: '--seats: expected an integer greater than or equal to 1 but received: 0', details: {flag: '--seats'}})
    expect(text.code).toBe(2)
    expect(text.stderr).toMatch(/^Error: --port: expected an integer less than or equal to 65535 but received: 99999\nHint: Run with --help to see what --port takes\./m)
  })
})

describe('demo', () => {
  it('walks through the main job in a throwaway profile, leaving the real profiles alone', async () => {
    const other = sandbox('licadm-e2e-demo-')
    try {
      await initVendor(other, {vendorCode: 5, name: 'Mine'})
      const r = await other.run(['demo', '--json'])
      const result = ok(r)
      expect(result.directory).toBeNull()
      const steps = result.steps.map((s: any) => s.step as string)
      expect(steps.some((s: string) => s.startsWith('init'))).toBe(true)
      expect(steps.some((s: string) => s.includes('verify'))).toBe(true)
      expect(JSON.stringify(result)).not.toContain('(bug)')
      // The floating seats on the embedded server: two granted, the third refused naming them, one released and taken.
      const byTitle = (start: string) => result.steps.find((s: any) => (s.step as string).startsWith(start))
      expect(byTitle('server start').result.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(byTitle('seat checkout: ann and bob').result.leases).toHaveLength(2)
      expect(byTitle('seat checkout: carol is refused').result.refusal).toMatch(/^NO_SEAT_FREE: .* 2 of 2 in use by ann@ws1, bob@ws2 \(exit 4\)$/)
      expect(byTitle('seat release').result).toMatchObject({released: true, lease: expect.stringMatching(/^lse_/)})
      const profiles = ok(await other.run(['profile', 'list', '--json'])).profiles
      expect(profiles.map((p: any) => p.name)).toEqual(['default'])
    } finally {
      other.cleanup()
    }
  })
})
