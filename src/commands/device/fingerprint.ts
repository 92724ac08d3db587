import {BaseCommand} from '../../cli/base-command.js'

export default class DeviceFingerprint extends BaseCommand<typeof DeviceFingerprint> {
  static override summary = "Print this machine's fingerprint."

  static override description = 'A hash of stable machine attributes (machine id, hardware ids, platform, CPU, memory): the same across runs and reboots, and no raw serial number is ever shown. --json lists which attributes were found.'

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']

  async run() {
    const {machineFingerprint} = await import('../../device/fingerprint.js')
    const result = machineFingerprint()
    this.log(result.fingerprint)
    return result
  }
}
