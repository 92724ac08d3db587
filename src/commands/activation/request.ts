import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {forceFlag, outFlag} from '../../cli/flags.js'

export default class ActivationRequest extends BaseCommand<typeof ActivationRequest> {
  static override summary = 'Make an offline activation request file on this device.'

  static override description = `The request carries this device's fingerprint and public keys, the container serial and the container's current update counter on this device, a nonce and the time, signed with the device key (device directory: LICADM_DEVICE_DIR). Hand it to the vendor, who answers with an update file ("activation fulfill"); apply that with "activation apply".

--container asks for more licenses in a container this device has (a local container bound to it, or a container the admin activated it on); --vendor CODE asks that vendor for a new local container bound to this device. The vendor refuses requests older than 14 days (by default).`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --vendor 1001 --out ada.request',
    '<%= config.bin %> <%= command.id %> --container L-7KQ2-M9XZ-4TBD --out ada.request',
  ]

  static override flags = {
    container: Flags.string({char: 'c', summary: 'Serial of the container the request is for.', exclusive: ['vendor']}),
    vendor: Flags.string({summary: 'Vendor code: ask this vendor for a new local container.', exclusive: ['container']}),
    out: outFlag,
    force: forceFlag,
  }

  async run() {
    // Checked first: the file must be writable before anything is recorded.
    if (this.flags.out) (await import('../../cli/credentials.js')).checkWritable(this.flags.out, '--out', this.flags.force)
    const {makeRequest} = await import('../../device/offline.js')
    const {parseUint} = await import('../../domain/values.js')
    const {LIMITS} = await import('../../domain/license.js')
    const store = await this.deviceStore()
    const vendor = this.flags.vendor === undefined ? undefined : parseUint(this.flags.vendor, '--vendor', LIMITS.code, {required: true})!
    const made = makeRequest(store, {container: this.flags.container, vendor}, Math.floor(this.clock().now() / 1000))
    const target = made.container === null ? `a new local container from vendor ${made.vendor}` : `container ${made.container} (counter ${made.counter})`
    if (this.flags.out) {
      const {writeOutput} = await import('../../cli/files.js')
      writeOutput(this.flags.out, made.file, {force: this.flags.force})
      this.logToStderr(`Wrote request ${made.jti} for ${target} to ${this.flags.out}`)
    } else if (!this.jsonEnabled()) {
      process.stdout.write(made.file)
    }
    const {file, repeated: _r, ...rest} = made
    return {...rest, ...(this.flags.out ? {path: this.flags.out} : {file})}
  }
}
