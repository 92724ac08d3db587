import {BaseCommand} from '../../cli/base-command.js'

export default class ProfileList extends BaseCommand<typeof ProfileList> {
  static override summary = 'List the vendor profiles on this machine.'

  static override description = 'Shows every profile in the config directory (LICADM_CONFIG_DIR) and marks the current one.'

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']

  async run() {
    const profiles = await this.profiles()
    const list = profiles.list()
    const {table} = await import('../../cli/render.js')
    this.log(
      await table(
        list,
        [
          {header: '', get: (p) => (p.current ? '*' : '')},
          {header: 'PROFILE', get: (p) => p.name},
          {header: 'VENDOR', get: (p) => p.vendorCode},
          {header: 'NAME', get: (p) => p.vendorName},
          {header: 'KEY', get: (p) => (p.encryptedKey ? 'encrypted' : 'plain')},
          {header: 'CREATED', get: (p) => p.createdAt},
        ],
        'no profiles yet: run "licadm init"',
      ),
    )
    return {profiles: list}
  }
}
