/**
 * token create / list / revoke, run in-process over dist/ (build first): the secret shown once or
 * written 0600, never listed, never stored; refusals with their exit statuses; a token made here is
 * accepted by a server on the same profile store, and refused once revoked.
 */
import {existsSync, readFileSync, statSync, writeFileSync} from 'node:fs'

import type {Command, Config} from '@oclif/core'
import {captureOutput} from '@oclif/test'
import {afterAll, afterEach, beforeAll, describe, expect, it, vi} from 'vitest'

import {BaseCommand} from '../../src/cli/base-command.js'
import {Prompter} from '../../src/cli/prompts.js'
import TokenCreate from '../../src/commands/token/create.js'
import TokenRevoke from '../../src/commands/token/revoke.js'
import {ManualClock} from '../../src/domain/clock.js'
import {startServer} from '../../src/server/runtime.js'
import {ROOT} from '../helpers/cli.js'
import {lab, refused, type Lab} from '../helpers/lab.js'
import {REMOTE, remoteServerOn} from '../helpers/remote.js'

const SHAPE = /lat_tok_[0-9a-z]{22}_[A-Za-z0-9_-]{43}/

let l: Lab
beforeAll(async () => {
  l = await lab({prefix: 'licadm-cmd-tokens-'})
  await l.json(['group', 'create', '--name', 'eng'])
})
afterAll(() => l?.cleanup())

describe('token create', () => {
  it('prints the token once in text mode, with its role and expiry; the store keeps only a hash', async () => {
    const r = await l.admin(['token', 'create', '--role', 'client', '--name', 'ci-text', '--expires', '90d'])
    expect(r.code, r.stderr).toBe(0)
    const token = SHAPE.exec(r.stdout)?.[0]
    expect(token).toBeDefined()
    expect(r.stdout.split(token!).length).toBe(2) // exactly once
    expect(r.stdout).toMatch(/Created client token ci-text \(tok_[0-9a-z]{22}\), valid until \d{4}-\d{2}-\d{2}T/)
    expect(r.stdout).toMatch(/shown only this once/)
    expect(l.dbBytes().includes(Buffer.from(token!))).toBe(false)
    expect(l.dbBytes().includes(Buffer.from(token!.slice(-43)))).toBe(false)
  })

  it('--json returns the token and its info; a group-admin token names its group', async () => {
    const {info, token} = await l.json(['token', 'create', '--role', 'group-admin', '--group', 'eng', '--name', 'eng-admins'])
    expect(token).toMatch(new RegExp(`^${SHAPE.source}$`))
    expect(token).toContain(info.id)
    expect(info).toMatchObject({name: 'eng-admins', role: 'group-admin', groupName: 'eng', status: 'active', expiresAt: null})
    expect(info.createdBy).toMatch(REMOTE ? /^token:remote-suite$/ : /^local:.+@default$/)
  })

  it('--out writes the token to a 0600 file and does not print it, in text and in --json', async () => {
    const out = l.path('vendor.token')
    const r = await l.admin(['token', 'create', '--role', 'vendor', '--name', 'release', '--out', out])
    expect(r.code, r.stderr).toBe(0)
    const token = readFileSync(out, 'utf8')
    expect(token).toMatch(new RegExp(`^${SHAPE.source}\\n$`))
    expect(statSync(out).mode & 0o777).toBe(0o600)
    expect(r.stdout).not.toContain(token.trim())
    expect(r.stdout).toMatch(/written to .*vendor\.token \(0600\)/)

    const out2 = l.path('client.token')
    const json = await l.json(['token', 'create', '--role', 'client', '--name', 'ci-file', '--out', out2])
    expect(json).toEqual({info: expect.objectContaining({name: 'ci-file'}), file: out2})
    expect(JSON.stringify(json)).not.toContain(readFileSync(out2, 'utf8').trim())
  })

  it('an --out that exists is refused before a token is made (4); --force overwrites', async () => {
    const out = l.path('taken.token')
    writeFileSync(out, 'keep me')
    const before = (await l.json(['token', 'list', '--all'])).tokens.length
    const e = refused(await l.admin(['token', 'create', '--role', 'client', '--out', out, '--json']), 4)
    expect(e.code).toBe('FILE_EXISTS')
    expect(readFileSync(out, 'utf8')).toBe('keep me')
    expect((await l.json(['token', 'list', '--all'])).tokens).toHaveLength(before)
    await l.json(['token', 'create', '--role', 'client', '--out', out, '--force'])
    expect(readFileSync(out, 'utf8')).toMatch(SHAPE)
  })

  it('refusals name the flag: group rules, expiry range, role, a name in use', async () => {
    const noGroup = refused(await l.admin(['token', 'create', '--role', 'group-admin', '--json']), 2)
    expect(noGroup.details.flag).toBe('--group')
    refused(await l.admin(['token', 'create', '--role', 'group-admin', '--group', 'nope', '--json']), 3)
    const clientGroup = refused(await l.admin(['token', 'create', '--role', 'client', '--group', 'eng', '--json']), 2)
    expect(clientGroup.message).toMatch(/only a group-admin token belongs to a group/)
    for (const expires of ['10y', '10s', 'tomorrow']) {
      expect(refused(await l.admin(['token', 'create', '--role', 'client', '--expires', expires, '--json']), 2).details.flag).toBe('--expires')
    }
    refused(await l.admin(['token', 'create', '--role', 'root', '--json']), 2)
    expect(refused(await l.admin(['token', 'create', '--json']), 2).details.flag).toBe('--role')
    const text = await l.admin(['token', 'create', '--role', 'client', '--name', 'ci-text'])
    refused(text, 4)
    expect(text.stderr).toMatch(/a token named "ci-text" exists already/)
    expect(text.stderr).toMatch(/Hint: Choose another --name/)
  })
})

describe('token list and revoke', () => {
  it('list shows a table and never a secret; --json has no secret or hash either', async () => {
    const {token} = await l.json(['token', 'create', '--role', 'client', '--name', 'listed'])
    const text = await l.admin(['token', 'list'])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/NAME\s+ROLE\s+GROUP\s+STATUS\s+EXPIRES\s+LAST USED\s+ID/)
    expect(text.stdout).toMatch(/eng-admins\s+group-admin\s+eng\s+active\s+never\s+never\s+tok_/)
    expect(text.stdout).toMatch(/listed\s+client\s+-\s+active/)
    expect(text.stdout).not.toMatch(SHAPE)
    const json = await l.json(['token', 'list'])
    expect(json.tokens.map((t: {name: string}) => t.name)).toContain('listed')
    const all = JSON.stringify(json)
    expect(all).not.toContain(token)
    expect(all).not.toMatch(/secret|hash/i)
  })

  it('revoke needs --yes without a terminal; then the token is gone from the list but kept with --all; again changes nothing', async () => {
    const {info} = await l.json(['token', 'create', '--role', 'client', '--name', 'to-revoke'])
    const needsYes = refused(await l.admin(['token', 'revoke', 'to-revoke', '--json']), 2)
    expect(needsYes.details.flag).toBe('--yes')
    expect((await l.json(['token', 'list'])).tokens.map((t: {name: string}) => t.name)).toContain('to-revoke')

    const text = await l.admin(['token', 'revoke', 'to-revoke', '--yes'])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/Revoked token to-revoke \(tok_/)
    expect((await l.json(['token', 'list'])).tokens.map((t: {name: string}) => t.name)).not.toContain('to-revoke')
    const listed = (await l.json(['token', 'list', '--all'])).tokens.find((t: {id: string}) => t.id === info.id)
    expect(listed).toMatchObject({status: 'revoked'})
    expect(await l.json(['token', 'revoke', info.id])).toMatchObject({changed: false, token: {id: info.id, status: 'revoked'}})
    expect((await l.admin(['token', 'revoke', info.id])).stdout).toMatch(/was already revoked; nothing changed/)
    refused(await l.admin(['token', 'revoke', 'nobody', '--yes', '--json']), 3)
  })

  it('create and revoke are in the audit trail, by the local actor', async () => {
    const {info} = await l.json(['token', 'create', '--role', 'client', '--name', 'audited'])
    await l.json(['token', 'revoke', 'audited', '--yes'])
    const {events} = await l.json(['audit', 'list', '--subject', `token:${info.id}`])
    expect(events.map((e: {action: string}) => e.action)).toEqual(['token.create', 'token.revoke'])
    expect(events[0].actor).toMatch(REMOTE ? /^token:remote-suite$/ : /^local:.+@default$/)
  })
})

describe('a server on the profile store', () => {
  it('accepts a token made with "token create" and refuses it once revoked, with no restart', async () => {
    const {token} = await l.json(['token', 'create', '--role', 'client', '--name', 'live'])
    // One server per store: in the remote project, the one the suite runs on the profile's store.
    const own = REMOTE ? undefined : await startServer({port: 0, data: {kind: 'profile', storePath: l.storePath(), keyDir: l.keyDir()}, clock: new ManualClock(Date.now())})
    const server = own ?? (await remoteServerOn(l.storePath()))!
    try {
      const get = () => fetch(`${server.url}/v1/leases`, {headers: {authorization: `Bearer ${token}`}})
      expect((await get()).status).toBe(200)
      await l.json(['token', 'revoke', 'live', '--yes'])
      const refusedAnswer = await get()
      expect(refusedAnswer.status).toBe(401)
      const body = (await refusedAnswer.json()) as {error: {details: {reason: string}}}
      expect(body.error.details.reason).toBe('revoked-token')
    } finally {
      await own?.close()
    }
    expect(existsSync(l.storePath())).toBe(true)
  })
})

type CommandClass = typeof Command & (new (argv: string[], config: Config) => Command)

/** Runs a command class from src/ (so the prompter stubs apply) on the lab's profile, with a person at the terminal. */
async function atTerminal(cmd: CommandClass, argv: string[]): Promise<{code: number; stdout: string; stderr: string}> {
  vi.spyOn(BaseCommand.prototype as unknown as {canPrompt(): boolean}, 'canPrompt').mockReturnValue(true)
  const saved = {...process.env}
  Object.assign(process.env, l.env, {NO_COLOR: '1'})
  process.exitCode = undefined
  try {
    const {stdout, stderr, error} = await captureOutput(async () => cmd.run(argv, ROOT), {stripAnsi: false})
    if (error) throw error
    return {code: Number(process.exitCode ?? 0), stdout, stderr}
  } finally {
    process.exitCode = undefined
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
    Object.assign(process.env, saved)
  }
}

describe('in a terminal', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('create asks for the role, and for the group of a group-admin token', async () => {
    const select = vi.spyOn(Prompter.prototype, 'select').mockResolvedValue('group-admin')
    const input = vi.spyOn(Prompter.prototype, 'input').mockResolvedValue('eng')
    const r = await atTerminal(TokenCreate as unknown as CommandClass, ['--name', 'asked'])
    expect(r.code, r.stderr).toBe(0)
    expect(select.mock.calls[0][1].map((c) => c.value)).toEqual(['client', 'group-admin', 'vendor'])
    expect(input.mock.calls[0][0].message).toMatch(/Group/)
    expect(r.stdout).toMatch(/Created group-admin token asked for group eng/)
  })

  it('revoke asks first; "no" cancels (9) and the token keeps working', async () => {
    await l.json(['token', 'create', '--role', 'client', '--name', 'kept'])
    const confirm = vi.spyOn(Prompter.prototype, 'confirm').mockResolvedValue(false)
    const r = await atTerminal(TokenRevoke as unknown as CommandClass, ['kept'])
    expect(r.code).toBe(9)
    expect(confirm.mock.calls[0][0]).toMatch(/^Revoke client token kept \(tok_/)
    expect((await l.json(['token', 'list'])).tokens.find((t: {name: string}) => t.name === 'kept')).toMatchObject({status: 'active'})
  })
})
