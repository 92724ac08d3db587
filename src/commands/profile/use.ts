import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'

export default class ProfileUse extends BaseCommand<typeof ProfileUse> {
  static override summary = 'Make a profile the current one.'

  static override description = 'Commands use the current profile unless --profile or LICADM_PROFILE names another.'

  static override examples = ['<%= config.bin %> <%= command.id %> acme']

  static override args = {
    name: Args.string({description: 'Profile name.', required: true}),
  }

  async run() {
    const profiles = await this.profiles()
    profiles.use(this.args.name)
    this.log(`Current profile: ${this.args.name}`)
    return {current: this.args.name}
  }
}
