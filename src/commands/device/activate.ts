import {Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {forceFlag} from '../../cli/flags.js'
import {parseDurationFlag} from '../../domain/values.js'

export default class DeviceActivate extends AdminCommand<typeof DeviceActivate> {
  static override summary = 'Activate a device on a container (admin side).'

  static override description = `The device is given by its identity file (--identity, from "device export") or by flags. A personal container accepts at most its max-devices active devices; the next activation is refused with the list of active devices. An enterprise container accepts devices of its group's members only (--user). Activating an active device again changes nothing.

With --saw FILE, the device also gets a SAW file carrying the container's secret (from --credentials or LICADM_CONTAINER_SECRET), so it can use the container right away ("saw apply" on the device).`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --container P-7KQ2-M9XZ-4TBD --identity ada-laptop.device --user ada@example.com',
    '<%= config.bin %> <%= command.id %> --container E-7KQ2-M9XZ-4TBD --identity bob.device --user bob@example.com --saw bob.saw --credentials eng.credentials.json',
  ]

  static override flags = {
    container: Flags.string({char: 'c', summary: 'Container serial.', required: true}),
    identity: Flags.string({char: 'i', summary: 'Device identity file (from "device export").'}),
    fingerprint: Flags.string({summary: 'Device fingerprint (without --identity).', exclusive: ['identity']}),
    name: Flags.string({summary: 'Device name (without --identity).', exclusive: ['identity']}),
    platform: Flags.string({summary: 'Device platform (without --identity).', exclusive: ['identity'], default: 'unknown'}),
    'sign-key': Flags.string({summary: "The device's Ed25519 public key, base64url (without --identity).", exclusive: ['identity']}),
    'enc-key': Flags.string({summary: "The device's X25519 public key, base64url (without --identity).", exclusive: ['identity']}),
    user: Flags.string({char: 'u', summary: 'The user the device belongs to (email or id).'}),
    saw: Flags.string({summary: 'Also write a SAW file for the device to this path.'}),
    credentials: Flags.string({summary: 'Credentials file with the container secret (for --saw).'}),
    'saw-expires': Flags.string({summary: 'How long the SAW file can be applied.', default: '7d'}),
    force: forceFlag,
  }

  async run() {
    const identity = await this.identity()
    // Refuse an unwritable --saw before the activation, not after it.
    if (this.flags.saw !== undefined) {
      const {checkWritable} = await import('../../cli/credentials.js')
      checkWritable(this.flags.saw, '--saw', this.flags.force)
    }
    const backend = await this.backend()
    const secret = this.flags.saw === undefined ? undefined : await this.containerSecret(this.flags.container, this.flags.credentials)
    const ttl = parseDurationFlag(this.flags['saw-expires'], '--saw-expires', {min: 60, max: 90 * 86_400})
    const activation = await backend.devices.activate(this.flags.container, identity, {user: this.flags.user, secret, sawTtlSeconds: ttl})
    this.log(activation.changed
      ? `${this.color().green('✓')} Activated ${identity.name} (${identity.fingerprint}) on ${activation.serial}`
      : `${identity.name} (${identity.fingerprint}) is ${activation.state} on ${activation.serial} already; nothing changed`)
    let sawFile: string | undefined
    if (activation.saw) {
      const {writeOutput} = await import('../../cli/files.js')
      writeOutput(this.flags.saw!, activation.saw.file, {force: this.flags.force, mode: 0o600})
      sawFile = this.flags.saw
      this.log(`SAW file for the device: ${sawFile}`)
    }
    const {saw: _omit, ...rest} = activation
    return {...rest, ...(sawFile ? {sawFile} : {})}
  }

  private async identity() {
    if (this.flags.identity) {
      const {readInput} = await import('../../cli/files.js')
      const {decodeIdentity} = await import('../../formats/device.js')
      return decodeIdentity(readInput(this.flags.identity, '--identity'), Math.floor(this.clock().now() / 1000))
    }
    const missing = ['fingerprint', 'sign-key', 'enc-key'].find((f) => this.flags[f as 'fingerprint'] === undefined)
    if (missing) {
      const {UsageError} = await import('../../domain/errors.js')
      throw new UsageError(`give --identity FILE, or --fingerprint, --sign-key and --enc-key (missing --${missing})`, {details: {flag: `--${missing}`}})
    }
    const {checkFingerprint} = await import('../../services/devices.js')
    const {ed25519FromRaw} = await import('../../formats/device.js')
    const {x25519PublicFromRaw} = await import('../../crypto/jwe.js')
    const {InvalidValueError} = await import('../../domain/errors.js')
    const fingerprint = checkFingerprint(this.flags.fingerprint!)
    for (const [flag, parse] of [['sign-key', ed25519FromRaw], ['enc-key', x25519PublicFromRaw]] as const) {
      try {
        parse(this.flags[flag]!)
      } catch {
        throw new InvalidValueError(`--${flag}`, 'is not a base64url public key of 32 bytes')
      }
    }
    return {fingerprint, name: this.flags.name ?? fingerprint, platform: this.flags.platform, signKey: this.flags['sign-key']!, encKey: this.flags['enc-key']!}
  }
}
