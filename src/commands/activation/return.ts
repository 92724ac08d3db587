import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {forceFlag, outFlag} from '../../cli/flags.js'

export default class ActivationReturn extends BaseCommand<typeof ActivationReturn> {
  static override summary = 'Give a license back from this device: make a return request file.'

  static override description = `The license leaves this device at once (it is no longer listed or usable here). The return request, signed with the device key and bound to the container's update counter, lets the vendor free the license for another device ("activation fulfill" of the return request); the update the vendor writes for it confirms the return on this device ("activation apply").

Asking again for the same license hands out the same return request.`

  static override examples = ['<%= config.bin %> <%= command.id %> --license lic_01jx… --out ada.return']

  static override flags = {
    license: Flags.string({char: 'l', summary: 'Id of the license to give back.', required: true}),
    out: outFlag,
    force: forceFlag,
  }

  async run() {
    // Checked first: the file must be writable before anything is recorded.
    if (this.flags.out) (await import('../../cli/credentials.js')).checkWritable(this.flags.out, '--out', this.flags.force)
    const {makeReturn} = await import('../../device/offline.js')
    const store = await this.deviceStore()
    const made = makeReturn(store, this.flags.license, Math.floor(this.clock().now() / 1000))
    if (this.flags.out) {
      const {writeOutput} = await import('../../cli/files.js')
      writeOutput(this.flags.out, made.file, {force: this.flags.force})
      this.logToStderr(`${made.repeated ? 'Wrote again the' : 'License ' + made.license + ' left this device. Wrote the'} return request ${made.jti} (container ${made.container}, counter ${made.counter}) to ${this.flags.out}`)
    } else if (!this.jsonEnabled()) {
      process.stdout.write(made.file)
    }
    const {file, ...rest} = made
    return {...rest, ...(this.flags.out ? {path: this.flags.out} : {file})}
  }
}
