/**
 * Commands for users, groups and containers, run in-process over dist/ (build first): output, --json
 * envelopes and exit statuses, refusals in text and in --json.
 */
import {existsSync, readFileSync, statSync} from 'node:fs'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ok} from '../helpers/cli.js'
import {lab, refused, secretOf, type Lab} from '../helpers/lab.js'

let l: Lab
beforeAll(async () => {
  l = await lab({prefix: 'licadm-cmd-containers-'})
  for (const u of ['ada', 'bob', 'cy']) await l.json(['user', 'create', '--email', `${u}@example.com`, '--name', u.toUpperCase()])
  await l.json(['group', 'create', '--name', 'eng'])
})
afterAll(() => l?.cleanup())

describe('user commands', () => {
  it('create, list, show', async () => {
    const created = await l.json(['user', 'create', '--email', 'Dee@Example.com', '--name', 'Dee'])
    expect(created.user).toMatchObject({email: 'dee@example.com', name: 'Dee'})
    expect(created.user.id).toMatch(/^usr_/)
    const list = await l.json(['user', 'list'])
    expect(list.users.map((u: {email: string}) => u.email)).toEqual(['ada@example.com', 'bob@example.com', 'cy@example.com', 'dee@example.com'])
    const text = await l.admin(['user', 'list'])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/EMAIL\s+NAME/)
    expect(text.stdout).toContain('dee@example.com')
    const shown = await l.json(['user', 'show', 'dee@example.com'])
    expect(shown.user).toMatchObject({email: 'dee@example.com', groups: [], containers: [], devices: []})
    expect((await l.admin(['user', 'show', created.user.id])).stdout).toContain('dee@example.com')
  })

  it('a second user with the same email is refused: exit 4, text and --json', async () => {
    const text = await l.admin(['user', 'create', '--email', 'ADA@example.com'])
    refused(text, 4)
    expect(text.stderr).toMatch(/a user with email ada@example.com exists already/)
    const json = refused(await l.admin(['user', 'create', '--email', 'ada@example.com', '--json']), 4)
    expect(json.code).toBe('USER_EXISTS')
  })

  it('create without --email and without a terminal names the flag (2); a bad email names it too', async () => {
    const e = refused(await l.admin(['user', 'create', '--json']), 2)
    expect(e.details.flag).toBe('--email')
    const bad = refused(await l.admin(['user', 'create', '--email', 'nope', '--json']), 2)
    expect(bad.message).toMatch(/^--email: /)
  })

  it('show and delete of an unknown user: 3', async () => {
    refused(await l.admin(['user', 'show', 'nobody@example.com', '--json']), 3)
    refused(await l.admin(['user', 'delete', 'nobody@example.com', '--yes', '--json']), 3)
  })

  it('delete needs --yes without a terminal, and is refused while the user owns a container (4)', async () => {
    await l.json(['user', 'create', '--email', 'owner@example.com'])
    const needsYes = refused(await l.admin(['user', 'delete', 'owner@example.com', '--json']), 2)
    expect(needsYes.details.flag).toBe('--yes')
    const {container} = await l.json(['container', 'create', '--kind', 'personal', '--user', 'owner@example.com', '--out', l.path('owner.cred')])
    const text = await l.admin(['user', 'delete', 'owner@example.com', '--yes'])
    refused(text, 4)
    expect(text.stderr).toContain(container.serial)
    expect(text.stderr).toMatch(/Hint: Unassign or delete those containers first/)
    const json = refused(await l.admin(['user', 'delete', 'owner@example.com', '--yes', '--json']), 4)
    expect(json).toMatchObject({code: 'USER_OWNS_CONTAINERS', details: {containers: [container.serial]}})
    await l.json(['container', 'delete', container.serial, '--yes'])
    expect((await l.json(['user', 'delete', 'owner@example.com', '--yes'])).deleted.email).toBe('owner@example.com')
    refused(await l.admin(['user', 'show', 'owner@example.com', '--json']), 3)
  })
})

describe('group commands', () => {
  it('create, list, show, add-member (--admin), set-role, remove-member', async () => {
    refused(await l.admin(['group', 'create', '--name', 'eng', '--json']), 4)
    await l.json(['group', 'create', '--name', 'ops'])
    expect(await l.json(['group', 'add-member', 'ops', 'ada@example.com', '--admin'])).toMatchObject({role: 'admin', changed: true})
    expect(await l.json(['group', 'add-member', 'ops', 'bob@example.com'])).toMatchObject({role: 'member', changed: true})
    const again = await l.admin(['group', 'add-member', 'ops', 'bob@example.com'])
    expect(again.code).toBe(0)
    expect(again.stdout).toMatch(/already; nothing changed/)
    const conflict = refused(await l.admin(['group', 'add-member', 'ops', 'bob@example.com', '--admin', '--json']), 4)
    expect(conflict.hint).toMatch(/group set-role/)
    refused(await l.admin(['group', 'add-member', 'ops', 'nobody@example.com', '--json']), 3)
    refused(await l.admin(['group', 'add-member', 'nogroup', 'bob@example.com', '--json']), 3)
    await l.json(['group', 'set-role', 'ops', 'bob@example.com', 'admin'])
    refused(await l.admin(['group', 'set-role', 'ops', 'bob@example.com', 'owner', '--json']), 2)
    let shown = (await l.json(['group', 'show', 'ops'])).group
    expect(shown.members.map((m: {email: string; role: string}) => [m.email, m.role])).toEqual([['ada@example.com', 'admin'], ['bob@example.com', 'admin']])
    const text = await l.admin(['group', 'show', 'ops'])
    expect(text.stdout).toMatch(/bob@example.com\s+BOB\s+admin/)
    await l.json(['group', 'set-role', 'ops', 'bob@example.com', 'member'])
    await l.json(['group', 'remove-member', 'ops', 'bob@example.com'])
    refused(await l.admin(['group', 'remove-member', 'ops', 'bob@example.com', '--json']), 3)
    shown = (await l.json(['group', 'show', 'ops'])).group
    expect(shown.members.map((m: {email: string}) => m.email)).toEqual(['ada@example.com'])
    const list = await l.json(['group', 'list'])
    expect(list.groups.map((g: {name: string; members: number}) => [g.name, g.members])).toEqual([['eng', 0], ['ops', 1]])
    expect((await l.json(['user', 'show', 'ada@example.com'])).user.groups).toEqual([expect.objectContaining({name: 'ops', role: 'admin'})])
  })

  it('delete: needs --yes; refused while the group owns a container', async () => {
    await l.json(['group', 'create', '--name', 'tmp'])
    const {container} = await l.json(['container', 'create', '--kind', 'enterprise', '--group', 'tmp', '--out', l.path('tmp.cred')])
    refused(await l.admin(['group', 'delete', 'tmp', '--json']), 2)
    const e = refused(await l.admin(['group', 'delete', 'tmp', '--yes', '--json']), 4)
    expect(e.message).toContain(container.serial)
    await l.json(['container', 'unassign', container.serial, '--yes'])
    await l.json(['group', 'delete', 'tmp', '--yes'])
    refused(await l.admin(['group', 'show', 'tmp', '--json']), 3)
  })

  it("remove-member marks the user's devices on the group's enterprise containers; group show lists them (text and --json)", async () => {
    await l.json(['group', 'create', '--name', 'sales'])
    for (const u of ['ada', 'bob']) await l.json(['group', 'add-member', 'sales', `${u}@example.com`])
    const {container} = await l.json(['container', 'create', '--kind', 'enterprise', '--group', 'sales', '--out', l.path('sales.cred')])
    const ada = await l.device('sales-ada')
    const bob = await l.device('sales-bob')
    await l.json(['device', 'activate', '--container', container.serial, '--identity', ada.identity, '--user', 'ada@example.com'])
    await l.json(['device', 'activate', '--container', container.serial, '--identity', bob.identity, '--user', 'bob@example.com'])
    const removed = await l.admin(['group', 'remove-member', 'sales', 'bob@example.com'])
    expect(removed.code).toBe(0)
    expect(removed.stdout).toContain(`1 device(s) marked for removal at the next credential reset:`)
    expect(removed.stdout).toContain(`${bob.fingerprint} on ${container.serial}`)
    expect(removed.stdout).toContain(`container reset-credentials ${container.serial}`)
    const shown = (await l.json(['group', 'show', 'sales'])).group
    expect(shown.pendingRemoval).toEqual([{serial: container.serial, fingerprint: bob.fingerprint, userId: expect.stringMatching(/^usr_/), email: 'bob@example.com'}])
    const text = await l.admin(['group', 'show', 'sales'])
    expect(text.stdout).toContain('Pending removal at the next credential reset (1 device(s)):')
    expect(text.stdout).toContain(`${bob.fingerprint} on ${container.serial} (bob@example.com)`)
    expect(text.stdout).not.toContain(`${ada.fingerprint} on`)
    // container show and device list say so too.
    const c = (await l.json(['container', 'show', container.serial])).container
    expect(c.devices.map((d: {fingerprint: string; pendingRemoval: boolean}) => [d.fingerprint, d.pendingRemoval])).toEqual([
      [ada.fingerprint, false],
      [bob.fingerprint, true],
    ])
    expect((await l.admin(['container', 'show', container.serial])).stdout).toMatch(/active, removal pending/)
    expect((await l.admin(['device', 'list', '--container', container.serial])).stdout).toContain(`${container.serial}:active!`)
  })
})

describe('container create', () => {
  it('personal: P- serial, max devices 3, the secret shown once in text; stored only as a hash', async () => {
    const r = await l.admin(['container', 'create', '--kind', 'personal', '--user', 'ada@example.com'])
    expect(r.code).toBe(0)
    const serial = /Created personal container (P-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})/.exec(r.stdout)![1]
    const secret = /shown only this once: (lcs_[A-Za-z0-9_-]+)/.exec(r.stdout)![1]
    expect(secret).toHaveLength(47)
    const shown = await l.json(['container', 'show', serial])
    expect(shown.container).toMatchObject({kind: 'personal', maxDevices: 3, generation: 1, owner: {user: {email: 'ada@example.com'}}})
    expect(JSON.stringify(shown)).not.toContain(secret)
    expect((await l.admin(['container', 'show', serial])).stdout).toMatch(/Devices\s+0 of 3/)
    const list = await l.admin(['container', 'list'])
    expect(list.stdout).not.toContain(secret)
    expect(list.stdout).toMatch(new RegExp(`${serial}\\s+personal\\s+ada@example.com\\s+0\\s+0/3\\s+1`))
    // Not in the store's bytes (database, WAL), only its hash.
    const bytes = l.dbBytes()
    expect(bytes.includes(Buffer.from(secret))).toBe(false)
    expect(bytes.includes(Buffer.from(secret.slice(4)))).toBe(false)
    const {createHash} = await import('node:crypto')
    const {openStoreReadOnly} = await import('../helpers/cli.js')
    const db = await openStoreReadOnly(l.storePath())
    try {
      expect((db.prepare('select secret_hash from containers where serial = ?').get(serial) as {secret_hash: string}).secret_hash).toBe(createHash('sha256').update(secret).digest('hex'))
    } finally {
      db.close()
    }
  })

  it('--out writes a 0600 credentials file and stdout holds no secret (text and --json)', async () => {
    const file = l.path('ent.cred')
    const r = await l.admin(['container', 'create', '--kind', 'enterprise', '--group', 'eng', '--out', file])
    expect(r.code).toBe(0)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const creds = JSON.parse(readFileSync(file, 'utf8'))
    expect(creds).toMatchObject({kind: 'enterprise', generation: 1, container: expect.stringMatching(/^E-/)})
    expect(r.stdout + r.stderr).not.toContain(creds.secret)
    expect(r.stdout).toContain(`written to ${file} (0600)`)
    const file2 = l.path('ent2.cred')
    const j = await l.admin(['container', 'create', '--kind', 'enterprise', '--group', 'eng', '--out', file2, '--json'])
    const result = ok(j)
    expect(result.credentials).toEqual({file: file2, generation: 1})
    expect(j.stdout).not.toContain(secretOf(file2))
    expect(l.dbBytes().includes(Buffer.from(secretOf(file2)))).toBe(false)
    // An existing file is not overwritten without --force, and nothing is created then.
    const before = (await l.json(['container', 'list'])).containers.length
    const e = refused(await l.admin(['container', 'create', '--kind', 'enterprise', '--group', 'eng', '--out', file2, '--json']), 4)
    expect(e.message).toMatch(/exists/)
    expect((await l.json(['container', 'list'])).containers.length).toBe(before)
  })

  it('--json without --out returns the secret once in the envelope (a pipeline asked for it)', async () => {
    const r = await l.json(['container', 'create', '--kind', 'personal', '--user', 'bob@example.com', '--max-devices', '5'])
    expect(r.container.maxDevices).toBe(5)
    expect(r.credentials.secret).toMatch(/^lcs_/)
    expect(l.dbBytes().includes(Buffer.from(r.credentials.secret))).toBe(false)
  })

  it('local: L- serial bound to a device, no credentials', async () => {
    const r = await l.json(['container', 'create', '--kind', 'local', '--device', 'SIM-LOCAL-0001'])
    expect(r.container.serial).toMatch(/^L-/)
    expect(r.container.owner.fingerprint).toBe('SIM-LOCAL-0001')
    expect(r.credentials).toBeNull()
    const text = await l.admin(['container', 'create', '--kind', 'local', '--device', 'SIM-LOCAL-0002'])
    expect(text.stdout).not.toMatch(/Secret|lcs_/)
  })

  it('the wrong owner flag for the kind is refused with exit 2 naming the flag (text and --json)', async () => {
    const cases: Array<[string[], string]> = [
      [['--kind', 'personal', '--group', 'eng'], '--group'],
      [['--kind', 'enterprise', '--user', 'ada@example.com'], '--user'],
      [['--kind', 'local', '--user', 'ada@example.com', '--device', 'SIM-X'], '--user'],
      [['--kind', 'personal', '--device', 'SIM-X'], '--device'],
      [['--kind', 'local'], '--device'],
      [['--kind', 'enterprise', '--group', 'eng', '--max-devices', '4'], '--max-devices'],
      [['--kind', 'personal', '--max-devices', '0'], '--max-devices'],
      [['--kind', 'personal', '--max-devices', '1001'], '--max-devices'],
    ]
    const before = (await l.json(['container', 'list'])).containers.length
    for (const [args, flag] of cases) {
      const text = await l.admin(['container', 'create', ...args])
      refused(text, 2)
      expect(text.stderr, args.join(' ')).toContain(flag)
      const json = refused(await l.admin(['container', 'create', ...args, '--json']), 2)
      expect(json.details.flag, args.join(' ')).toBe(flag)
    }
    const kind = refused(await l.admin(['container', 'create', '--kind', 'cloud', '--json']), 2)
    expect(kind.message).toMatch(/--kind/)
    refused(await l.admin(['container', 'create', '--json']), 2)
    expect((await l.json(['container', 'list'])).containers.length).toBe(before)
  })

  it('--max-devices accepts 1 and 1000', async () => {
    expect((await l.json(['container', 'create', '--kind', 'personal', '--max-devices', '1'])).container.maxDevices).toBe(1)
    expect((await l.json(['container', 'create', '--kind', 'personal', '--max-devices', '1000'])).container.maxDevices).toBe(1000)
  })
})

describe('container list, show, assign, unassign, delete', () => {
  it('list filters by kind, user and group', async () => {
    const all = (await l.json(['container', 'list'])).containers
    const byKind = (await l.json(['container', 'list', '--kind', 'local'])).containers
    expect(byKind.length).toBeGreaterThan(0)
    expect(byKind.every((c: {kind: string}) => c.kind === 'local')).toBe(true)
    expect((await l.json(['container', 'list', '--group', 'eng'])).containers.every((c: {owner: {group: {name: string}}}) => c.owner.group.name === 'eng')).toBe(true)
    expect((await l.json(['container', 'list', '--user', 'ada@example.com'])).containers.every((c: {owner: {user: {email: string}}}) => c.owner.user.email === 'ada@example.com')).toBe(true)
    expect(all.length).toBeGreaterThan(byKind.length)
    refused(await l.admin(['container', 'list', '--user', 'nobody@example.com', '--json']), 3)
    refused(await l.admin(['container', 'show', 'P-0000-0000-0000', '--json']), 3)
  })

  it('assign and unassign', async () => {
    const {container: p} = await l.json(['container', 'create', '--kind', 'personal', '--out', l.path('unassigned.cred')])
    expect((await l.admin(['container', 'list'])).stdout).toMatch(new RegExp(`${p.serial}\\s+personal\\s+\\(unassigned\\)`))
    const wrong = refused(await l.admin(['container', 'assign', p.serial, '--group', 'eng', '--json']), 2)
    expect(wrong.details.flag).toBe('--user')
    refused(await l.admin(['container', 'assign', p.serial, '--json']), 2)
    refused(await l.admin(['container', 'assign', p.serial, '--user', 'ada@example.com', '--group', 'eng', '--json']), 2)
    const r = await l.admin(['container', 'assign', p.serial, '--user', 'cy@example.com'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`Assigned ${p.serial} to user cy@example.com`)
    const twice = refused(await l.admin(['container', 'assign', p.serial, '--user', 'ada@example.com', '--json']), 4)
    expect(twice.hint).toContain(`container unassign ${p.serial}`)
    refused(await l.admin(['container', 'unassign', p.serial, '--json']), 2)
    const un = await l.json(['container', 'unassign', p.serial, '--yes'])
    expect(un).toMatchObject({container: {owner: {user: null}}, markedDevices: 0})
    const {container: local} = await l.json(['container', 'create', '--kind', 'local', '--device', 'SIM-LOCAL-0003'])
    refused(await l.admin(['container', 'assign', local.serial, '--user', 'ada@example.com', '--json']), 4)
  })

  it('delete: needs --yes; refused while licenses or active devices (4), then allowed', async () => {
    const {container: p} = await l.json(['container', 'create', '--kind', 'personal', '--user', 'cy@example.com', '--out', l.path('del.cred')])
    const lic = (await l.json(['license', 'create', '--product', '7'])).licenses[0]
    await l.json(['container', 'add-license', p.serial, lic.id])
    const dev = await l.device('del-dev')
    await l.json(['device', 'activate', '--container', p.serial, '--identity', dev.identity])
    refused(await l.admin(['container', 'delete', p.serial, '--json']), 2)
    const e1 = await l.admin(['container', 'delete', p.serial, '--yes'])
    refused(e1, 4)
    expect(e1.stderr).toMatch(/still holds 1 license/)
    expect(e1.stderr).toContain(`remove-license ${p.serial}`)
    await l.json(['container', 'remove-license', p.serial, lic.id])
    const e2 = refused(await l.admin(['container', 'delete', p.serial, '--yes', '--json']), 4)
    expect(e2).toMatchObject({code: 'CONTAINER_HAS_DEVICES', details: {devices: [dev.fingerprint]}})
    expect(e2.hint).toContain(`device deactivate --container ${p.serial}`)
    await l.json(['device', 'deactivate', dev.fingerprint, '--container', p.serial])
    expect((await l.json(['container', 'delete', p.serial, '--yes'])).deleted.serial).toBe(p.serial)
    refused(await l.admin(['container', 'show', p.serial, '--json']), 3)
  })
})

describe('container add-license and remove-license', () => {
  let personal: string
  let personal2: string
  let enterprise: string
  beforeAll(async () => {
    personal = (await l.json(['container', 'create', '--kind', 'personal', '--user', 'ada@example.com', '--out', l.path('lic-p.cred')])).container.serial
    personal2 = (await l.json(['container', 'create', '--kind', 'personal', '--user', 'bob@example.com', '--out', l.path('lic-p2.cred')])).container.serial
    enterprise = (await l.json(['container', 'create', '--kind', 'enterprise', '--group', 'eng', '--out', l.path('lic-e.cred')])).container.serial
  })

  it('a license is in one container at a time: the second is refused (4) naming the other container; status assigned then available', async () => {
    const lic = (await l.json(['license', 'create', '--product', '7'])).licenses[0]
    expect((await l.json(['license', 'show', lic.id])).license.status).toBe('available')
    const added = await l.admin(['container', 'add-license', personal, lic.id])
    expect(added.code).toBe(0)
    expect(added.stdout).toContain(`License ${lic.id} is in container ${personal}`)
    expect((await l.json(['license', 'show', lic.id])).license.status).toBe('assigned')
    const text = await l.admin(['container', 'add-license', personal2, lic.id])
    refused(text, 4)
    expect(text.stderr).toContain(`license ${lic.id} is in container ${personal}`)
    const json = refused(await l.admin(['container', 'add-license', personal2, lic.id, '--json']), 4)
    expect(json).toMatchObject({code: 'LICENSE_IN_OTHER_CONTAINER', details: {container: personal}})
    const shown = (await l.json(['container', 'show', personal])).container
    expect(shown.licenses).toEqual([expect.objectContaining({id: lic.id, status: 'assigned'})])
    expect((await l.admin(['container', 'show', personal])).stdout).toMatch(new RegExp(`${lic.id}\\s+7\\s+single\\s+1\\s+assigned`))
    refused(await l.admin(['container', 'remove-license', personal2, lic.id, '--json']), 3)
    await l.json(['container', 'remove-license', personal, lic.id])
    expect((await l.json(['license', 'show', lic.id])).license.status).toBe('available')
    await l.json(['container', 'add-license', personal2, lic.id])
    expect((await l.json(['license', 'show', lic.id])).license.status).toBe('assigned')
  })

  it('a single license in an enterprise container (4), a concurrent one in a personal container (4), a revoked one (4), each with the reason', async () => {
    const single = (await l.json(['license', 'create', '--product', '7'])).licenses[0]
    const conc = (await l.json(['license', 'create', '--product', '7', '--kind', 'concurrent', '--quantity', '10'])).licenses[0]
    const revoked = (await l.json(['license', 'create', '--product', '7'])).licenses[0]
    await l.json(['license', 'revoke', revoked.id, '--yes'])
    const e1 = await l.admin(['container', 'add-license', enterprise, single.id])
    refused(e1, 4)
    expect(e1.stderr).toMatch(/is a single license; an enterprise container holds concurrent licenses/)
    expect(refused(await l.admin(['container', 'add-license', enterprise, single.id, '--json']), 4).code).toBe('LICENSE_KIND_MISMATCH')
    const e2 = refused(await l.admin(['container', 'add-license', personal, conc.id, '--json']), 4)
    expect(e2.message).toMatch(/is a concurrent license; a personal container holds single licenses/)
    const e3 = refused(await l.admin(['container', 'add-license', personal, revoked.id, '--json']), 4)
    expect(e3).toMatchObject({code: 'LICENSE_REVOKED'})
    expect(e3.message).toMatch(/revoked/)
    for (const id of [single.id, conc.id]) expect((await l.json(['license', 'show', id])).license.status).toBe('available')
    await l.json(['container', 'add-license', enterprise, conc.id])
    expect((await l.json(['license', 'show', conc.id])).license.status).toBe('assigned')
    // By ticket too.
    await l.json(['container', 'add-license', personal, single.ticket])
    expect((await l.json(['license', 'show', single.id])).license.status).toBe('assigned')
    refused(await l.admin(['container', 'add-license', personal, 'lic_nope', '--json']), 3)
  })
})

describe('refusals keep their exit status in a real process', () => {
  it('spawned: duplicate email 4, wrong owner flag 2, license in another container 4', async () => {
    const {licadm} = await import('../helpers/cli.js')
    const run = (args: string[]) => licadm(args, {env: l.env})
    refused(await run(['user', 'create', '--email', 'ada@example.com', '--json']), 4)
    expect(refused(await run(['container', 'create', '--kind', 'personal', '--group', 'eng', '--json']), 2).details.flag).toBe('--group')
    const lic = (await l.json(['license', 'create', '--product', '7'])).licenses[0]
    const p = (await l.json(['container', 'create', '--kind', 'local', '--device', 'SIM-LOCAL-9'])).container.serial
    const q = (await l.json(['container', 'create', '--kind', 'local', '--device', 'SIM-LOCAL-8'])).container.serial
    await l.json(['container', 'add-license', p, lic.id])
    const text = await run(['container', 'add-license', q, lic.id])
    refused(text, 4)
    expect(text.stderr).toContain(p)
    expect(existsSync(l.storePath())).toBe(true)
  })
})
