import {Args, Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {forceFlag, yesFlag} from '../../cli/flags.js'
import {parseDurationFlag} from '../../domain/values.js'

export default class ContainerResetCredentials extends AdminCommand<typeof ContainerResetCredentials> {
  static override summary = "Rotate a cloud container's secret; hand the devices that keep access a SAW file each."

  static override description = `The generation goes up and every device link becomes stale: the old secret is refused from that moment. Devices marked for removal (their user left the group, or the container was unassigned) are dropped. With --saw-dir, every device that may keep access (enterprise: devices of users still in the group; personal: its active devices) gets a SAW file there, named after the device; applying it ("saw apply") restores its link. The output says which files were written and which devices were left out, and why.`

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
    // The new secret exists only in this run: check --out before the reset, not after it.
    if (this.flags.out) {
      const {checkWritable} = await import('../../cli/credentials.js')
      checkWritable(this.flags.out, '--out', this.flags.force)
    }
    const backend = await this.backend()
    const container = await backend.containers.get(this.args.serial)
    await this.confirm(this.flags.yes, `Reset the credentials of ${container.serial}? Every device must apply a SAW file to keep access`)
    const {mkdirSync} = await import('node:fs')
    const {join} = await import('node:path')
    const {writeOutput} = await import('../../cli/files.js')
    if (this.flags['saw-dir']) mkdirSync(this.flags['saw-dir'], {recursive: true})
    const result = await backend.containers.resetCredentials(container.serial, {sawTtlSeconds: ttl, writeSaws: this.flags['saw-dir'] !== undefined})
    this.log(`${this.color().green('✓')} Credentials of ${container.serial} reset: generation ${result.credentials.generation}; ${result.staled} device link(s) now stale`)
    // The credentials first: if writing a SAW file fails, the new secret is still saved, and the SAW
    // files can be made again with "saw create".
    const {emitCredentials} = await import('../../cli/credentials.js')
    const credentials = emitCredentials(this, result.credentials, this.flags.out, this.flags.force)
    const files = []
    // Named by device: its name and its whole fingerprint (two devices may share a name, and
    // fingerprints may share a long prefix); never the same file twice in one reset.
    const taken = new Set<string>()
    for (const saw of result.saws) {
      const base = `${safeName(saw.deviceName)}-${saw.fingerprint.replaceAll(/[^A-Za-z0-9._-]/g, '_')}`
      let name = `${base}.saw`
      for (let i = 2; taken.has(name.toLowerCase()); i++) name = `${base}-${i}.saw`
      taken.add(name.toLowerCase())
      const path = join(this.flags['saw-dir']!, name)
      writeOutput(path, saw.file, {force: true, mode: 0o600})
      files.push({device: saw.fingerprint, name: saw.deviceName, file: path, jti: saw.jti, expiresAt: new Date(saw.expiresAt * 1000).toISOString()})
      this.log(`  SAW for ${saw.deviceName} (${saw.fingerprint}): ${path}`)
    }
    if (!this.flags['saw-dir'] && result.staled > 0) this.log(`  No SAW files written: give --saw-dir, or make them one by one with "${this.config.bin} saw create".`)
    for (const left of result.leftOut) this.log(`  Left out ${left.name} (${left.fingerprint}${left.user ? `, ${left.user}` : ''}): ${left.reason}`)
    return {container: container.serial, generation: result.credentials.generation, credentials, saws: files, leftOut: result.leftOut, staled: result.staled}
  }
}

function safeName(name: string): string {
  return name.replaceAll(/[^A-Za-z0-9._-]+/g, '-').replaceAll(/^-+|-+$/g, '').slice(0, 40) || 'device'
}
