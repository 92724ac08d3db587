import {Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class ActivationList extends AdminCommand<typeof ActivationList> {
  static override summary = 'List offline activations: updates issued, pending or confirmed (vendor side).'

  static override description = 'Each update with its device, container, counter, the licenses it added or removed, and its state: pending (issued, no receipt yet), confirmed (the device sent a matching receipt) or mismatch (a receipt did not match what was issued). Newest first.'

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --state pending', '<%= config.bin %> <%= command.id %> --container L-7KQ2-M9XZ-4TBD --json']

  static override flags = {
    state: Flags.string({summary: 'Only updates in this state.', options: ['pending', 'confirmed', 'mismatch']}),
    container: Flags.string({char: 'c', summary: 'Only updates for this container.'}),
    device: Flags.string({char: 'd', summary: 'Only updates for this device fingerprint.'}),
  }

  async run() {
    const backend = await this.backend()
    const updates = await backend.offline.list({state: this.flags.state, container: this.flags.container, device: this.flags.device})
    const {table, date} = await import('../../cli/render.js')
    this.log(await table(updates, [
      {header: 'UPDATE', get: (u) => u.jti},
      {header: 'KIND', get: (u) => u.purpose},
      {header: 'DEVICE', get: (u) => u.device},
      {header: 'CONTAINER', get: (u) => u.container},
      {header: 'COUNTER', get: (u) => u.counter},
      {header: 'CHANGES', get: (u) => [...u.added.map((l) => `+${l}`), ...u.removed.map((l) => `-${l}`)].join(' ')},
      {header: 'STATE', get: (u) => u.state},
      {header: 'ISSUED', get: (u) => date(u.issuedAt)},
    ], 'no offline activations'))
    return {updates: updates.map((u) => ({...u, issuedAt: new Date(u.issuedAt * 1000).toISOString(), confirmedAt: u.confirmedAt === null ? null : new Date(u.confirmedAt * 1000).toISOString()}))}
  }
}
