import {Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class DeviceAccess extends AdminCommand<typeof DeviceAccess> {
  static override summary = 'Use a cloud container from this device with the credential it holds.'

  static override description = 'Presents the credential stored in the device directory (from a SAW file) for this device. After a credential reset the first use restores a stale link, once. Refused with exit 7 when the device was deactivated, dropped at a reset, or holds an old credential.'

  static override examples = ['<%= config.bin %> <%= command.id %> --container E-7KQ2-M9XZ-4TBD']

  static override flags = {container: Flags.string({char: 'c', summary: 'Container serial.', required: true})}

  async run() {
    const store = await this.deviceStore()
    const me = store.device()
    const serial = this.flags.container.trim().toUpperCase()
    const credential = store.state().credentials[serial]
    if (!credential) {
      const {AuthError} = await import('../../domain/errors.js')
      throw new AuthError(`this device holds no credential for container ${serial}`, {hint: 'Apply the SAW file your administrator gives you ("licadm saw apply FILE").'})
    }
    const backend = await this.backend()
    const saw = credential.via.startsWith('saw:') ? credential.via.slice(4) : undefined
    const grant = await backend.devices.access(serial, me.fingerprint, credential.secret, {saw})
    this.log(`${this.color().green('ACCESS GRANTED')} to ${grant.serial} (generation ${grant.generation})${grant.restored ? ': link restored' : ''}`)
    for (const l of grant.licenses) this.log(`  ${l.id}  product ${l.productCode}, ${l.kind} x${l.quantity}`)
    return {device: me.fingerprint, ...grant}
  }
}
