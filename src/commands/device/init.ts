import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'

export default class DeviceInit extends BaseCommand<typeof DeviceInit> {
  static override summary = "Create this device's own key pairs in the device directory."

  static override description = `The device directory (LICADM_DEVICE_DIR, default: "device" in the data directory) holds the device's Ed25519 signing key and X25519 encryption key (0600 files), its identity, the credentials it receives and the vendor keys it trusts. --fingerprint sets a simulated fingerprint, so tests can run many devices on one machine; otherwise this machine's fingerprint is used.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --name "Ada laptop"',
    'LICADM_DEVICE_DIR=/tmp/dev1 <%= config.bin %> <%= command.id %> --fingerprint SIM-DEV-0001 --name dev1',
  ]

  static override flags = {
    name: Flags.string({char: 'n', summary: 'Device name shown to admins (default: the host name).'}),
    fingerprint: Flags.string({summary: 'Use this fingerprint instead of the machine\'s (simulated devices).'}),
    force: Flags.boolean({summary: 'Replace an existing device identity (the old directory is moved aside).'}),
  }

  async run() {
    const {hostname, platform, arch} = await import('node:os')
    const {checkFingerprint} = await import('../../services/devices.js')
    const {machineFingerprint} = await import('../../device/fingerprint.js')
    const store = await this.deviceStore()
    const fingerprint = this.flags.fingerprint === undefined ? machineFingerprint().fingerprint : checkFingerprint(this.flags.fingerprint)
    const device = store.init(
      {fingerprint, name: this.flags.name ?? hostname(), platform: `${platform()}-${arch()}`, fingerprintSource: this.flags.fingerprint === undefined ? 'machine' : 'given'},
      new Date(this.clock().now()),
      this.flags.force,
    )
    this.log(`${this.color().green('✓')} Device ${device.name} (${device.fingerprint}) initialized in ${store.dir}`)
    this.log(`Next: ${this.config.bin} device export --out device.id   (hand the file to your administrator)`)
    return {device, dir: store.dir}
  }
}
