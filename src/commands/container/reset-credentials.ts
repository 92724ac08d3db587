import {Args, Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {forceFlag, yesFlag} from '../../cli/flags.js'
import {ExitCode} from '../../domain/errors.js'
import {parseDurationFlag} from '../../domain/values.js'

export default class ContainerResetCredentials extends AdminCommand<typeof ContainerResetCredentials> {
  static override summary = "Rotate a cloud container's secret; hand the devices that keep access a SAW file each."

  static override description = `The generation goes up and every device link becomes stale: the old secret is refused from that moment. Devices marked for removal (their user left the group, or the container was unassigned) are dropped. With --saw-dir, every device that may keep access (enterprise: devices of users still in the group; personal: its active devices) gets a SAW file there, named after the device; applying it ("saw apply") restores its link. The output says which files were written and which devices were left out, and why.

--out and --saw-dir are checked before anything changes. Once the reset is done the new credentials are always handed out: a SAW file that cannot be written is listed with the "saw create" command that makes it again (exit 20), and an --out file that can no longer be written is replaced by showing the secret.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> E-7KQ2-M9XZ-4TBD --saw-dir ./saw --yes',
    '<%= config.bin %> <%= command.id %> P-7KQ2-M9XZ-4TBD --saw-dir ./saw --saw-expires 3d --out creds.json --yes --json',
  ]

  static override args = {serial: Args.string({description: 'Container serial.', required: true})}

  static override flags = {
    'saw-dir': Flags.string({summary: 'Write one SAW file per device that keeps access into this directory.'}),
    'saw-expires': Flags.string({summary: 'How long the SAW files can be applied (e.g. 7d, 12h).', default: '7d'}),
    out: Flags.string({char: 'o', summary: 'Write the new credentials to this file (0600) instead of printing the secret.'}),
    yes: yesFlag,
    force: forceFlag,
  }

  async run() {
    const ttl = parseDurationFlag(this.flags['saw-expires'], '--saw-expires', {min: 60, max: 90 * 86_400})
    const sawDir = this.flags['saw-dir']
    const {checkWritable, checkWritableDir, handOutCredentials} = await import('../../cli/credentials.js')
    // The new secret exists only in this run: check --out and --saw-dir before the reset, not after it.
    if (this.flags.out) checkWritable(this.flags.out, '--out', this.flags.force)
    if (sawDir !== undefined) checkWritableDir(sawDir, '--saw-dir')
    const backend = await this.backend()
    const container = await backend.containers.get(this.args.serial)
    await this.confirm(this.flags.yes, `Reset the credentials of ${container.serial}? Every device must apply a SAW file to keep access`)
    const {join} = await import('node:path')
    const {makeDirectory, writeOutput} = await import('../../cli/files.js')
    if (sawDir !== undefined) makeDirectory(sawDir, '--saw-dir')
    const result = await backend.containers.resetCredentials(container.serial, {sawTtlSeconds: ttl, writeSaws: sawDir !== undefined})
    // Done: from here on nothing ends the command before the new credentials are handed out, and a
    // file that cannot be written is reported (with the command that makes it again), not thrown.
    this.log(`${this.color().green('✓')} Credentials of ${container.serial} reset: generation ${result.credentials.generation}; ${result.staled} device link(s) now stale`)
    const handed = handOutCredentials(this, result.credentials, this.flags.out, this.flags.force)
    const files = []
    const notWritten: NotWrittenFile[] = []
    if (handed.notWritten) notWritten.push({what: 'credentials', file: handed.notWritten.file, reason: handed.notWritten.reason})
    // Named by device: its name and its whole fingerprint (two devices may share a name, and
    // fingerprints may share a long prefix); never the same file twice in one reset.
    const taken = new Set<string>()
    for (const saw of result.saws) {
      const base = `${safeName(saw.deviceName)}-${saw.fingerprint.replaceAll(/[^A-Za-z0-9._-]/g, '_')}`
      let name = `${base}.saw`
      for (let i = 2; taken.has(name.toLowerCase()); i++) name = `${base}-${i}.saw`
      taken.add(name.toLowerCase())
      const path = join(sawDir!, name)
      const expiresAt = new Date(saw.expiresAt * 1000).toISOString()
      try {
        writeOutput(path, saw.file, {force: true, mode: 0o600, flag: '--saw-dir'})
      } catch (error) {
        const {asLicadmError} = await import('../../cli/base-command.js')
        const remake = this.remakeCommand(container.serial, saw.fingerprint, path, handed.notWritten ? undefined : this.flags.out)
        notWritten.push({what: 'saw', device: saw.fingerprint, name: saw.deviceName, file: path, jti: saw.jti, expiresAt, reason: asLicadmError(error).message, remake, saw: saw.file})
        continue
      }
      files.push({device: saw.fingerprint, name: saw.deviceName, file: path, jti: saw.jti, expiresAt})
      this.log(`  SAW for ${saw.deviceName} (${saw.fingerprint}): ${path}`)
    }
    if (sawDir === undefined && result.staled > 0) this.log(`  No SAW files written: give --saw-dir, or make them one by one with "${this.config.bin} saw create".`)
    for (const left of result.leftOut) this.log(`  Left out ${left.name} (${left.fingerprint}${left.user ? `, ${left.user}` : ''}): ${left.reason}`)
    if (notWritten.length > 0) {
      const c = this.color()
      for (const f of notWritten) {
        if (f.what !== 'saw') continue
        this.logToStderr(`${c.yellow('Not written:')} SAW for ${f.name} (${f.device}): ${f.reason}`)
        this.logToStderr(`  Make it again (once the path can be written${this.flags.out && !handed.notWritten ? '' : ', with the new secret in LICADM_CONTAINER_SECRET'}): ${f.remake}`)
      }
      this.logToStderr(`${c.red.bold('Error:')} the credentials of ${container.serial} were reset (generation ${result.credentials.generation}), but ${notWritten.length} file(s) could not be written (exit ${ExitCode.partial}); "notWritten" in --json lists them.`)
      process.exitCode = ExitCode.partial
    }
    return {container: container.serial, generation: result.credentials.generation, credentials: handed.credentials, saws: files, notWritten, leftOut: result.leftOut, staled: result.staled}
  }

  /** The "saw create" command that makes a SAW file of this reset again, for one device. */
  private remakeCommand(serial: string, fingerprint: string, path: string, credentials: string | undefined): string {
    const args = [this.config.bin, 'saw', 'create', '--container', serial, '--device', fingerprint, '--expires', this.flags['saw-expires']]
    if (credentials) args.push('--credentials', credentials)
    args.push('--out', path, '--force')
    for (const flag of ['profile', 'server', 'ca'] as const) {
      const value = (this.flags as Record<string, unknown>)[flag]
      if (typeof value === 'string' && value !== '') args.push(`--${flag}`, value)
    }
    return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ')
  }
}

/** A file this reset could not write: the credentials file (--out) or a device's SAW file. */
type NotWrittenFile =
  | {what: 'credentials'; file: string; reason: string}
  | {what: 'saw'; device: string; name: string; file: string; jti: string; expiresAt: string; reason: string; remake: string; saw: string}

function safeName(name: string): string {
  return name.replaceAll(/[^A-Za-z0-9._-]+/g, '-').replaceAll(/^-+|-+$/g, '').slice(0, 40) || 'device'
}
