import {Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {forceFlag, outFlag} from '../../cli/flags.js'
import {parseDurationFlag} from '../../domain/values.js'

export default class SawCreate extends AdminCommand<typeof SawCreate> {
  static override summary = 'Make a SAW file for one device of a cloud container.'

  static override description = "The SAW file carries the container's current secret, encrypted to the device's key, signed by the vendor, for this container, generation and device, with an expiry; it can be applied once. licadm keeps only a hash of the secret, so give it with --credentials (the file from the last create or reset) or LICADM_CONTAINER_SECRET."

  static override examples = ['<%= config.bin %> <%= command.id %> --container E-7KQ2-M9XZ-4TBD --device 3F2A9C1B-… --credentials eng.credentials.json --out ada.saw']

  static override flags = {
    container: Flags.string({char: 'c', summary: 'Container serial.', required: true}),
    device: Flags.string({char: 'd', summary: 'Device fingerprint.', required: true}),
    credentials: Flags.string({summary: 'Credentials file with the container secret.'}),
    expires: Flags.string({summary: 'How long the SAW file can be applied (e.g. 7d, 12h).', default: '7d'}),
    out: outFlag,
    force: forceFlag,
  }

  async run() {
    const ttl = parseDurationFlag(this.flags.expires, '--expires', {min: 60, max: 90 * 86_400})
    if (this.flags.out) {
      const {checkWritable} = await import('../../cli/credentials.js')
      checkWritable(this.flags.out, '--out', this.flags.force)
    }
    const backend = await this.backend()
    const secret = await this.containerSecret(this.flags.container, this.flags.credentials)
    const saw = await backend.saws.create(this.flags.container, this.flags.device, secret, ttl)
    if (this.flags.out) {
      const {writeOutput} = await import('../../cli/files.js')
      writeOutput(this.flags.out, saw.file, {force: this.flags.force, mode: 0o600})
      this.logToStderr(`Wrote the SAW file for ${saw.deviceName} (${saw.fingerprint}) to ${this.flags.out}`)
    } else if (!this.jsonEnabled()) {
      process.stdout.write(saw.file)
    }
    const {file, ...rest} = saw
    return {...rest, expiresAt: new Date(saw.expiresAt * 1000).toISOString(), ...(this.flags.out ? {path: this.flags.out} : {file})}
  }
}
