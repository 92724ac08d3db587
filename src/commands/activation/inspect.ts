import {Args, Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class ActivationInspect extends AdminCommand<typeof ActivationInspect> {
  static override summary = 'Explain any offline activation file: request, update, receipt or return request.'

  static override description = `Says in plain words what the file is, who made it and for whom, its container and counter, when it was made, and whether it would be accepted now and if not, why, as far as this machine can tell: with the vendor profile (when there is one), what "activation fulfill" or "activation confirm" would say; with the device directory (when this machine is a device, LICADM_DEVICE_DIR), what "activation apply" would say. Nothing is changed.

It exits 0 whenever it could read the file; the verdicts are in the "Vendor" and "Device" lines (vendor.status/reason/exitCode and device.* in --json). A file that is not armored or is cut off exits 10; an armored file of another kind (a license, a SAW file) exits 12.`

  static override examples = ['<%= config.bin %> <%= command.id %> customer.request', '<%= config.bin %> <%= command.id %> customer.receipt --json']

  static override args = {file: Args.string({description: 'The file (- for standard input).', required: true})}

  static override flags = {
    'max-age': Flags.string({summary: 'The request age the vendor accepts (as for "activation fulfill").', default: '14d'}),
    'public-key': Flags.string({summary: "On a device: check updates with this vendor key file instead of the device's pinned keys."}),
  }

  async run() {
    const {readInput} = await import('../../cli/files.js')
    const {describeOffline, peekOffline} = await import('../../formats/offline.js')
    const {parseDurationFlag, isoSeconds, formatDuration} = await import('../../domain/values.js')
    const text = readInput(this.args.file, 'file')
    const maxAgeSeconds = parseDurationFlag(this.flags['max-age'], '--max-age', {min: 60, max: 366 * 86_400})
    const peeked = peekOffline(text)
    const description = describeOffline(peeked)
    const now = Math.floor(this.clock().now() / 1000)

    let validity: string
    if ((peeked.kind === 'request' || peeked.kind === 'return') && description.issuedAt !== null) {
      const until = description.issuedAt + maxAgeSeconds
      validity = now <= until
        ? `made ${formatDuration(Math.max(0, now - description.issuedAt))} ago; accepted by the vendor until ${isoSeconds(until)} (max age ${formatDuration(maxAgeSeconds)})`
        : `too old: made at ${isoSeconds(description.issuedAt)}, accepted until ${isoSeconds(until)} (max age ${formatDuration(maxAgeSeconds)})`
    } else {
      validity = peeked.kind === 'update' ? `no expiry; it applies only at counter ${description.counter === null ? '?' : description.counter - 1} on the device, once` : 'no expiry; it confirms one update, once'
    }

    let vendor: {status: string; reason?: string; exitCode?: number} = {status: 'not-checked', reason: 'no vendor profile on this machine'}
    const profiles = await this.profiles()
    if (profiles.get(profiles.resolve(this.flags.profile))) {
      const backend = await this.backend()
      vendor = await backend.offline.inspect(text, {maxAgeSeconds})
    }
    let device: {status: string; reason?: string; exitCode?: number} = {status: 'not-checked', reason: 'no device directory on this machine'}
    const store = await this.deviceStore()
    if (store.exists()) {
      const {inspectOnDevice, vendorKeysOf} = await import('../../device/offline.js')
      const keys = vendorKeysOf(store, this.flags['public-key'] === undefined ? undefined : {text: readInput(this.flags['public-key'], '--public-key'), source: this.flags['public-key']})
      device = inspectOnDevice(store, text, peeked.kind, peeked.claims, keys, now)
    }

    const {details, date} = await import('../../cli/render.js')
    const verdict = (v: {status: string; reason?: string; exitCode?: number}) => `${v.status}${v.reason ? `: ${v.reason}` : ''}${v.exitCode === undefined ? '' : ` (exit ${v.exitCode})`}`
    this.log(description.summary)
    this.log('')
    this.log(details([
      ['Kind', description.what],
      ['Id', description.jti],
      ['From', description.from],
      ['For', description.to],
      ['Container', description.container ?? '(a new local container)'],
      ['Counter', description.counter],
      ['Made', date(description.issuedAt)],
      ['Signed by', description.kid === null ? '(no key id)' : `key ${description.kid}${description.selfSigned === null ? '' : description.selfSigned ? " (the device key it carries: the signature matches)" : ' (the signature does NOT match the key it carries: changed or forged)'}`],
      ['Licenses', description.licenses.length === 0 ? '(none)' : description.licenses.join(', ')],
      ['Validity', validity],
      ['Vendor', verdict(vendor)],
      ['Device', verdict(device)],
    ]))
    return {...description, issuedAt: isoSeconds(description.issuedAt), validity, vendor, device}
  }
}
