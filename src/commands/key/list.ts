import {AdminCommand} from '../../cli/admin-command.js'

export default class KeyList extends AdminCommand<typeof KeyList> {
  static override summary = "List the vendor's signing keys: the active one and the retired ones kept for verification."

  static override description =
    'The active key signs everything new; retired keys are kept so that what they signed still verifies. The last column says whether this machine holds the private key.'

  static override examples = ['<%= config.bin %> <%= command.id %>']

  async run() {
    const backend = await this.backend()
    const keys = await backend.vendor.listKeys()
    const {table, date} = await import('../../cli/render.js')
    this.log(
      await table(keys, [
        {header: 'KID', get: (k) => k.kid},
        {header: 'STATUS', get: (k) => k.status},
        {header: 'CREATED', get: (k) => date(k.createdAt)},
        {header: 'RETIRED', get: (k) => (k.retiredAt === null ? '' : date(k.retiredAt))},
        {header: 'PRIVATE KEY', get: (k) => (k.hasPrivateKey ? 'on this machine' : 'absent')},
      ]),
    )
    return {keys}
  }
}
