/**
 * Device commands (in-process over dist/, build first): init, export, fingerprint, activate with its
 * limits, deactivate, list, show, access. Each refusal is checked with its exit status.
 */
import {existsSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {licadm} from '../helpers/cli.js'
import {dearmorText, armorText} from '../helpers/files.js'
import {lab, refused, type Device, type Lab} from '../helpers/lab.js'

let l: Lab
beforeAll(async () => {
  l = await lab({prefix: 'licadm-cmd-devices-'})
  for (const u of ['ada', 'bob']) await l.json(['user', 'create', '--email', `${u}@example.com`])
  await l.json(['group', 'create', '--name', 'eng'])
  await l.json(['group', 'add-member', 'eng', 'ada@example.com'])
})
afterAll(() => l?.cleanup())

describe('device fingerprint', () => {
  it('is the same in two separate runs; --json lists the inputs with present flags and never a raw value', async () => {
    const a = await licadm(['device', 'fingerprint'], {env: l.env})
    const b = await licadm(['device', 'fingerprint'], {env: l.env})
    expect(a.code).toBe(0)
    expect(a.stdout.trim()).toMatch(/^[0-9A-F]{8}(-[0-9A-F]{8}){3}$/)
    expect(b.stdout).toBe(a.stdout)
    const j = await licadm(['device', 'fingerprint', '--json'], {env: l.env})
    expect(j.json.ok).toBe(true)
    expect(j.json.result.fingerprint).toBe(a.stdout.trim())
    const inputs = j.json.result.inputs as Array<Record<string, unknown>>
    expect(inputs.length).toBeGreaterThanOrEqual(5)
    for (const input of inputs) {
      expect(Object.keys(input).sort()).toEqual(['name', 'present'])
      expect(typeof input.present).toBe('boolean')
    }
    expect(inputs.map((i) => i.name)).toContain('machine-id')
    const output = a.stdout + a.stderr + j.stdout + j.stderr
    for (const path of ['/etc/machine-id', '/var/lib/dbus/machine-id', '/sys/class/dmi/id/product_uuid', '/sys/class/dmi/id/board_serial']) {
      let raw = ''
      try {
        raw = readFileSync(path, 'utf8').trim()
      } catch {
        continue
      }
      if (raw.length >= 4) expect(output, path).not.toContain(raw)
    }
    if (existsSync('/etc/machine-id') && readFileSync('/etc/machine-id', 'utf8').trim()) {
      expect(inputs.find((i) => i.name === 'machine-id')?.present).toBe(true)
    }
  })

  it('device init without --fingerprint uses the machine fingerprint', async () => {
    const dir = l.path('devices', 'machine')
    const fp = (await l.json(['device', 'fingerprint'])).fingerprint
    const init = await l.json(['device', 'init', '--name', 'this-machine'], {LICADM_DEVICE_DIR: dir})
    expect(init.device).toMatchObject({fingerprint: fp, name: 'this-machine', fingerprintSource: 'machine'})
  })
})

describe('device init and export', () => {
  it('init creates 0600 key files in the device directory; a second init is refused (4); a bad fingerprint names the flag (2)', async () => {
    const dir = l.path('devices', 'init-test')
    const env = {LICADM_DEVICE_DIR: dir}
    const r = await l.admin(['device', 'init', '--fingerprint', 'SIM-INIT-0001', '--name', 'init test'], env)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`Device init test (SIM-INIT-0001) initialized in ${dir}`)
    for (const f of ['sign.pem', 'enc.pem', 'state.json']) expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    const again = refused(await l.admin(['device', 'init', '--fingerprint', 'SIM-INIT-0002', '--json'], env), 4)
    expect(again.hint).toMatch(/--force/)
    const forced = await l.json(['device', 'init', '--fingerprint', 'SIM-INIT-0002', '--force'], env)
    expect(forced.device.fingerprint).toBe('SIM-INIT-0002')
    const bad = refused(await l.admin(['device', 'init', '--fingerprint', 'no spaces', '--json'], {LICADM_DEVICE_DIR: l.path('devices', 'bad')}), 2)
    expect(bad.details.flag).toBe('--fingerprint')
    // Commands that need a device say how to make one.
    const none = refused(await l.admin(['device', 'export', '--json'], {LICADM_DEVICE_DIR: l.path('devices', 'none')}), 3)
    expect(none.hint).toMatch(/device init/)
  })

  it('export writes an identity file the admin can activate; to stdout without --out', async () => {
    const d = await l.device('export-test')
    const text = readFileSync(d.identity, 'utf8')
    expect(text).toMatch(/^-----BEGIN LICADM DEVICE-----\n/)
    const r = await d.run(['device', 'export'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^-----BEGIN LICADM DEVICE-----\n/)
    const j = await d.run(['device', 'export', '--json'])
    expect(j.json.result.identity).toMatchObject({fingerprint: d.fingerprint, name: 'export-test'})
    expect(JSON.stringify(j.json)).not.toMatch(/PRIVATE/)
    refused(await d.run(['device', 'export', '--out', d.identity, '--json']), 4)
  })
})

describe('device activate', () => {
  let personal: string
  let devices: Device[]
  beforeAll(async () => {
    personal = (await l.json(['container', 'create', '--kind', 'personal', '--user', 'ada@example.com', '--out', l.path('personal.cred')])).container.serial
    devices = []
    for (let i = 1; i <= 5; i++) devices.push(await l.device(`limit${i}`))
  })

  it('a tampered identity file is refused (5 or 10) and nothing is registered', async () => {
    const d = devices[4]
    const {jws} = dearmorText(readFileSync(d.identity, 'utf8'))
    const [h, p, s] = jws.split('.')
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString())
    const renamed = l.path('tampered-name.device')
    writeFileSync(renamed, armorText(`${h}.${Buffer.from(JSON.stringify({...payload, sub: 'SIM-STOLEN-0001'})).toString('base64url')}.${s}`, 'DEVICE'))
    const e1 = await l.admin(['device', 'activate', '--container', personal, '--identity', renamed])
    expect([5, 10]).toContain(e1.code)
    expect(e1.stderr).toMatch(/device identity file/)
    const e1j = await l.admin(['device', 'activate', '--container', personal, '--identity', renamed, '--json'])
    expect([5, 10]).toContain(e1j.code)
    expect(e1j.json.error.exitCode).toBe(e1j.code)
    const charFlipped = l.path('tampered-char.device')
    const file = readFileSync(d.identity, 'utf8')
    const at = file.indexOf('\n') + 40
    writeFileSync(charFlipped, file.slice(0, at) + (file[at] === 'A' ? 'B' : 'A') + file.slice(at + 1))
    expect([5, 10]).toContain((await l.admin(['device', 'activate', '--container', personal, '--identity', charFlipped])).code)
    const garbage = l.path('garbage.device')
    writeFileSync(garbage, 'hello\n')
    expect((await l.admin(['device', 'activate', '--container', personal, '--identity', garbage])).code).toBe(10)
    expect((await l.json(['device', 'list'])).devices.map((x: {fingerprint: string}) => x.fingerprint)).not.toContain('SIM-STOLEN-0001')
    refused(await l.admin(['device', 'show', 'SIM-STOLEN-0001', '--json']), 3)
  })

  it('by flags: fingerprint and both public keys; a missing one is named (2)', async () => {
    const d = devices[4]
    const dev = JSON.parse(readFileSync(join(d.dir, 'device.json'), 'utf8'))
    const missing = refused(await l.admin(['device', 'activate', '--container', personal, '--fingerprint', d.fingerprint, '--sign-key', dev.signKey, '--json']), 2)
    expect(missing.details.flag).toBe('--enc-key')
    const badKey = refused(await l.admin(['device', 'activate', '--container', personal, '--fingerprint', d.fingerprint, '--sign-key', 'short', '--enc-key', dev.encKey, '--json']), 2)
    expect(badKey.details.flag).toBe('--sign-key')
    refused(await l.admin(['device', 'activate', '--container', personal, '--identity', d.identity, '--fingerprint', d.fingerprint, '--json']), 2)
  })

  it('personal container of 3: three activate, the 4th is refused (4) with the active devices and the deactivate command; deactivate frees the slot at once', async () => {
    for (const d of devices.slice(0, 3)) {
      const r = await l.json(['device', 'activate', '--container', personal, '--identity', d.identity, '--user', 'ada@example.com'])
      expect(r).toMatchObject({serial: personal, fingerprint: d.fingerprint, state: 'active', changed: true, user: 'ada@example.com'})
    }
    const text = await l.admin(['device', 'activate', '--container', personal, '--identity', devices[3].identity])
    refused(text, 4)
    expect(text.stderr).toMatch(/is active on 3 of 3 device\(s\)/)
    for (const d of devices.slice(0, 3)) expect(text.stderr).toContain(`${d.name} (${d.fingerprint})`)
    expect(text.stderr).toContain(`Hint: Free a slot with "licadm device deactivate --container ${personal} FINGERPRINT".`)
    const json = refused(await l.admin(['device', 'activate', '--container', personal, '--identity', devices[3].identity, '--json']), 4)
    expect(json.code).toBe('DEVICE_LIMIT_REACHED')
    expect(json.details.limit).toBe(3)
    expect(json.details.devices.map((d: {fingerprint: string}) => d.fingerprint).sort()).toEqual(devices.slice(0, 3).map((d) => d.fingerprint).sort())
    expect(json.hint).toContain(`device deactivate --container ${personal}`)
    const shown = (await l.json(['container', 'show', personal])).container
    expect(shown.devices.filter((d: {state: string}) => d.state === 'active')).toHaveLength(3)
    expect((await l.admin(['container', 'show', personal])).stdout).toMatch(/Devices\s+3 of 3/)

    const off = await l.admin(['device', 'deactivate', devices[1].fingerprint, '--container', personal])
    expect(off.code).toBe(0)
    expect(off.stdout).toContain(`Deactivated ${devices[1].fingerprint} on ${personal}`)
    const offAgain = await l.admin(['device', 'deactivate', devices[1].fingerprint, '--container', personal])
    expect(offAgain.stdout).toMatch(/inactive .* already; nothing changed/)
    refused(await l.admin(['device', 'deactivate', 'SIM-NEVER-SEEN', '--container', personal, '--json']), 3)
    expect((await l.json(['device', 'activate', '--container', personal, '--identity', devices[3].identity])).changed).toBe(true)
    const after = (await l.json(['container', 'show', personal])).container
    expect(Object.fromEntries(after.devices.map((d: {name: string; state: string}) => [d.name, d.state]))).toEqual({limit1: 'active', limit2: 'inactive', limit3: 'active', limit4: 'active'})
    expect((await l.admin(['container', 'list'])).stdout).toMatch(new RegExp(`${personal}\\s+personal\\s+ada@example.com\\s+0\\s+3/3`))
  })

  it('re-activating the same fingerprint is idempotent: changed=false, no second slot', async () => {
    const d = devices[0]
    const again = await l.json(['device', 'activate', '--container', personal, '--identity', d.identity, '--user', 'ada@example.com'])
    expect(again).toMatchObject({changed: false, state: 'active'})
    const text = await l.admin(['device', 'activate', '--container', personal, '--identity', d.identity])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/is active on .* already; nothing changed/)
    const shown = (await l.json(['container', 'show', personal])).container
    expect(shown.devices.filter((x: {fingerprint: string}) => x.fingerprint === d.fingerprint)).toHaveLength(1)
    expect(shown.devices.filter((x: {state: string}) => x.state === 'active')).toHaveLength(3)
  })

  it('--max-devices 1 takes one device; a device of another user is refused', async () => {
    const one = (await l.json(['container', 'create', '--kind', 'personal', '--user', 'bob@example.com', '--max-devices', '1', '--out', l.path('one.cred')])).container.serial
    await l.json(['device', 'activate', '--container', one, '--identity', devices[4].identity])
    const e = refused(await l.admin(['device', 'activate', '--container', one, '--identity', devices[3].identity, '--json']), 4)
    expect(e.message).toMatch(/1 of 1/)
    const notOwner = refused(await l.admin(['device', 'activate', '--container', one, '--identity', devices[3].identity, '--user', 'ada@example.com', '--json']), 4)
    expect(notOwner.code).toBe('NOT_THE_OWNER')
  })

  it('an enterprise container accepts members only (4), and needs --user (2)', async () => {
    const ent = (await l.json(['container', 'create', '--kind', 'enterprise', '--group', 'eng', '--out', l.path('ent.cred')])).container.serial
    const d = await l.device('ent-dev')
    const noUser = await l.admin(['device', 'activate', '--container', ent, '--identity', d.identity])
    refused(noUser, 2)
    expect(noUser.stderr).toContain('--user')
    expect(refused(await l.admin(['device', 'activate', '--container', ent, '--identity', d.identity, '--json']), 2).details.flag).toBe('--user')
    const outsider = await l.admin(['device', 'activate', '--container', ent, '--identity', d.identity, '--user', 'bob@example.com'])
    refused(outsider, 4)
    expect(outsider.stderr).toMatch(/bob@example.com is not a member of the group/)
    expect(outsider.stderr).toMatch(/Hint: Add them to the group first/)
    expect(refused(await l.admin(['device', 'activate', '--container', ent, '--identity', d.identity, '--user', 'bob@example.com', '--json']), 4).code).toBe('NOT_A_MEMBER')
    refused(await l.admin(['device', 'activate', '--container', ent, '--identity', d.identity, '--user', 'nobody@example.com', '--json']), 3)
    expect((await l.json(['device', 'activate', '--container', ent, '--identity', d.identity, '--user', 'ada@example.com'])).changed).toBe(true)
    expect((await l.json(['container', 'show', ent])).container.devices).toEqual([expect.objectContaining({fingerprint: d.fingerprint, user: 'ada@example.com', state: 'active'})])
  })

  it('--saw needs the secret (2 naming --credentials without a terminal) and a writable path, checked before activating', async () => {
    const p = (await l.json(['container', 'create', '--kind', 'personal', '--user', 'bob@example.com', '--out', l.path('sawcheck.cred')])).container.serial
    const d = await l.device('sawcheck')
    const noSecret = refused(await l.admin(['device', 'activate', '--container', p, '--identity', d.identity, '--saw', l.path('sawcheck.saw'), '--json']), 2)
    expect(noSecret.details.flag).toBe('--credentials')
    writeFileSync(l.path('exists.saw'), 'x')
    const exists = refused(await l.admin(['device', 'activate', '--container', p, '--identity', d.identity, '--saw', l.path('exists.saw'), '--credentials', l.path('sawcheck.cred'), '--json']), 4)
    expect(exists.message).toMatch(/exists already/)
    refused(await l.admin(['device', 'activate', '--container', p, '--identity', d.identity, '--saw', l.path('no-such-dir', 'x.saw'), '--credentials', l.path('sawcheck.cred'), '--json']), 2)
    // Refused before the activation: the container has no device.
    expect((await l.json(['container', 'show', p])).container.devices).toEqual([])
    const wrongContainer = refused(await l.admin(['device', 'activate', '--container', p, '--identity', d.identity, '--saw', l.path('sawcheck.saw'), '--credentials', l.path('personal.cred'), '--json']), 2)
    expect(wrongContainer.message).toMatch(/is for container/)
    const ok = await l.json(['device', 'activate', '--container', p, '--identity', d.identity, '--saw', l.path('sawcheck.saw'), '--credentials', l.path('sawcheck.cred')])
    expect(ok.sawFile).toBe(l.path('sawcheck.saw'))
    expect(statSync(l.path('sawcheck.saw')).mode & 0o777).toBe(0o600)
    // A secret from the environment works too; a wrong one is refused (7).
    const other = await l.device('sawcheck2')
    const e = refused(await l.admin(['device', 'activate', '--container', p, '--identity', other.identity, '--saw', l.path('sawcheck2.saw'), '--json'], {LICADM_CONTAINER_SECRET: 'lcs_wrong'}), 7)
    expect(e.code).toBe('AUTH')
    const secret = JSON.parse(readFileSync(l.path('sawcheck.cred'), 'utf8')).secret
    await l.json(['device', 'activate', '--container', p, '--identity', other.identity, '--saw', l.path('sawcheck2.saw')], {LICADM_CONTAINER_SECRET: secret})
    expect(existsSync(l.path('sawcheck2.saw'))).toBe(true)
  })
})

describe('device list, show, access', () => {
  it('list and show the links with their state', async () => {
    const list = (await l.json(['device', 'list', '--user', 'ada@example.com'])).devices
    expect(list.length).toBeGreaterThan(0)
    expect(list.every((d: {user: string}) => d.user === 'ada@example.com')).toBe(true)
    const limit2 = (await l.json(['device', 'list'])).devices.find((d: {name: string}) => d.name === 'limit2')
    const shown = (await l.json(['device', 'show', limit2.fingerprint])).device
    expect(shown.activations).toEqual([expect.objectContaining({kind: 'personal', state: 'inactive', pendingRemoval: false, lastSeen: null})])
    const text = await l.admin(['device', 'show', limit2.fingerprint])
    expect(text.stdout).toMatch(/personal, inactive, last seen never/)
    expect((await l.admin(['device', 'list'])).stdout).toMatch(new RegExp(`${limit2.fingerprint}\\s+limit2\\s+.*:inactive`))
  })

  it('access without a credential on the device is refused (7)', async () => {
    const d = await l.device('no-cred')
    const serial = (await l.json(['container', 'list', '--kind', 'enterprise'])).containers[0].serial
    const e = await d.run(['device', 'access', '--container', serial])
    refused(e, 7)
    expect(e.stderr).toMatch(/holds no credential/)
    expect(e.stderr).toMatch(/saw apply/)
  })
})
