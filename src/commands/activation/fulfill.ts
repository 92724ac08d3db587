import {Args, Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {forceFlag, outFlag} from '../../cli/flags.js'

export default class ActivationFulfill extends AdminCommand<typeof ActivationFulfill> {
  static override summary = "Turn a device's request file into an update file (vendor side)."

  static override description = `Checks the request: the device's signature (with the key registered for the device; a device new to this vendor, asking with --vendor, signs with the key it carries and is registered from the request), its age (--max-age, default 14 days), that the device is linked to the container and not deactivated, and that the request's counter is the container's current one. Then it puts the licenses given by --license, --ticket or --product (the oldest available license of that product) in the container (each must be available: not in another container, not revoked or expired), and writes the update file, signed with the vendor key and bound to the device, the container and the next counter value. A request for a new container (--vendor) gets a new local container bound to the device.

A return request frees the license it names (status available, out of the container) and writes the update that confirms the return on the device.

Fulfilling the same request again returns the same update, never a second license. Every change is in the audit trail.

Refusals: unknown device (11) or another key than the one registered (11), deactivated device (17), a container of another device or another vendor (18), request older than --max-age (6), counter behind or ahead of the container's (19), tampered (5), not armored or cut off (10), another kind of file (12), license not available (4), container or license not found (3).`

  static override examples = [
    '<%= config.bin %> <%= command.id %> ada.request --license lic_01jx… --out ada.update',
    '<%= config.bin %> <%= command.id %> ada.request --product 7 --product 8 --out ada.update',
    '<%= config.bin %> <%= command.id %> ada.return --out ada-return.update',
  ]

  static override args = {file: Args.string({description: 'Request or return request file (- for standard input).', required: true})}

  static override flags = {
    license: Flags.string({char: 'l', summary: 'License id to put in the container (repeatable).', multiple: true}),
    ticket: Flags.string({char: 't', summary: 'Activation ticket of a license to put in the container (repeatable).', multiple: true}),
    product: Flags.string({char: 'p', summary: 'Product code: put its oldest available license in the container (repeatable).', multiple: true}),
    'max-age': Flags.string({summary: 'Refuse requests older than this (e.g. 14d, 36h).', default: '14d'}),
    out: outFlag,
    force: forceFlag,
  }

  async run() {
    // Checked first: the file must be writable before anything is recorded.
    if (this.flags.out) (await import('../../cli/credentials.js')).checkWritable(this.flags.out, '--out', this.flags.force)
    const {readInput} = await import('../../cli/files.js')
    const {parseDurationFlag} = await import('../../domain/values.js')
    const text = readInput(this.args.file, 'request file')
    const maxAgeSeconds = parseDurationFlag(this.flags['max-age'], '--max-age', {min: 60, max: 366 * 86_400})
    const backend = await this.backend()
    const result = await backend.offline.fulfill(text, {licenses: this.flags.license, tickets: this.flags.ticket, products: this.flags.product}, {maxAgeSeconds})
    const what = result.purpose === 'return'
      ? `return of ${result.removed.join(', ')} from ${result.container}: the license is available again`
      : `${result.added.length} license(s) added to ${result.container}${result.containerCreated ? ' (a new local container)' : ''}`
    this.logToStderr(result.replayed
      ? `Request ${result.request} was fulfilled before: the same update ${result.jti} (counter ${result.counter}) again`
      : `${this.color().green('✓')} Update ${result.jti} for device ${result.device}, counter ${result.counter}: ${what}`)
    if (this.flags.out) {
      const {writeOutput} = await import('../../cli/files.js')
      writeOutput(this.flags.out, result.file, {force: this.flags.force})
      this.logToStderr(`Wrote the update to ${this.flags.out}`)
    } else if (!this.jsonEnabled()) {
      process.stdout.write(result.file)
    }
    const {file, ...rest} = result
    return {...rest, issuedAt: new Date(result.issuedAt * 1000).toISOString(), ...(this.flags.out ? {path: this.flags.out} : {file})}
  }
}
