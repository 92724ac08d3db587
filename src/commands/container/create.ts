import {Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {forceFlag} from '../../cli/flags.js'
import {CONTAINER_KINDS} from '../../domain/container.js'

export default class ContainerCreate extends AdminCommand<typeof ContainerCreate> {
  static override summary = 'Create a container: local (one device), personal (one user) or enterprise (a group).'

  static override description = `A cloud container (personal or enterprise) gets access credentials: a secret shown once (or written to a 0600 credentials file with --out) and stored only as a hash, with a generation number that "container reset-credentials" increments. A personal container serves at most --max-devices active devices at once (default 3).`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --kind personal --user ada@example.com --out ada.credentials.json',
    '<%= config.bin %> <%= command.id %> --kind enterprise --group engineering --json',
    '<%= config.bin %> <%= command.id %> --kind local --device 3F2A9C1B-…',
  ]

  static override flags = {
    kind: Flags.string({char: 'k', summary: 'Container kind.', options: [...CONTAINER_KINDS], required: true}),
    user: Flags.string({char: 'u', summary: 'Owner of a personal container (email or id).'}),
    group: Flags.string({char: 'g', summary: 'Owner of an enterprise container (name or id).'}),
    device: Flags.string({char: 'd', summary: 'Fingerprint of the device a local container is bound to.'}),
    'max-devices': Flags.string({summary: 'Personal containers: most devices active at once (1 to 1000, default 3).'}),
    out: Flags.string({char: 'o', summary: 'Write the credentials to this file (0600) instead of printing the secret.'}),
    force: forceFlag,
  }

  async run() {
    // The secret exists only in this run: check that --out can be written before the container is
    // made, or a refusal afterwards would leave a container whose secret nobody has.
    if (this.flags.out) {
      const {checkWritable} = await import('../../cli/credentials.js')
      checkWritable(this.flags.out, '--out', this.flags.force)
    }
    const backend = await this.backend()
    const {container, credentials} = await backend.containers.create({
      kind: this.flags.kind,
      user: this.flags.user,
      group: this.flags.group,
      device: this.flags.device,
      maxDevices: this.flags['max-devices'],
    })
    this.log(`${this.color().green('✓')} Created ${container.kind} container ${container.serial}`)
    if (credentials) {
      const {emitCredentials} = await import('../../cli/credentials.js')
      return {container, credentials: emitCredentials(this, credentials, this.flags.out, this.flags.force)}
    }
    return {container, credentials: null}
  }
}
