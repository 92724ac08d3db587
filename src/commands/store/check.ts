import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {serverDataFlags} from '../../cli/server-flags.js'

export default class StoreCheck extends BaseCommand<typeof StoreCheck> {
  static override summary = "Check a store or a backup: SQLite's integrity check, foreign keys, and what it holds."

  static override description = 'Reads the store read-only (a running server is not disturbed). Reports the schema version (the newest migration the store has had). Exit 10 (STORE_DAMAGED) with what is wrong when the file is damaged, 10 (STORE_UNREADABLE) when it is not a licadm store at all (an empty file, a database of another program), 4 (STORE_TOO_NEW) when a newer licadm made it. The audit trail\'s hash chain has its own check: "licadm audit verify".'

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> backups/licadm-2027-01-01.db --json', '<%= config.bin %> <%= command.id %> --data /var/lib/licadm']

  static override args = {file: Args.string({description: "A store file or backup (default: the profile's store, or --data DIR's)."})}

  static override flags = {...serverDataFlags}

  async run() {
    const [{storeFile}, {checkStore}, {describeCheck}] = await Promise.all([import('../../cli/server-flags.js'), import('../../store/backup.js'), import('../../cli/store-check.js')])
    const file = this.args.file ?? (await storeFile(this.flags.data, () => this.profiles(), this.flags.profile))
    // SQLite opens a directory and then fails with "disk I/O error": say what it is.
    const {statSync} = await import('node:fs')
    if (statSync(file, {throwIfNoEntry: false})?.isDirectory()) {
      const {ExitCode, LicadmError} = await import('../../domain/errors.js')
      throw new LicadmError('STORE_UNREADABLE', ExitCode.malformed, `${file} is a directory, not a licadm store (SQLite database)`, {
        hint: "Give the store file itself (a profile's licadm.db or a backup), or a server's data directory with --data DIR.",
      })
    }
    const check = await checkStore(file)
    this.log(`${this.color().green('OK')}: ${file}, ${describeCheck(check)}`)
    return check
  }
}
