import {existsSync, readFileSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {allOutput, describeRun, fails, initVendor, ok, openStoreReadOnly, sandbox, type RunResult} from '../helpers/cli.js'

const sandboxes: Array<ReturnType<typeof sandbox>> = []
function fresh() {
  const sb = sandbox()
  sandboxes.push(sb)
  return sb
}
afterAll(() => {
  for (const sb of sandboxes) sb.cleanup()
})

describe('licadm init', () => {
  it('creates the profile, a 0600 key file and the store', async () => {
    const sb = fresh()
    const r = await sb.run(['init', '--vendor-code', '1001', '--name', 'Acme Software'])
    expect(r.code, describeRun(r)).toBe(0)
    expect(r.stdout).toContain('Created profile default for vendor 1001 (Acme Software)')

    const keyFiles = readdirSync(sb.keyDir()).filter((f) => f.endsWith('.pem'))
    expect(keyFiles).toHaveLength(1)
    const keyPath = join(sb.keyDir(), keyFiles[0])
    expect(statSync(keyPath).mode & 0o777).toBe(0o600)
    const pem = readFileSync(keyPath, 'utf8')
    expect(pem).toContain('BEGIN PRIVATE KEY')
    expect(pem).not.toContain('ENCRYPTED')
    expect(r.stdout).toContain(keyFiles[0].replace(/\.pem$/, ''))

    // The private key never lands in the config JSON.
    const config = readFileSync(join(sb.configDir, 'config.json'), 'utf8')
    expect(config).not.toContain('PRIVATE KEY')
    expect(JSON.parse(config).profiles.default).toMatchObject({vendorCode: 1001, vendorName: 'Acme Software', encryptedKey: false})
    expect(JSON.parse(config).current).toBe('default')

    expect(existsSync(sb.storePath())).toBe(true)
    const db = await openStoreReadOnly(sb.storePath())
    try {
      expect(db.prepare('select code, name from vendor').get()).toEqual({code: 1001, name: 'Acme Software'})
      expect(db.prepare('select kid, status from vendor_keys').all()).toEqual([{kid: keyFiles[0].replace(/\.pem$/, ''), status: 'active'}])
    } finally {
      db.close()
    }
  })

  it('--json reports the profile, key id, key file and store', async () => {
    const sb = fresh()
    const result = ok(await sb.run(['init', '--vendor-code', '4294967295', '--name', 'Max Vendor', '--json']))
    expect(result).toMatchObject({profile: 'default', current: true, vendorCode: 4294967295, vendorName: 'Max Vendor', keyEncrypted: false, movedAside: []})
    expect(result.kid).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(result.keyFile).toBe(join(sb.keyDir(), `${result.kid}.pem`))
    expect(result.store).toBe(sb.storePath())
  })

  it('refuses to overwrite a profile without --force (exit 4), in text and --json', async () => {
    const sb = fresh()
    const first = await initVendor(sb)
    const text = await sb.run(['init', '--vendor-code', '2002', '--name', 'Other'])
    fails(text, 4)
    expect(text.stderr).toContain('profile "default" exists already')
    expect(text.stderr).toContain('--force')
    const json = await sb.run(['init', '--vendor-code', '2002', '--name', 'Other', '--json'])
    expect(fails(json, 4)).toMatchObject({code: 'PROFILE_EXISTS', exitCode: 4})
    // Nothing changed: same key, same vendor.
    expect(readdirSync(sb.keyDir())).toEqual([`${first.kid}.pem`])
    expect(config(sb).profiles!.default.vendorCode).toBe(1001)
  })

  it('--force replaces the profile and moves the old keys and store aside, still on disk', async () => {
    const sb = fresh()
    const first = await initVendor(sb)
    const second = ok(await sb.run(['init', '--vendor-code', '2002', '--name', 'Replacement', '--force', '--json']))
    expect(second.kid).not.toBe(first.kid)
    expect(second.movedAside).toHaveLength(2)
    const oldKeyDir = second.movedAside.find((p: string) => p.startsWith(join(sb.configDir, 'profiles', 'default.replaced-')))
    expect(oldKeyDir, JSON.stringify(second.movedAside)).toBeDefined()
    expect(existsSync(join(oldKeyDir, 'keys', `${first.kid}.pem`))).toBe(true)
    const oldStoreDir = second.movedAside.find((p: string) => p.startsWith(join(sb.dataDir, 'profiles', 'default.replaced-')))
    expect(existsSync(join(oldStoreDir, 'licadm.db'))).toBe(true)
    // The new profile is a fresh one.
    expect(config(sb).profiles!.default).toMatchObject({vendorCode: 2002, vendorName: 'Replacement'})
    expect(readdirSync(sb.keyDir())).toEqual([`${second.kid}.pem`])
  })

  it('without a terminal, a missing --vendor-code is refused naming the flag (exit 2) and nothing is created', async () => {
    const sb = fresh()
    const r = await sb.run(['init', '--name', 'Acme'])
    fails(r, 2)
    expect(r.stderr).toContain('missing required flag --vendor-code')
    const j = await sb.run(['init', '--name', 'Acme', '--json'], {env: {CI: '1'}})
    expect(fails(j, 2)).toMatchObject({code: 'USAGE', exitCode: 2, details: {flag: '--vendor-code'}})
    const noName = await sb.run(['init', '--vendor-code', '1001'])
    fails(noName, 2)
    expect(noName.stderr).toContain('--name')
    expect(existsSync(join(sb.configDir, 'profiles'))).toBe(false)
    expect(existsSync(join(sb.dataDir, 'profiles'))).toBe(false)
    expect(config(sb).profiles ?? {}).toEqual({})
  })
})

describe('encrypted signing key (LICADM_KEY_PASSPHRASE)', () => {
  const passphrase = 'correct horse battery staple 42'
  const sb = fresh()
  const outputs: RunResult[] = []
  const run = async (args: string[], env: Record<string, string | undefined> = {}) => {
    const r = await sb.run(args, {env})
    outputs.push(r)
    return r
  }

  it('init encrypts the key file with the passphrase', async () => {
    const r = await run(['init', '--vendor-code', '1001', '--name', 'Acme', '--json'], {LICADM_KEY_PASSPHRASE: passphrase})
    const result = ok(r)
    expect(result.keyEncrypted).toBe(true)
    const pem = readFileSync(result.keyFile, 'utf8')
    expect(pem).toContain('BEGIN ENCRYPTED PRIVATE KEY')
    expect(statSync(result.keyFile).mode & 0o777).toBe(0o600)
    expect(ok(await run(['product', 'create', '--code', '7', '--name', 'CAD', '--json']))).toBeTruthy()
    const list = ok(await run(['profile', 'list', '--json']))
    expect(list.profiles[0].encryptedKey).toBe(true)
  })

  it('signing without the passphrase fails with exit 7 (text and --json)', async () => {
    const text = await run(['license', 'create', '--product', '7'])
    fails(text, 7)
    expect(text.stderr).toContain('LICADM_KEY_PASSPHRASE')
    const json = await run(['license', 'create', '--product', '7', '--json'])
    expect(fails(json, 7)).toMatchObject({code: 'AUTH', exitCode: 7})
  })

  it('signing with a wrong passphrase fails with exit 7', async () => {
    const text = await run(['license', 'create', '--product', '7'], {LICADM_KEY_PASSPHRASE: 'wrong passphrase'})
    fails(text, 7)
    expect(text.stderr).toContain('passphrase does not unlock')
    const json = await run(['license', 'create', '--product', '7', '--json'], {LICADM_KEY_PASSPHRASE: 'wrong passphrase'})
    expect(fails(json, 7)).toMatchObject({code: 'AUTH', exitCode: 7})
  })

  it('nothing was issued by the refused attempts; with the passphrase signing works', async () => {
    expect(ok(await run(['license', 'list', '--json'])).licenses).toEqual([])
    const created = ok(await run(['license', 'create', '--product', '7', '--json'], {LICADM_KEY_PASSPHRASE: passphrase}))
    expect(created.licenses).toHaveLength(1)
    const exported = await run(['license', 'export', created.licenses[0].id])
    expect(exported.code).toBe(0)
    writeFileSync(sb.path('a.lic'), exported.stdout)
    ok(await run(['license', 'verify', sb.path('a.lic'), '--json']))
  })

  it('the passphrase never appears in any output, the config or the store', async () => {
    expect(outputs.length).toBeGreaterThan(6)
    expect(allOutput(...outputs)).not.toContain(passphrase)
    expect(allOutput(...outputs)).not.toContain('wrong passphrase')
    expect(readFileSync(join(sb.configDir, 'config.json'), 'utf8')).not.toContain(passphrase)
    expect(readFileSync(sb.storePath()).includes(Buffer.from(passphrase))).toBe(false)
  })
})

describe('profiles: list, show, use, --profile and LICADM_PROFILE', () => {
  const sb = fresh()
  let acme: any
  let globex: any

  it('two profiles: the first becomes current, the second does not', async () => {
    acme = await initVendor(sb, {profile: 'acme', vendorCode: 1001, name: 'Acme', products: [7]})
    globex = await initVendor(sb, {profile: 'globex', vendorCode: 2002, name: 'Globex', products: [7]})
    expect(acme.current).toBe(true)
    expect(globex.current).toBe(false)
    const list = ok(await sb.run(['profile', 'list', '--json']))
    expect(list.profiles.map((p: any) => [p.name, p.current, p.vendorCode])).toEqual([
      ['acme', true, 1001],
      ['globex', false, 2002],
    ])
    const text = await sb.run(['profile', 'list'])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/\*\s+acme\s+1001\s+Acme/)
    expect(text.stdout).toMatch(/globex\s+2002\s+Globex/)
  })

  it('profile show: the current one, a named one, and with --profile', async () => {
    const current = ok(await sb.run(['profile', 'show', '--json']))
    expect(current).toMatchObject({name: 'acme', current: true, vendorCode: 1001, products: 1})
    expect(current.keys).toEqual([expect.objectContaining({kid: acme.kid, status: 'active'})])
    expect(current.store).toBe(sb.storePath('acme'))
    const text = await sb.run(['profile', 'show', 'globex'])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain('2002 (Globex)')
    expect(text.stdout).toContain(globex.kid)
  })

  it('licenses land in the store of the profile selected by --profile or LICADM_PROFILE', async () => {
    const viaCurrent = ok(await sb.run(['license', 'create', '--product', '7', '--customer', 'to-acme', '--json']))
    const viaFlag = ok(await sb.run(['license', 'create', '--product', '7', '--customer', 'to-globex-flag', '--profile', 'globex', '--json']))
    const viaEnv = ok(await sb.run(['license', 'create', '--product', '7', '--customer', 'to-globex-env', '--json'], {env: {LICADM_PROFILE: 'globex'}}))
    expect(viaCurrent.licenses[0].kid).toBe(acme.kid)
    expect(viaFlag.licenses[0].kid).toBe(globex.kid)
    expect(viaEnv.licenses[0].kid).toBe(globex.kid)

    const customers = async (path: string) => {
      const db = await openStoreReadOnly(path)
      try {
        return (db.prepare('select customer from licenses order by customer').all() as Array<{customer: string}>).map((r) => r.customer)
      } finally {
        db.close()
      }
    }
    expect(await customers(sb.storePath('acme'))).toEqual(['to-acme'])
    expect(await customers(sb.storePath('globex'))).toEqual(['to-globex-env', 'to-globex-flag'])
    // The flag wins over the environment.
    const both = ok(await sb.run(['license', 'list', '--profile', 'acme', '--json'], {env: {LICADM_PROFILE: 'globex'}}))
    expect(both.licenses.map((l: any) => l.customer)).toEqual(['to-acme'])
  })

  it('profile use switches the current profile', async () => {
    const r = await sb.run(['profile', 'use', 'globex'])
    expect(r.code, describeRun(r)).toBe(0)
    expect(r.stdout).toContain('globex')
    expect(config(sb).current).toBe('globex')
    expect(ok(await sb.run(['license', 'list', '--json'])).licenses).toHaveLength(2)
    expect(ok(await sb.run(['profile', 'use', 'acme', '--json']))).toEqual({current: 'acme'})
    expect(config(sb).current).toBe('acme')
  })

  it('an unknown profile is refused with exit 3 everywhere, naming the known ones', async () => {
    const cases: string[][] = [
      ['profile', 'use', 'nope'],
      ['license', 'list', '--profile', 'nope'],
    ]
    const text = await sb.run(cases[0])
    fails(text, 3)
    expect(text.stderr).toContain('profile nope not found')
    expect(text.stderr).toContain('acme, globex')
    const json = await sb.run([...cases[1], '--json'])
    expect(fails(json, 3)).toMatchObject({code: 'PROFILE_NOT_FOUND', exitCode: 3})
    const env = await sb.run(['license', 'list', '--json'], {env: {LICADM_PROFILE: 'nope'}})
    fails(env, 3)
    // And nothing was created for it.
    expect(existsSync(sb.storePath('nope'))).toBe(false)
    expect(config(sb).current).toBe('acme')
  })

  it('an invalid profile name is a usage error (exit 2)', async () => {
    const r = await sb.run(['license', 'list', '--profile', '../escape', '--json'])
    expect(fails(r, 2).message).toContain('--profile')
  })

  it('with no profile at all, commands say to run init (exit 3)', async () => {
    const empty = fresh()
    const r = await empty.run(['license', 'list'])
    fails(r, 3)
    expect(r.stderr).toContain('licadm init')
  })
})

function config(sb: ReturnType<typeof sandbox>): {current?: string; profiles?: Record<string, any>} {
  const path = join(sb.configDir, 'config.json')
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : {}
}
