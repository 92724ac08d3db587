import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class SawInspect extends AdminCommand<typeof SawInspect> {
  static override summary = 'Show what a SAW file holds (never the secret) and whether it is still valid.'

  static override description = "Reads the file's claims (container, generation, device, expiry) and checks it against the profile: signature, expiry, whether it was used, and whether a later reset superseded it. It exits 0 whenever it could read the file; the verdict is in Status (status and reason in --json)."

  static override examples = ['<%= config.bin %> <%= command.id %> ada.saw', '<%= config.bin %> <%= command.id %> ada.saw --json']

  static override args = {file: Args.string({description: 'SAW file (- for standard input).', required: true})}

  async run() {
    const {readInput} = await import('../../cli/files.js')
    const text = readInput(this.args.file, 'SAW file')
    const backend = await this.backend()
    const inspection = await backend.saws.inspect(text)
    const {details, date} = await import('../../cli/render.js')
    const c = inspection.claims
    this.log(details([
      ['SAW', c.jti],
      ['Vendor', c.iss],
      ['Container', `${c.container} (${c.containerKind})`],
      ['Generation', c.gen],
      ['Device', c.sub],
      ['Issued', date(c.iat)],
      ['Expires', date(c.exp)],
      ['Status', inspection.reason ? `${inspection.status}: ${inspection.reason}` : inspection.status],
    ]))
    return inspection
  }
}
