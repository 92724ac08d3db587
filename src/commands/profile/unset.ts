import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {REMOTE_KEYS, type RemoteKey} from './set.js'

export default class ProfileUnset extends BaseCommand<typeof ProfileUnset> {
  static override summary = "Remove a profile's license server, pinned certificate fingerprint, or CA file."

  static override description =
    'The opposite of "licadm profile set". Without a pinned fingerprint or CA, an https server must have a certificate that the system\'s certificate authorities trust.'

  static override examples = ['<%= config.bin %> <%= command.id %> server-fingerprint', '<%= config.bin %> <%= command.id %> server --profile acme']

  static override args = {
    key: Args.string({description: 'What to remove.', required: true, options: Object.keys(REMOTE_KEYS)}),
  }

  async run() {
    const key = this.args.key as RemoteKey
    const profiles = await this.profiles()
    const name = profiles.resolve(this.flags.profile)
    const removed = profiles.remote(name)[REMOTE_KEYS[key]] !== undefined
    const remote = profiles.setRemote(name, {[REMOTE_KEYS[key]]: undefined})
    this.log(removed ? `Profile ${name}: ${key} removed` : `Profile ${name} has no ${key}: nothing to remove`)
    return {profile: name, key, removed, remote}
  }
}
