import {Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class DeviceList extends AdminCommand<typeof DeviceList> {
  static override summary = 'List devices and the containers they are linked to.'

  static override description =
    'Each device with its user and its links to containers (serial:state; a trailing ! marks a device whose removal is pending until the next credential reset).'

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --container P-7KQ2-M9XZ-4TBD', '<%= config.bin %> <%= command.id %> --user ada@example.com --json']

  static override flags = {
    container: Flags.string({char: 'c', summary: 'Only devices linked to this container.'}),
    user: Flags.string({char: 'u', summary: 'Only devices of this user.'}),
  }

  async run() {
    const backend = await this.backend()
    const devices = await backend.devices.list({container: this.flags.container, user: this.flags.user})
    const {table} = await import('../../cli/render.js')
    this.log(await table(devices, [
      {header: 'FINGERPRINT', get: (d) => d.fingerprint},
      {header: 'NAME', get: (d) => d.name},
      {header: 'USER', get: (d) => d.user ?? ''},
      {header: 'CONTAINERS', get: (d) => d.activations.map((a) => `${a.serial}:${a.state}${a.pendingRemoval ? '!' : ''}`).join(' ')},
    ], 'no devices'))
    return {devices}
  }
}
