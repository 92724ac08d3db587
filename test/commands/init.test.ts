import {existsSync, readFileSync, readdirSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {describeRun, listFiles, ok, sandbox, type Sandbox} from '../helpers/cli.js'
import {runIn} from '../helpers/in-process.js'

const sandboxes: Sandbox[] = []
function fresh(): Sandbox {
  const sb = sandbox('licadm-cmd-init-')
  sandboxes.push(sb)
  return sb
}
afterAll(() => {
  for (const sb of sandboxes) sb.cleanup()
})

describe('init: refused values create nothing', () => {
  it.each([
    ['0', 'out of range'],
    ['-1', 'out of range'],
    ['4294967296', 'out of range'],
    ['abc', 'not a whole number'],
    ['1.5', 'not a whole number'],
  ])('--vendor-code %s: exit 2 naming the flag and range, in text and --json', async (value, words) => {
    const sb = fresh()
    const text = await runIn(sb, ['init', `--vendor-code=${value}`, '--name', 'Acme'])
    expect(text.code, describeRun(text)).toBe(2)
    expect(text.stderr).toContain(`--vendor-code: `)
    expect(text.stderr).toContain(words)
    expect(text.stderr).toContain('1 to 4294967295')
    const json = await runIn(sb, ['init', `--vendor-code=${value}`, '--name', 'Acme', '--json'])
    expect(json.code).toBe(2)
    expect(json.json.error).toMatchObject({code: 'INVALID_VALUE', exitCode: 2, details: {flag: '--vendor-code'}})
    // Neither keys nor a store.
    expect(listFiles(join(sb.configDir, 'profiles'))).toEqual([])
    expect(listFiles(join(sb.dataDir, 'profiles'))).toEqual([])
  })

  it('an empty or overlong --name: exit 2, nothing created', async () => {
    const sb = fresh()
    for (const name of [' ', 'n'.repeat(201)]) {
      const r = await runIn(sb, ['init', '--vendor-code', '1', '--name', name, '--json'])
      expect(r.code, describeRun(r)).toBe(2)
      expect(r.json.error.message).toContain('--name')
    }
    expect(listFiles(join(sb.dataDir, 'profiles'))).toEqual([])
  })

  it('takes the vendor name as --vendor-name too, as server start spells it', async () => {
    const sb = fresh()
    const made = ok(await runIn(sb, ['init', '--vendor-code', '1001', '--vendor-name', 'Acme Software', '--json']))
    expect(made).toMatchObject({vendorCode: 1001, vendorName: 'Acme Software'})
  })

  it('--force with a refused value leaves the existing profile intact', async () => {
    const sb = fresh()
    const first = ok(await runIn(sb, ['init', '--vendor-code', '1001', '--name', 'Acme', '--json']))
    ok(await runIn(sb, ['product', 'create', '--code', '7', '--name', 'CAD', '--json']))
    for (const args of [['--vendor-code', 'abc', '--name', 'New'], ['--vendor-code', '2', '--name', ' ']]) {
      const r = await runIn(sb, ['init', ...args, '--force', '--json'])
      expect(r.code, describeRun(r)).toBe(2)
    }
    expect(readdirSync(join(sb.configDir, 'profiles'))).toEqual(['default'])
    expect(readdirSync(join(sb.dataDir, 'profiles'))).toEqual(['default'])
    expect(existsSync(first.keyFile)).toBe(true)
    expect(ok(await runIn(sb, ['product', 'list', '--json'])).products.map((p: any) => p.code)).toEqual([7])
    ok(await runIn(sb, ['license', 'create', '--product', '7', '--json']))
  })

  it('--encrypt without a terminal and without LICADM_KEY_PASSPHRASE: exit 2, nothing created', async () => {
    const sb = fresh()
    const r = await runIn(sb, ['init', '--vendor-code', '1', '--name', 'A', '--encrypt'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('LICADM_KEY_PASSPHRASE')
    expect(listFiles(join(sb.dataDir, 'profiles'))).toEqual([])
  })
})

describe('init: which profile becomes current', () => {
  it('the first one; a second one only with --use', async () => {
    const sb = fresh()
    expect(ok(await runIn(sb, ['init', '--vendor-code', '1', '--name', 'A', '--profile', 'a', '--json'])).current).toBe(true)
    expect(ok(await runIn(sb, ['init', '--vendor-code', '2', '--name', 'B', '--profile', 'b', '--json'])).current).toBe(false)
    expect(ok(await runIn(sb, ['init', '--vendor-code', '3', '--name', 'C', '--profile', 'c', '--use', '--json'])).current).toBe(true)
    expect(ok(await runIn(sb, ['profile', 'show', '--json'])).name).toBe('c')
    // LICADM_PROFILE names the profile init creates.
    expect(ok(await runIn(sb, ['init', '--vendor-code', '4', '--name', 'D', '--json'], {LICADM_PROFILE: 'd'})).profile).toBe('d')
    expect(ok(await runIn(sb, ['profile', 'list', '--json'])).profiles.map((p: any) => p.name)).toEqual(['a', 'b', 'c', 'd'])
  })
})

describe('key rotate of an encrypted profile', () => {
  const sb = fresh()
  const pass = {LICADM_KEY_PASSPHRASE: 'the vendor passphrase'}
  let kid: string

  it('without the passphrase: exit 7, and no unencrypted key is written', async () => {
    kid = ok(await runIn(sb, ['init', '--vendor-code', '1', '--name', 'A', '--json'], pass)).kid
    const r = await runIn(sb, ['key', 'rotate', '--yes', '--json'])
    expect(r.code, describeRun(r)).toBe(7)
    expect(r.json.error.code).toBe('AUTH')
    expect(readdirSync(sb.keyDir())).toEqual([`${kid}.pem`])
    expect(ok(await runIn(sb, ['key', 'list', '--json'])).keys.map((k: any) => k.kid)).toEqual([kid])
  })

  it('with a wrong passphrase: exit 7', async () => {
    const r = await runIn(sb, ['key', 'rotate', '--yes', '--json'], {LICADM_KEY_PASSPHRASE: 'wrong'})
    expect(r.code, describeRun(r)).toBe(7)
    expect(readdirSync(sb.keyDir())).toEqual([`${kid}.pem`])
  })

  it('with it: the new key is encrypted too', async () => {
    const rotated = ok(await runIn(sb, ['key', 'rotate', '--yes', '--json'], pass))
    expect(rotated.encrypted).toBe(true)
    expect(readFileSync(join(sb.keyDir(), `${rotated.kid}.pem`), 'utf8')).toContain('ENCRYPTED')
  })

  it('rotating a plain profile with LICADM_KEY_PASSPHRASE set encrypts the new key and says so in the profile', async () => {
    const plain = fresh()
    ok(await runIn(plain, ['init', '--vendor-code', '1', '--name', 'A', '--json']))
    const rotated = ok(await runIn(plain, ['key', 'rotate', '--yes', '--json'], pass))
    expect(readFileSync(join(plain.keyDir(), `${rotated.kid}.pem`), 'utf8')).toContain('ENCRYPTED')
    expect(ok(await runIn(plain, ['profile', 'list', '--json'])).profiles[0].encryptedKey).toBe(true)
    // And from now on signing needs it.
    ok(await runIn(plain, ['product', 'create', '--code', '7', '--name', 'CAD', '--json']))
    expect((await runIn(plain, ['license', 'create', '--product', '7', '--json'])).code).toBe(7)
    ok(await runIn(plain, ['license', 'create', '--product', '7', '--json'], pass))
  })

  it('a new passphrase from LICADM_KEY_PASSPHRASE is held to the prompt\'s rule (at least 8 characters): init and the first encrypted rotation refuse a short one (2) and write no key', async () => {
    const short = {LICADM_KEY_PASSPHRASE: 'x'}
    const none = fresh()
    const refused = await runIn(none, ['init', '--vendor-code', '1', '--name', 'A', '--json'], short)
    expect(refused.code, describeRun(refused)).toBe(2)
    expect(refused.json.error).toMatchObject({message: 'LICADM_KEY_PASSPHRASE: use at least 8 characters for a new passphrase', hint: expect.stringMatching(/longer passphrase/)})
    expect(ok(await runIn(none, ['profile', 'list', '--json'])).profiles).toEqual([])
    const plain = fresh()
    const kid = ok(await runIn(plain, ['init', '--vendor-code', '1', '--name', 'A', '--json'])).kid
    expect((await runIn(plain, ['key', 'rotate', '--yes', '--json'], short)).code).toBe(2)
    expect(readdirSync(plain.keyDir())).toEqual([`${kid}.pem`])
  })
})
