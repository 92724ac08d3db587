import {Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {CONTAINER_KINDS} from '../../domain/container.js'

export default class ContainerList extends AdminCommand<typeof ContainerList> {
  static override summary = 'List containers with their owner, licenses and active devices.'

  static override description =
    'One line per container: serial, kind, owner (user, group or device), how many licenses it holds, active devices (of the maximum, for personal containers) and the credential generation.'

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --kind enterprise --group engineering']

  static override flags = {
    kind: Flags.string({summary: 'Only this kind.', options: [...CONTAINER_KINDS]}),
    user: Flags.string({summary: 'Only containers of this user.'}),
    group: Flags.string({summary: 'Only containers of this group.'}),
  }

  async run() {
    const backend = await this.backend()
    const containers = await backend.containers.list({kind: this.flags.kind, user: this.flags.user, group: this.flags.group})
    const {table} = await import('../../cli/render.js')
    this.log(await table(containers, [
      {header: 'SERIAL', get: (c) => c.serial},
      {header: 'KIND', get: (c) => c.kind},
      {header: 'OWNER', get: (c) => c.owner.user?.email ?? c.owner.group?.name ?? c.owner.fingerprint ?? '(unassigned)'},
      {header: 'LICENSES', get: (c) => c.licenses},
      // Devices holding a slot (stale ones too, as the limit counts them), of the maximum.
      {header: 'DEVICES', get: (c) => (c.maxDevices === null ? c.devices : `${c.devices}/${c.maxDevices}`)},
      {header: 'GEN', get: (c) => c.generation},
    ], 'no containers yet: run "licadm container create"'))
    return {containers}
  }
}
