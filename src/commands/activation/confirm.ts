import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class ActivationConfirm extends AdminCommand<typeof ActivationConfirm> {
  static override summary = "Confirm a device's receipt file against the update that was issued (vendor side)."

  static override description = `Verifies the receipt with the key registered for the device, finds the update it names, and compares: the same device, container, counter, update content and the same licenses held. A match marks the update confirmed; confirming again changes nothing.

A receipt whose counter or content differs from what was issued is recorded as a mismatch (possible manipulation; see "activation list --state mismatch" and the audit trail) and refused with exit 4, never accepted silently. A receipt for an update this vendor never issued is refused with exit 3; from another device than the update's, 18; tampered, 5; from an unknown device or key, 11.`

  static override examples = ['<%= config.bin %> <%= command.id %> ada.receipt', '<%= config.bin %> <%= command.id %> ada.receipt --json']

  static override args = {file: Args.string({description: 'Receipt file (- for standard input).', required: true})}

  async run() {
    const {readInput} = await import('../../cli/files.js')
    const text = readInput(this.args.file, 'receipt file')
    const backend = await this.backend()
    const result = await backend.offline.confirm(text)
    this.log(result.changed
      ? `${this.color().green('✓')} Update ${result.update} confirmed: device ${result.device} holds container ${result.container} at counter ${result.counter}`
      : `Update ${result.update} was confirmed already; nothing changed`)
    return result
  }
}
