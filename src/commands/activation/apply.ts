import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {forceFlag} from '../../cli/flags.js'

export default class ActivationApply extends BaseCommand<typeof ActivationApply> {
  static override summary = 'Apply an offline update file on this device and write the receipt.'

  static override description = `Verifies the update with a vendor key pinned on this device ("device trust"), or --public-key; checks that it is for this device and for the container of a request this device made, and for exactly the next update counter; then puts the container's licenses in the device directory (adding, changing or removing), advances the counter, and writes a receipt signed by the device key (--receipt, else standard output) for the vendor's "activation confirm".

Refusals, each with its own exit status: another device or container (18), applied before (16), out of order: a missing predecessor, naming the counter needed, or superseded (19), a vendor key that is not pinned (11), tampered (5), not an armored file or cut off (10), another kind of file (12).`

  static override examples = [
    '<%= config.bin %> <%= command.id %> ada.update --receipt ada.receipt',
    '<%= config.bin %> <%= command.id %> ada.update --receipt ada.receipt --json',
  ]

  static override args = {file: Args.string({description: 'Update file (- for standard input).', required: true})}

  static override flags = {
    receipt: Flags.string({char: 'r', summary: 'Write the receipt to this file instead of standard output.'}),
    'public-key': Flags.string({summary: "Verify with this vendor key file instead of the device's pinned keys."}),
    force: forceFlag,
  }

  async run() {
    // Checked first: an update applied without its receipt written could not be confirmed.
    if (this.flags.receipt) (await import('../../cli/credentials.js')).checkWritable(this.flags.receipt, '--receipt', this.flags.force)
    const {readInput} = await import('../../cli/files.js')
    const {applyUpdate, vendorKeysOf} = await import('../../device/offline.js')
    const text = readInput(this.args.file, 'update file')
    const store = await this.deviceStore()
    const keys = vendorKeysOf(store, this.flags['public-key'] === undefined ? undefined : {text: readInput(this.flags['public-key'], '--public-key'), source: this.flags['public-key']})
    const applied = applyUpdate(store, text, keys, Math.floor(this.clock().now() / 1000))
    const log = this.flags.receipt || this.jsonEnabled() ? (s: string) => this.log(s) : (s: string) => this.logToStderr(s)
    log(`${this.color().green('✓')} Update ${applied.update} applied: container ${applied.container} is at counter ${applied.counter} and holds ${applied.licenses.length} license(s)`)
    for (const id of applied.added) log(`  + ${id}`)
    for (const id of applied.changed) log(`  ~ ${id}`)
    for (const id of applied.removed) log(`  - ${id}`)
    if (applied.returned) log(`Return of ${applied.returned} confirmed`)
    if (applied.superseded.length > 0) log(`Older requests made stale by this update: ${applied.superseded.join(', ')} (make a new request if still needed)`)
    if (this.flags.receipt) {
      const {writeOutput} = await import('../../cli/files.js')
      writeOutput(this.flags.receipt, applied.receipt, {force: this.flags.force, flag: '--receipt'})
      log(`Receipt for the vendor ("activation confirm"): ${this.flags.receipt}`)
    } else if (!this.jsonEnabled()) {
      process.stdout.write(applied.receipt)
    }
    const {receipt, ...rest} = applied
    return {...rest, ...(this.flags.receipt ? {receiptPath: this.flags.receipt} : {receipt})}
  }
}
