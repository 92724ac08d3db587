import {BaseCommand} from '../../cli/base-command.js'
import {forceFlag, outFlag} from '../../cli/flags.js'

export default class DeviceExport extends BaseCommand<typeof DeviceExport> {
  static override summary = "Write this device's identity file (fingerprint, name, platform, public keys) for the admin."

  static override description = 'The file is signed with the device key, which proves it comes from the holder of that key. The admin activates the device with "device activate --identity FILE".'

  static override examples = ['<%= config.bin %> <%= command.id %> --out ada-laptop.device']

  static override flags = {out: outFlag, force: forceFlag}

  async run() {
    const store = await this.deviceStore()
    const {encodeIdentity} = await import('../../formats/device.js')
    const identity = store.identity()
    const file = encodeIdentity(identity, store.signer(), Math.floor(this.clock().now() / 1000))
    if (this.flags.out) {
      const {writeOutput} = await import('../../cli/files.js')
      writeOutput(this.flags.out, file, {force: this.flags.force})
      this.logToStderr(`Wrote the identity of ${identity.name} (${identity.fingerprint}) to ${this.flags.out}`)
    } else if (!this.jsonEnabled()) {
      process.stdout.write(file)
    }
    return {identity, file, ...(this.flags.out ? {path: this.flags.out} : {})}
  }
}
