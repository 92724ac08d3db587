/**
 * Commands in a terminal: run the command classes in-process with the prompter stubbed and a person
 * "present" (canPrompt), and check what is asked and what a "no" does.
 */
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import type {Command, Config} from '@oclif/core'
import {captureOutput} from '@oclif/test'
import {afterAll, afterEach, beforeAll, describe, expect, it, vi} from 'vitest'

import {BaseCommand} from '../../src/cli/base-command.js'
import {Prompter, questions} from '../../src/cli/prompts.js'
import Init from '../../src/commands/init.js'
import KeyRotate from '../../src/commands/key/rotate.js'
import LicenseCreate from '../../src/commands/license/create.js'
import LicenseRevoke from '../../src/commands/license/revoke.js'
import ProductCreate from '../../src/commands/product/create.js'
import ProductDelete from '../../src/commands/product/delete.js'
import ProductShow from '../../src/commands/product/show.js'
import LicenseShow from '../../src/commands/license/show.js'
import {ROOT, sandbox, type Sandbox} from '../helpers/cli.js'

interface ClassRun {
  code: number
  stdout: string
  stderr: string
}

const VARS = ['LICADM_CONFIG_DIR', 'LICADM_DATA_DIR', 'LICADM_PROFILE', 'LICADM_KEY_PASSPHRASE', 'CI', 'NO_COLOR']

/** Runs a command class (from src/, so the spies below apply) with a sandbox's directories. */
/** A runnable command class (the abstract Command type has no usable constructor). */
type CommandClass = typeof Command & (new (argv: string[], config: Config) => Command)

async function runClass(cmd: CommandClass, sb: Sandbox, argv: string[], env: Record<string, string> = {}): Promise<ClassRun> {
  const saved = Object.fromEntries(VARS.map((k) => [k, process.env[k]]))
  for (const k of VARS) delete process.env[k]
  Object.assign(process.env, sb.env, {NO_COLOR: '1'}, env)
  process.exitCode = undefined
  try {
    const {stdout, stderr, error} = await captureOutput(async () => cmd.run(argv, ROOT), {stripAnsi: false})
    if (error) throw error
    return {code: Number(process.exitCode ?? 0), stdout, stderr}
  } finally {
    process.exitCode = undefined
    for (const k of VARS) {
      if (saved[k] === undefined) delete process.env[k]
      else process.env[k] = saved[k]
    }
  }
}

/**
 * Set-up and checks through the same src/ classes (not dist/), so a store is never opened by two
 * builds of the migrations while src/ is being edited.
 */
async function json(cmd: CommandClass, sb: Sandbox, argv: string[], env: Record<string, string> = {}): Promise<any> {
  const r = await runClass(cmd, sb, [...argv, '--json'], env)
  if (r.code !== 0) throw new Error(`${cmd.name} ${argv.join(' ')} → exit ${r.code}\n${r.stdout}${r.stderr}`)
  return JSON.parse(r.stdout).result
}

/** A person at a terminal: canPrompt() is true (the real check is tested at the end of this file). */
function atTerminal() {
  return vi.spyOn(BaseCommand.prototype as unknown as {canPrompt(): boolean}, 'canPrompt').mockReturnValue(true)
}

const sandboxes: Sandbox[] = []
function fresh(): Sandbox {
  const sb = sandbox('licadm-cmd-prompts-')
  sandboxes.push(sb)
  return sb
}
afterAll(() => {
  for (const sb of sandboxes) sb.cleanup()
})
afterEach(() => {
  vi.restoreAllMocks()
})

describe('init in a terminal', () => {
  it('asks for the vendor code and name when the flags are missing', async () => {
    const sb = fresh()
    atTerminal()
    const input = vi.spyOn(Prompter.prototype, 'input').mockImplementation(async (q) => (q.message === questions.vendorCode.message ? '4242' : 'Asked Vendor'))
    const r = await runClass(Init, sb, [])
    expect(r.code, r.stderr).toBe(0)
    expect(input).toHaveBeenCalledTimes(2)
    expect(input.mock.calls[0][0]).toBe(questions.vendorCode)
    expect(input.mock.calls[1][0]).toBe(questions.vendorName)
    const config = JSON.parse(readFileSync(join(sb.configDir, 'config.json'), 'utf8'))
    expect(config.profiles.default).toMatchObject({vendorCode: 4242, vendorName: 'Asked Vendor', encryptedKey: false})
    expect(r.stdout).toContain('Created profile default for vendor 4242 (Asked Vendor)')
  })

  it('asks only for what is missing', async () => {
    const sb = fresh()
    atTerminal()
    const input = vi.spyOn(Prompter.prototype, 'input').mockResolvedValue('Only Name')
    expect((await runClass(Init, sb, ['--vendor-code', '77'])).code).toBe(0)
    expect(input).toHaveBeenCalledTimes(1)
    expect(input.mock.calls[0][0]).toBe(questions.vendorName)
    const none = vi.spyOn(Prompter.prototype, 'input')
    none.mockClear()
    expect((await runClass(Init, fresh(), ['--vendor-code', '78', '--name', 'Flags'])).code).toBe(0)
    expect(none).not.toHaveBeenCalled()
  })

  it('--encrypt asks for a new passphrase twice and encrypts the key', async () => {
    const sb = fresh()
    atTerminal()
    const password = vi.spyOn(Prompter.prototype, 'password').mockResolvedValue('typed passphrase 123')
    const r = await runClass(Init, sb, ['--vendor-code', '1', '--name', 'Enc', '--encrypt', '--json'])
    expect(r.code, r.stdout).toBe(0)
    expect(password.mock.calls.map((c) => c[0])).toEqual([questions.newPassphrase, questions.repeatPassphrase])
    const result = JSON.parse(r.stdout).result
    expect(result.keyEncrypted).toBe(true)
    expect(readFileSync(result.keyFile, 'utf8')).toContain('ENCRYPTED')
    expect(r.stdout).not.toContain('typed passphrase 123')
  })

  it('two different passphrases: exit 2, nothing created', async () => {
    const sb = fresh()
    atTerminal()
    vi.spyOn(Prompter.prototype, 'password').mockResolvedValueOnce('first passphrase').mockResolvedValueOnce('second passphrase')
    const r = await runClass(Init, sb, ['--vendor-code', '1', '--name', 'Enc', '--encrypt'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('differ')
    expect(existsSync(join(sb.configDir, 'profiles'))).toBe(false)
  })

  it('Ctrl-C at a prompt cancels (exit 9) and creates nothing', async () => {
    const sb = fresh()
    atTerminal()
    vi.spyOn(Prompter.prototype, 'input').mockRejectedValue(Object.assign(new Error('User force closed the prompt'), {name: 'ExitPromptError'}))
    const r = await runClass(Init, sb, [])
    expect(r.code).toBe(9)
    expect(r.stderr).toContain('cancelled')
    expect(existsSync(join(sb.configDir, 'profiles'))).toBe(false)
  })
})

describe('confirmations and questions of the other commands', () => {
  const sb = fresh()
  let licenseId: string

  beforeAll(async () => {
    await json(Init, sb, ['--vendor-code', '1001', '--name', 'Acme'])
    await json(ProductCreate, sb, ['--code', '7', '--name', 'CAD'])
    await json(ProductCreate, sb, ['--code', '9', '--name', 'Unused'])
    licenseId = (await json(LicenseCreate, sb, ['--product', '7', '--customer', 'Globex'])).licenses[0].id
  })

  const status = async () => (await json(LicenseShow, sb, [licenseId])).license.status

  it('revoke asks for confirmation; "no" exits 9 and changes nothing', async () => {
    atTerminal()
    const confirm = vi.spyOn(Prompter.prototype, 'confirm').mockResolvedValue(false)
    const r = await runClass(LicenseRevoke, sb, [licenseId])
    expect(r.code).toBe(9)
    expect(confirm).toHaveBeenCalledTimes(1)
    expect(confirm.mock.calls[0][0]).toContain(licenseId)
    expect(confirm.mock.calls[0][0]).toContain('Globex')
    expect(r.stderr).toContain('nothing was changed')
    expect(await status()).toBe('available')
  })

  it('revoke: a "no" keeps exit 9 in the --json envelope too', async () => {
    // canPrompt() is stubbed here; for real, --json never asks (see the canPrompt cases below).
    atTerminal()
    vi.spyOn(Prompter.prototype, 'confirm').mockResolvedValue(false)
    const r = await runClass(LicenseRevoke, sb, [licenseId, '--json'])
    expect(r.code).toBe(9)
    expect(JSON.parse(r.stdout)).toMatchObject({ok: false, error: {code: 'CANCELLED', exitCode: 9}})
    expect(await status()).toBe('available')
  })

  it('revoke: "yes" revokes; --yes does not ask', async () => {
    atTerminal()
    const confirm = vi.spyOn(Prompter.prototype, 'confirm').mockResolvedValue(true)
    expect((await runClass(LicenseRevoke, sb, [licenseId])).code).toBe(0)
    expect(confirm).toHaveBeenCalledTimes(1)
    expect(await status()).toBe('revoked')
    confirm.mockClear()
    const other = (await json(LicenseCreate, sb, ['--product', '7'])).licenses[0].id
    expect((await runClass(LicenseRevoke, sb, [other, '--yes'])).code).toBe(0)
    expect(confirm).not.toHaveBeenCalled()
  })

  it('product delete asks; "no" exits 9 and keeps the product', async () => {
    atTerminal()
    const confirm = vi.spyOn(Prompter.prototype, 'confirm').mockResolvedValue(false)
    const r = await runClass(ProductDelete, sb, ['9'])
    expect(r.code).toBe(9)
    expect(confirm.mock.calls[0][0]).toContain('Delete product 9 (Unused)')
    expect((await json(ProductShow, sb, ['9'])).product.code).toBe(9)
  })

  it('product create asks for the code and the name', async () => {
    atTerminal()
    const input = vi.spyOn(Prompter.prototype, 'input').mockImplementation(async (q) => (q === questions.productCode ? '55' : 'Asked Product'))
    expect((await runClass(ProductCreate, sb, [])).code).toBe(0)
    expect(input.mock.calls.map((c) => c[0])).toEqual([questions.productCode, questions.productName])
    expect((await json(ProductShow, sb, ['55'])).product.name).toBe('Asked Product')
  })

  it('license create without --product offers the products to choose from', async () => {
    atTerminal()
    const select = vi.spyOn(Prompter.prototype, 'select').mockResolvedValue('9')
    const r = await runClass(LicenseCreate, sb, ['--customer', 'Chosen', '--json'])
    expect(r.code, r.stdout).toBe(0)
    expect(select).toHaveBeenCalledTimes(1)
    expect(select.mock.calls[0][1].map((c) => c.value)).toEqual(['7', '9', '55'])
    expect(JSON.parse(r.stdout).result.licenses[0]).toMatchObject({productCode: 9, customer: 'Chosen'})
  })
})

describe('the passphrase of an encrypted key is asked in a terminal', () => {
  const sb = fresh()
  beforeAll(async () => {
    await json(Init, sb, ['--vendor-code', '1001', '--name', 'Acme'], {LICADM_KEY_PASSPHRASE: 'right passphrase'})
    await json(ProductCreate, sb, ['--code', '7', '--name', 'CAD'])
  })

  it('the right answer signs; a wrong one exits 7', async () => {
    atTerminal()
    const password = vi.spyOn(Prompter.prototype, 'password').mockResolvedValue('right passphrase')
    const r = await runClass(LicenseCreate, sb, ['--product', '7'])
    expect(r.code, r.stderr).toBe(0)
    expect(password).toHaveBeenCalledWith(questions.passphrase)
    password.mockResolvedValue('wrong')
    const wrong = await runClass(LicenseCreate, sb, ['--product', '7'])
    expect(wrong.code).toBe(7)
    // With the variable set, nobody is asked.
    password.mockClear()
    expect((await runClass(LicenseCreate, sb, ['--product', '7'], {LICADM_KEY_PASSPHRASE: 'right passphrase'})).code).toBe(0)
    expect(password).not.toHaveBeenCalled()
  })

  it('key rotate asks once, and encrypts the new key with the same passphrase', async () => {
    atTerminal()
    const password = vi.spyOn(Prompter.prototype, 'password').mockResolvedValue('right passphrase')
    const r = await runClass(KeyRotate, sb, ['--yes', '--json'])
    expect(r.code, r.stdout).toBe(0)
    expect(password).toHaveBeenCalledTimes(1)
    const {kid, encrypted} = JSON.parse(r.stdout).result
    expect(encrypted).toBe(true)
    expect(readFileSync(join(sb.keyDir(), `${kid}.pem`), 'utf8')).toContain('ENCRYPTED')
    // The new key signs with the same passphrase.
    password.mockClear()
    expect((await runClass(LicenseCreate, sb, ['--product', '7'])).code).toBe(0)
    expect(password).toHaveBeenCalledTimes(1)
  })
})

describe('canPrompt: only with a terminal on both ends, without CI and without --json', () => {
  const streams = [process.stdin, process.stdout] as Array<{isTTY?: boolean}>
  const saved = streams.map((s) => Object.getOwnPropertyDescriptor(s, 'isTTY'))
  const setTTY = (stdin: boolean, stdout: boolean) => {
    Object.defineProperty(process.stdin, 'isTTY', {value: stdin, configurable: true, writable: true})
    Object.defineProperty(process.stdout, 'isTTY', {value: stdout, configurable: true, writable: true})
  }
  afterEach(() => {
    streams.forEach((s, i) => {
      if (saved[i]) Object.defineProperty(s, 'isTTY', saved[i]!)
      else delete s.isTTY
    })
  })

  const cases: Array<[string, boolean, boolean, Record<string, string>, string[], boolean]> = [
    ['terminal', true, true, {}, [], true],
    ['CI=1', true, true, {CI: '1'}, [], false],
    ['CI=true', true, true, {CI: 'true'}, [], false],
    ['CI=false', true, true, {CI: 'false'}, [], true],
    ['CI=0', true, true, {CI: '0'}, [], true],
    ['--json', true, true, {}, ['--json'], false],
    ['stdin not a terminal', false, true, {}, [], false],
    ['stdout not a terminal', true, false, {}, [], false],
  ]
  it.each(cases)('%s', async (_name, stdin, stdout, env, extra, asks) => {
    const sb = fresh()
    const input = vi.spyOn(Prompter.prototype, 'input').mockImplementation(async (q) => (q === questions.vendorCode ? '5' : 'Asked'))
    setTTY(stdin, stdout)
    const r = await runClass(Init, sb, extra, env)
    if (asks) {
      expect(r.code, r.stderr + r.stdout).toBe(0)
      expect(input).toHaveBeenCalled()
    } else {
      expect(r.code).toBe(2)
      expect(r.stderr + r.stdout).toContain('--vendor-code')
      expect(input).not.toHaveBeenCalled()
      expect(existsSync(join(sb.configDir, 'profiles'))).toBe(false)
    }
  })
})
