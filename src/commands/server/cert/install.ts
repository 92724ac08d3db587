import {Args} from '@oclif/core'

import {BaseCommand} from '../../../cli/base-command.js'
import {serverDataFlags} from '../../../cli/server-flags.js'

export default class ServerCertInstall extends BaseCommand<typeof ServerCertInstall> {
  static override summary = 'Install the CA-signed certificate for the server key (from "server cert csr").'

  static override description = `Checks the certificate and writes it as the data directory's server.crt (--data DIR, or the profile's), keeping the one it replaces as server.crt.previous; "licadm server start --tls" serves it from the next start. A PEM file may hold the chain (the server certificate and intermediates, in any order; the server sends its own first).

Refused, with nothing written: text that is not a PEM certificate (exit 10), a certificate for another key than the data directory's (exit 18), an expired one (exit 6), one not valid yet (exit 14).`

  static override examples = ['<%= config.bin %> <%= command.id %> signed.crt', '<%= config.bin %> <%= command.id %> fullchain.pem --data /var/lib/licadm --json']

  static override args = {
    file: Args.string({description: 'The signed certificate, PEM ("-" for standard input).', required: true}),
  }

  static override flags = {...serverDataFlags}

  async run() {
    const certs = await import('../../../crypto/certs.js')
    const {readInput} = await import('../../../cli/files.js')
    const {serverDataDir} = await import('../../../cli/server-flags.js')
    const dir = await serverDataDir(this.flags.data, () => this.profiles(), this.flags.profile)
    const info = certs.installCertificate(dir, readInput(this.args.file, 'certificate file'), this.clock().now(), this.args.file)
    const path = certs.tlsPaths(dir).cert
    const {details} = await import('../../../cli/render.js')
    this.log(
      details([
        ['Installed', path],
        ['Subject', info.subject],
        ['Issuer', info.issuer],
        ['Names (SAN)', info.sans.join(', ') || '-'],
        ['Valid until', info.notAfter],
        ['SHA-256', info.fingerprint],
      ]),
    )
    this.logToStderr('Restart the server to serve it. Clients that pinned the old fingerprint must pin the new one (or use --ca with the CA).')
    return {file: path, ...info}
  }
}
