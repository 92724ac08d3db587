import {Args} from '@oclif/core'

import {BaseCommand} from '../../../cli/base-command.js'
import {serverDataFlags} from '../../../cli/server-flags.js'

export default class ServerCertShow extends BaseCommand<typeof ServerCertShow> {
  static override summary = "Show the server's TLS certificate: subject, names, validity, SHA-256 fingerprint."

  static override description = `Reads the certificate that "licadm server start --tls" serves from the data directory (--data DIR, or the profile's: DIR/tls/server.crt), or any PEM certificate FILE (e.g. a CA-signed one before "server cert install").

The SHA-256 fingerprint is what clients pin with "licadm profile set server-fingerprint"; give it to them by a channel you trust. It is the same as "openssl x509 -noout -fingerprint -sha256 -in server.crt" prints.`

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --data /var/lib/licadm --json', '<%= config.bin %> <%= command.id %> signed.crt']

  static override args = {
    file: Args.string({description: 'A PEM certificate file to read instead of the server\'s ("-" for standard input).'}),
  }

  static override flags = {...serverDataFlags}

  async run() {
    const certs = await import('../../../crypto/certs.js')
    let path: string
    let pem: string
    if (this.args.file) {
      const {readInput} = await import('../../../cli/files.js')
      path = this.args.file
      pem = readInput(path, 'certificate file')
    } else {
      const {serverDataDir} = await import('../../../cli/server-flags.js')
      const dir = await serverDataDir(this.flags.data, () => this.profiles(), this.flags.profile)
      path = certs.tlsPaths(dir).cert
      pem = certs.requireTls(dir).cert
    }
    const chain = certs.parseCertificates(pem, path)
    const info = certs.describe(chain[0])
    const now = this.clock().now()
    const days = Math.floor((Date.parse(info.notAfter) - now) / 86_400_000)
    const state = Date.parse(info.notBefore) > now ? 'not valid yet' : days < 0 ? 'EXPIRED' : `valid, ${days} day${days === 1 ? '' : 's'} left`
    const {details} = await import('../../../cli/render.js')
    const c = this.color()
    this.log(
      details([
        ['File', path],
        ['Subject', info.subject],
        ['Issuer', `${info.issuer}${info.selfSigned ? ' (self-signed)' : ''}`],
        ['Names (SAN)', info.sans.join(', ') || '-'],
        ['Valid from', info.notBefore],
        ['Valid until', `${info.notAfter} (${days < 0 ? c.red(state) : state})`],
        ['SHA-256', info.fingerprint],
        ['Serial', info.serialNumber],
        ['Key', info.keyType],
        ['Chain', `${chain.length} certificate${chain.length === 1 ? '' : 's'}`],
      ]),
    )
    return {file: path, ...info, chainLength: chain.length, state}
  }
}
