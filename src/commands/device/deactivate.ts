import {Args, Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class DeviceDeactivate extends AdminCommand<typeof DeviceDeactivate> {
  static override summary = 'Deactivate a device on a container: its slot is free at once.'

  static override description = 'The device can no longer use the container; deactivating an inactive device changes nothing.'

  static override examples = ['<%= config.bin %> <%= command.id %> 3F2A9C1B-… --container P-7KQ2-M9XZ-4TBD']

  static override args = {fingerprint: Args.string({description: 'Device fingerprint.', required: true})}

  static override flags = {container: Flags.string({char: 'c', summary: 'Container serial.', required: true})}

  async run() {
    const backend = await this.backend()
    const result = await backend.devices.deactivate(this.flags.container, this.args.fingerprint)
    this.log(result.changed ? `Deactivated ${result.fingerprint} on ${result.serial}` : `${result.fingerprint} is inactive on ${result.serial} already; nothing changed`)
    return result
  }
}
