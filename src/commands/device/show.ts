import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class DeviceShow extends AdminCommand<typeof DeviceShow> {
  static override summary = 'Show a device: owner, platform, and its links to containers.'

  static override description =
    'The device\'s fingerprint, name, platform and user, and for each container it is linked to: the kind, the link\'s state (active, inactive or stale), whether its removal is pending, and when it was last seen.'

  static override examples = ['<%= config.bin %> <%= command.id %> 3F2A9C1B-…']

  static override args = {fingerprint: Args.string({description: 'Device fingerprint.', required: true})}

  async run() {
    const backend = await this.backend()
    const d = await backend.devices.show(this.args.fingerprint)
    const {details, date} = await import('../../cli/render.js')
    this.log(details([
      ['Device', `${d.name} (${d.fingerprint})`],
      ['Platform', d.platform],
      ['User', d.user ?? '-'],
      ['Registered', date(d.createdAt)],
      ...d.activations.map((a): [string, string] => [`  ${a.serial}`, `${a.kind}, ${a.state}${a.pendingRemoval ? ', removal pending' : ''}, last seen ${date(a.lastSeen, 'never')}`]),
    ]))
    return {device: d}
  }
}
