import {Flags} from '@oclif/core'

import {BaseCommand} from '../../../cli/base-command.js'
import {forceFlag, outFlag} from '../../../cli/flags.js'
import {serverDataFlags} from '../../../cli/server-flags.js'

export default class ServerCertCsr extends BaseCommand<typeof ServerCertCsr> {
  static override summary = "Write a certificate signing request (CSR) for the server's key, for a company CA."

  static override description = `The CSR (PKCS#10, PEM) is signed by the server's own key in the data directory (--data DIR, or the profile's: DIR/tls/server.key); a key and a self-signed certificate are made first if there are none, so the server can run until the CA answers. The key never leaves the directory.

The CSR asks for the names of the current certificate (localhost, 127.0.0.1 and ::1 included) plus every --san; the CA decides what the signed certificate names. Take the signed certificate back with "licadm server cert install FILE", then restart the server.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --san licenses.example.com --org "Example Corp" --out licadm.csr',
    '<%= config.bin %> <%= command.id %> --data /var/lib/licadm --common-name licenses.example.com --json',
  ]

  static override flags = {
    ...serverDataFlags,
    san: Flags.string({summary: 'Another host name or IP address to ask for (repeatable).', multiple: true}),
    'common-name': Flags.string({summary: 'Subject common name (default: the first host name asked for that is not localhost).'}),
    org: Flags.string({summary: 'Subject organization name.'}),
    out: outFlag,
    force: forceFlag,
  }

  async run() {
    const f = this.flags
    // Checked first: no server key is made for a CSR that cannot be written.
    if (f.out) (await import('../../../cli/credentials.js')).checkWritable(f.out, '--out', f.force)
    const certs = await import('../../../crypto/certs.js')
    const {serverDataDir} = await import('../../../cli/server-flags.js')
    const dir = await serverDataDir(f.data, () => this.profiles(), f.profile)
    const now = this.clock().now()
    const asked = certs.serverSans(f.san ?? [], '--san')
    // The kept certificate is read, not checked: renewing an expired one is what a CSR is for.
    const existing = certs.loadTls(dir)
    const made = existing ? undefined : certs.ensureServerTls(dir, {sans: certs.DEFAULT_SANS, now})
    const material = existing ?? made!.material
    const sans = [...new Set([...certs.readCertificate(material.cert).sans, ...asked])]
    const csr = certs.createCsr({key: material.key, sans, commonName: f['common-name'], organization: f.org})
    if (f.out) {
      const {writeOutput} = await import('../../../cli/files.js')
      writeOutput(f.out, csr, {force: f.force})
      this.logToStderr(`Wrote the CSR for ${sans.join(', ')} to ${f.out}${made ? ` (made the server key in ${certs.tlsPaths(dir).dir})` : ''}`)
    } else {
      this.log(csr.trimEnd())
    }
    return {csr, sans, keyFile: certs.tlsPaths(dir).key, ...(f.out ? {file: f.out} : {})}
  }
}
