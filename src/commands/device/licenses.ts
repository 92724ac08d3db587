import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'

export default class DeviceLicenses extends BaseCommand<typeof DeviceLicenses> {
  static override summary = 'List the licenses this device holds from offline updates, and check each.'

  static override description = `Each license file is verified again with the vendor keys pinned on this device (or --public-key) and checked for expiry. The device keeps a watermark of the latest time it has seen (its own clock, and the times of the signed files it applied): when the clock is behind it by more than --clock-tolerance, the clock was set back; licenses with an expiry are then refused (status clock-rolled-back) and the command exits 15 until the clock is right again. Licenses given back with "activation return" are not listed.`

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json', '<%= config.bin %> <%= command.id %> --clock-tolerance 10m']

  static override flags = {
    'clock-tolerance': Flags.string({summary: 'How far the clock may be behind the latest time seen.', default: '1h'}),
    'public-key': Flags.string({summary: "Verify with this vendor key file instead of the device's pinned keys."}),
  }

  async run() {
    const {readInput} = await import('../../cli/files.js')
    const {parseDurationFlag} = await import('../../domain/values.js')
    const {clockRolledBack, deviceLicenses, vendorKeysOf} = await import('../../device/offline.js')
    const tolerance = parseDurationFlag(this.flags['clock-tolerance'], '--clock-tolerance', {min: 1, max: 366 * 86_400})
    const store = await this.deviceStore()
    store.device()
    const keys = vendorKeysOf(store, this.flags['public-key'] === undefined ? undefined : {text: readInput(this.flags['public-key'], '--public-key'), source: this.flags['public-key']})
    const result = deviceLicenses(store, keys, Math.floor(this.clock().now() / 1000), tolerance)
    const {table} = await import('../../cli/render.js')
    if (!this.jsonEnabled()) {
      this.log(await table(result.licenses, [
        {header: 'LICENSE', get: (l) => l.id},
        {header: 'CONTAINER', get: (l) => l.container},
        {header: 'PRODUCT', get: (l) => l.product},
        {header: 'KIND', get: (l) => (l.kind === null ? '' : `${l.kind} x${l.quantity}`)},
        {header: 'EXPIRES', get: (l) => l.expiresAt ?? 'never'},
        {header: 'STATUS', get: (l) => (l.reason ? `${l.status}: ${l.reason}` : l.status)},
      ], 'this device holds no licenses'))
      for (const c of result.containers) {
        if (c.pendingReturns.length > 0) this.log(`Returned, awaiting the vendor's update: ${c.pendingReturns.join(', ')} (${c.serial})`)
      }
    }
    const rolledBack = clockRolledBack(result)
    if (rolledBack) {
      const {LicadmError} = await import('../../domain/errors.js')
      throw new LicadmError(rolledBack.code, rolledBack.exit, rolledBack.message, {hint: rolledBack.hint, details: {...rolledBack.details, ...result}})
    }
    return result
  }
}
