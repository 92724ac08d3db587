import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {forceFlag, outFlag} from '../../cli/flags.js'

export default class ActivationReceipt extends BaseCommand<typeof ActivationReceipt> {
  static override summary = "Write again the receipt of the update this device applied last for a container."

  static override description = `The device keeps the receipt of the last update it applied for each container, so one that never reached the vendor (a lost file, a crash before it was written) can be written again and confirmed with "activation confirm". Applying the update again is refused as replayed (16); this changes nothing on the device.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> L-7KQ2-M9XZ-4TBD --out ada.receipt',
    '<%= config.bin %> <%= command.id %> L-7KQ2-M9XZ-4TBD --json',
  ]

  static override args = {container: Args.string({description: 'Serial of the container.', required: true})}

  static override flags = {
    out: outFlag,
    force: forceFlag,
  }

  async run() {
    if (this.flags.out) (await import('../../cli/credentials.js')).checkWritable(this.flags.out, '--out', this.flags.force)
    const {lastReceipt} = await import('../../device/offline.js')
    const found = lastReceipt(await this.deviceStore(), this.args.container)
    if (this.flags.out) {
      const {writeOutput} = await import('../../cli/files.js')
      writeOutput(this.flags.out, found.file, {force: this.flags.force})
      this.logToStderr(`Wrote receipt ${found.jti} of update ${found.update} (container ${found.container}, counter ${found.counter}) to ${this.flags.out}`)
    } else if (!this.jsonEnabled()) {
      process.stdout.write(found.file)
    }
    const {file, ...rest} = found
    return {...rest, ...(this.flags.out ? {path: this.flags.out} : {file})}
  }
}
