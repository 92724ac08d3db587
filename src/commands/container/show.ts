import {Args} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class ContainerShow extends AdminCommand<typeof ContainerShow> {
  static override summary = "The admin's view of a container: owner, licenses, devices and their state."

  static override description = 'Devices are active, inactive (deactivated or dropped at a reset) or stale (after a credential reset, until they apply their SAW file). Devices whose user left the group are marked for removal at the next reset.'

  static override examples = ['<%= config.bin %> <%= command.id %> E-7KQ2-M9XZ-4TBD', '<%= config.bin %> <%= command.id %> E-7KQ2-M9XZ-4TBD --json']

  static override args = {serial: Args.string({description: 'Container serial.', required: true})}

  async run() {
    const backend = await this.backend()
    const c = await backend.containers.details(this.args.serial)
    const {details, table, date} = await import('../../cli/render.js')
    const owner = c.owner.user ? `user ${c.owner.user.email}` : c.owner.group ? `group ${c.owner.group.name}` : c.owner.fingerprint ? `device ${c.owner.fingerprint}` : '(unassigned)'
    this.log(details([
      ['Container', `${c.serial} (${c.kind})`],
      ['Owner', owner],
      ['Devices', c.maxDevices === null ? String(c.devices.filter((d) => d.state !== 'inactive').length) : `${c.devices.filter((d) => d.state !== 'inactive').length} of ${c.maxDevices}`],
      ['Generation', c.kind === 'local' ? '-' : c.generation],
      ['Update counter', c.updateCounter],
      ['Created', date(c.createdAt)],
    ]))
    this.log('')
    this.log(await table(c.licenses, [
      {header: 'LICENSE', get: (l) => l.id},
      {header: 'PRODUCT', get: (l) => l.productCode},
      {header: 'KIND', get: (l) => l.kind},
      {header: 'QTY', get: (l) => l.quantity},
      {header: 'STATE', get: (l) => (l.validity === 'valid' ? l.status : l.validity)},
      {header: 'EXPIRES', get: (l) => date(l.expiresAt)},
    ], 'no licenses'))
    this.log('')
    this.log(await table(c.devices, [
      {header: 'DEVICE', get: (d) => d.fingerprint},
      {header: 'NAME', get: (d) => d.name},
      {header: 'USER', get: (d) => d.user ?? ''},
      {header: 'STATE', get: (d) => (d.pendingRemoval ? `${d.state}, removal pending` : d.state)},
      {header: 'LAST SEEN', get: (d) => date(d.lastSeen, 'never')},
    ], 'no devices'))
    return {container: c}
  }
}
