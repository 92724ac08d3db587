import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {serverDataFlags} from '../../cli/server-flags.js'

export default class StoreBackup extends BaseCommand<typeof StoreBackup> {
  static override summary = "Back up a profile's or a license server's store to a file, while it is in use."

  static override description = `Copies a consistent snapshot of the store (SQLite's online backup: a running license server goes on serving meanwhile), checks the copy (integrity and foreign keys) and writes it 0600, replacing FILE only with --force and only once the copy is complete.

The store holds licenses, containers, devices, leases, the audit trail and token hashes; the vendor's private keys are files of their own (the profile's key directory, or DIR/keys of a server's --data): back them up apart, passphrase-encrypted. To restore, stop the server and put the backup in place of the store file (licadm.db), removing any licadm.db-wal and licadm.db-shm beside it.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> backups/licadm-$(date +%F).db',
    '<%= config.bin %> <%= command.id %> /srv/backup/licadm.db --data /var/lib/licadm --force --json',
  ]

  static override args = {file: Args.string({description: 'Where to write the backup.', required: true})}

  static override flags = {
    ...serverDataFlags,
    force: Flags.boolean({summary: 'Replace FILE if it exists.'}),
  }

  async run() {
    const [{storeFile}, {checkWritable}, {backupStore}] = await Promise.all([import('../../cli/server-flags.js'), import('../../cli/credentials.js'), import('../../store/backup.js')])
    const source = await storeFile(this.flags.data, () => this.profiles(), this.flags.profile)
    checkWritable(this.args.file, 'FILE', this.flags.force)
    const {realpathSync, existsSync} = await import('node:fs')
    // Replacing the live store with its own copy would leave a running server writing to a deleted file.
    if (existsSync(this.args.file) && realpathSync(this.args.file) === realpathSync(source)) {
      const {InvalidValueError} = await import('../../domain/errors.js')
      throw new InvalidValueError('FILE', `${this.args.file} is the store itself; nothing was changed`, {hint: 'Back it up to another file.'})
    }
    const check = await backupStore(source, this.args.file)
    const {describeCheck} = await import('../../cli/store-check.js')
    const {removed, kept} = check.leftovers
    if (removed.length > 0) process.stderr.write(`Removed ${removed.length} file(s) that an interrupted backup left: ${removed.join(', ')}\n`)
    if (kept.length > 0) {
      process.stderr.write(`Left in place ${kept.length} file(s) that look like an interrupted backup's, made on another host or by an older licadm: ${kept.join(', ')}; remove them once no backup writes to this directory\n`)
    }
    this.log(`Backed up ${source} to ${check.file}: ${describeCheck(check)}`)
    return {source, ...check}
  }
}
