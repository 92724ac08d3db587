import {Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {forceFlag} from '../../cli/flags.js'
import {TOKEN_ROLES} from '../../domain/tokens.js'

const ROLE_CHOICES = [
  {name: 'client: the seat API only (check out, heartbeat, release, borrow)', value: 'client'},
  {name: "group-admin: one group's enterprise containers and members", value: 'group-admin'},
  {name: 'vendor: everything', value: 'vendor'},
]

export default class TokenCreate extends AdminCommand<typeof TokenCreate> {
  static override summary = 'Create an API token for the license server: vendor, group-admin or client.'

  static override description = `The token is shown once (or written to a 0600 file with --out, and then not printed): licadm stores only its SHA-256, so a lost token cannot be shown again; revoke it and create another.

Roles: vendor may do everything; group-admin manages only the enterprise containers and members of its --group; client reaches only the seat API (check out, heartbeat, release, borrow).

A license server that runs on this profile's store (the default of "server start") accepts the token from the next request on: clients send it as "Authorization: Bearer <token>", licadm commands take it from LICADM_TOKEN. --expires makes it stop working after a duration (1m to 5y); without it, it works until revoked.`

  static override examples = [
    {description: 'A client token for a CI pipeline, valid for 90 days, written to a file:', command: '<%= config.bin %> <%= command.id %> --role client --name ci-seats --expires 90d --out ci.token'},
    {description: 'A token for the admins of group engineering:', command: '<%= config.bin %> <%= command.id %> --role group-admin --group engineering --name eng-admins'},
    {description: 'A vendor token, the secret in the JSON result:', command: '<%= config.bin %> <%= command.id %> --role vendor --name release --json'},
    {description: 'Use it from a client:', command: 'LICADM_TOKEN=$(cat ci.token) <%= config.bin %> seat checkout --server https://licenses.example.com:22350 --product 7'},
  ]

  static override flags = {
    role: Flags.string({char: 'r', summary: 'What the token may do (asked in a terminal when missing).', options: [...TOKEN_ROLES]}),
    group: Flags.string({char: 'g', summary: 'The group a group-admin token manages (name or id); only for --role group-admin.'}),
    expires: Flags.string({char: 'e', summary: 'Valid for this long, e.g. 90d, 12h, 1y (1m to 5y; default: until revoked).'}),
    name: Flags.string({char: 'n', summary: 'A name for lists and the audit trail (unique among tokens not revoked; default: role and a short id).'}),
    out: Flags.string({char: 'o', summary: 'Write the token to this file (0600) instead of printing it.'}),
    force: forceFlag,
  }

  async run() {
    // The secret exists only in this run: check that --out can be written before the token is made.
    if (this.flags.out) {
      const {checkWritable} = await import('../../cli/credentials.js')
      checkWritable(this.flags.out, '--out', this.flags.force)
    }
    const role = this.flags.role ?? (this.canPrompt() ? await this.prompter.select('Role of the token', ROLE_CHOICES) : await this.need('role', undefined, {message: ''}))
    let group = this.flags.group
    if (role === 'group-admin' && group === undefined && this.canPrompt()) group = await this.prompter.input({message: 'Group the token manages (name or id)'})
    const backend = await this.backend()
    const {token, info} = await backend.tokens.create({role, group, expires: this.flags.expires, name: this.flags.name})
    const {date} = await import('../../cli/render.js')
    const scope = info.groupName ? ` for group ${info.groupName}` : ''
    const until = info.expiresAt === null ? 'until revoked' : `until ${date(info.expiresAt)}`
    this.log(`${this.color().green('✓')} Created ${info.role} token ${info.name}${scope} (${info.id}), valid ${until}`)
    if (this.flags.out) {
      const {writeOutput} = await import('../../cli/files.js')
      writeOutput(this.flags.out, `${token}\n`, {force: this.flags.force, mode: 0o600})
      this.log(`Token written to ${this.flags.out} (0600). Keep the file safe: licadm stores only a hash.`)
      return {info, file: this.flags.out}
    }
    this.log(`Token, shown only this once: ${token}`)
    return {info, token}
  }
}
