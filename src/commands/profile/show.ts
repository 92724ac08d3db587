import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'

export default class ProfileShow extends BaseCommand<typeof ProfileShow> {
  static override summary = 'Show a profile: vendor, signing keys, where its files are.'

  static override description =
    'The vendor, the active and retired signing keys, where the key files and the store are, how many products the profile has, and its license server settings ("licadm profile set": server, pinned certificate fingerprint, CA file). Without a name, the selected profile (--profile, LICADM_PROFILE or the current one). A profile with only server settings shows those.'

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> acme --json']

  static override args = {
    name: Args.string({description: 'Profile name (default: the selected profile).'}),
  }

  async run() {
    const profiles = await this.profiles()
    const name = profiles.resolve(this.args.name ?? this.flags.profile)
    const remote = profiles.remote(name)
    const remoteRows: Array<[string, string]> = [
      ['Server', remote.server ?? '-'],
      ['Server fingerprint', remote.serverFingerprint ?? '-'],
      ['Server CA', remote.ca ?? '-'],
    ]
    if (!profiles.get(name) && Object.keys(remote).length > 0) {
      // Server settings only, no vendor key: nothing else to show.
      const {details} = await import('../../cli/render.js')
      this.log(details([['Profile', `${name}${profiles.current() === name ? ' (current)' : ''}`], ...remoteRows]))
      return {name, current: profiles.current() === name, remote}
    }
    const info = profiles.require(name)
    const paths = profiles.paths(name)
    const backend = await this.backend(name)
    const keys = await backend.vendor.listKeys()
    const products = await backend.products.list()
    const {details, date} = await import('../../cli/render.js')
    this.log(
      details([
        ['Profile', `${name}${profiles.current() === name ? ' (current)' : ''}`],
        ['Vendor', `${info.vendorCode} (${info.vendorName})`],
        ['Active key', keys.find((k) => k.status === 'active')?.kid ?? '-'],
        ['Retired keys', keys.filter((k) => k.status === 'retired').map((k) => k.kid).join(', ') || '-'],
        ['Key file', `${paths.keyDir} (${info.encryptedKey ? 'encrypted' : 'not encrypted'})`],
        ['Store', paths.storePath],
        ['Products', products.length],
        ['Created', date(Date.parse(info.createdAt) / 1000)],
        ...remoteRows,
      ]),
    )
    return {name, current: profiles.current() === name, ...info, keyDir: paths.keyDir, store: paths.storePath, keys, products: products.length, remote}
  }

}
