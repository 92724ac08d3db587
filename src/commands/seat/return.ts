import {existsSync} from 'node:fs'

import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {seatServerFlags} from '../../cli/server-flags.js'

export default class SeatReturn extends BaseCommand<typeof SeatReturn> {
  static override summary = 'Return a borrowed seat early.'

  static override description =
    'Give the borrow file or the borrow id. A file that is damaged, or not a borrow file, is refused; with --public-key its signature is checked too. Returning a borrow that is gone already (returned or expired) changes nothing and succeeds.'

  static override examples = ['<%= config.bin %> <%= command.id %> laptop.borrow --server http://127.0.0.1:22350', '<%= config.bin %> <%= command.id %> brw_01jx… --json']

  static override args = {borrow: Args.string({description: 'Borrow file, or borrow id.', required: true})}

  static override flags = {...seatServerFlags}

  async run() {
    const {serverConnection} = await import('../../cli/server-flags.js')
    const connection = await serverConnection(this.flags, {credentials: this.flags.credentials, profiles: () => this.profiles()})
    let id = this.args.borrow
    if (existsSync(id)) {
      const [{readInput}, {returnedBorrowId}] = await Promise.all([import('../../cli/files.js'), import('../../formats/lease.js')])
      id = returnedBorrowId(readInput(id, 'borrow file'), connection.publicKeys)
    }
    const {ServerClient} = await import('../../client/http.js')
    const client = new ServerClient(connection)
    const result = await client.returnBorrow(id)
    this.log(result.returned ? `Returned borrowed seat ${result.borrowId}` : `Borrow ${result.borrowId} was not held (returned or expired already); nothing changed`)
    return result
  }
}
