import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {yesFlag} from '../../cli/flags.js'

export default class KeyRemove extends BaseCommand<typeof KeyRemove> {
  static override summary = 'Stop trusting a retired key: licenses it signed no longer verify with this profile.'

  static override description = 'Only a retired key can be removed. Its private key file is left in place for your records; delete it yourself if you no longer need it.'

  static override examples = [
    '<%= config.bin %> <%= command.id %> 3tZ… --yes',
    {
      description: 'A key id that begins with "-" goes last, after "--", or it is taken for a flag:',
      command: '<%= config.bin %> <%= command.id %> --yes -- -Xk4…',
    },
  ]

  static override args = {kid: Args.string({description: 'Key id (see "key list").', required: true})}

  static override flags = {yes: yesFlag}

  async run() {
    const backend = await this.backend()
    await this.confirm(this.flags.yes, `Remove key ${this.args.kid}? Licenses it signed will no longer verify`)
    await backend.vendor.removeKey(this.args.kid)
    this.log(`Removed key ${this.args.kid}`)
    return {removed: this.args.kid}
  }
}
