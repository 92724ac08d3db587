import {Flags} from '@oclif/core'

import {BaseCommand} from '../../../cli/base-command.js'
import {forceFlag} from '../../../cli/flags.js'
import {serverDataFlags} from '../../../cli/server-flags.js'
import {UsageError} from '../../../domain/errors.js'
import {MIN_PASSPHRASE} from '../../../domain/values.js'

export default class ServerCertExport extends BaseCommand<typeof ServerCertExport> {
  static override summary = "Export the server's certificate (PEM, for clients' --ca) or, with --p12, its key and certificate as PKCS#12."

  static override description = `Without --p12: writes the certificate chain (PEM, public) of the data directory (--data DIR, or the profile's), which clients of a self-signed server trust with --ca FILE or "licadm profile set ca FILE".

With --p12: writes a PKCS#12 file (.p12/.pfx; AES-256, mode 0600) with the private key and the certificate chain, for a reverse proxy, a load balancer or a Windows/Java key store. The passphrase comes from LICADM_P12_PASSPHRASE, or is asked for in a terminal (twice); it is never a flag, so it never shows in the process list or shell history. At least ${MIN_PASSPHRASE} characters.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --out server.pem',
    'LICADM_P12_PASSPHRASE=… <%= config.bin %> <%= command.id %> --p12 --out server.p12 --data /var/lib/licadm',
  ]

  static override flags = {
    ...serverDataFlags,
    p12: Flags.boolean({summary: 'Write PKCS#12 with the private key, encrypted with a passphrase (LICADM_P12_PASSPHRASE or asked).'}),
    out: Flags.string({char: 'o', summary: 'Write to this file (required with --p12; else standard output).'}),
    force: forceFlag,
  }

  async run() {
    const f = this.flags
    const certs = await import('../../../crypto/certs.js')
    const {serverDataDir} = await import('../../../cli/server-flags.js')
    const dir = await serverDataDir(f.data, () => this.profiles(), f.profile)
    const material = certs.requireTls(dir)
    const info = certs.readCertificate(material.cert, certs.tlsPaths(dir).cert)
    if (!f.p12) {
      if (f.out) {
        const {writeOutput} = await import('../../../cli/files.js')
        writeOutput(f.out, material.cert, {force: f.force})
        this.logToStderr(`Wrote the certificate (SHA-256 ${info.fingerprint}) to ${f.out}`)
      } else {
        this.log(material.cert.trimEnd())
      }
      return {format: 'pem', fingerprint: info.fingerprint, subject: info.subject, ...(f.out ? {file: f.out} : {certificate: material.cert})}
    }
    if (!f.out) throw new UsageError('--p12 needs --out FILE (PKCS#12 is binary)', {details: {flag: '--out'}})
    const {existsSync} = await import('node:fs')
    if (existsSync(f.out) && !f.force) {
      const {ConflictError} = await import('../../../domain/errors.js')
      throw new ConflictError('FILE_EXISTS', `${f.out} exists already`, {hint: 'Pass --force to overwrite it, or choose another --out.'})
    }
    const passphrase = await this.p12Passphrase()
    certs.writePrivate(f.out, certs.exportPkcs12(material, passphrase))
    this.logToStderr(`Wrote the key and certificate (SHA-256 ${info.fingerprint}) as PKCS#12 to ${f.out}`)
    return {format: 'pkcs12', file: f.out, fingerprint: info.fingerprint, subject: info.subject}
  }

  /** LICADM_P12_PASSPHRASE, else asked twice in a terminal, else refused naming the variable. */
  private async p12Passphrase(): Promise<string> {
    const {newPassphraseFrom, passphraseCheck: check} = await import('../../../domain/values.js')
    const fromEnv = process.env.LICADM_P12_PASSPHRASE
    if (fromEnv !== undefined && fromEnv !== '') return newPassphraseFrom('LICADM_P12_PASSPHRASE', fromEnv)
    if (!this.canPrompt()) {
      throw new UsageError('the PKCS#12 file needs a passphrase', {
        hint: 'Set LICADM_P12_PASSPHRASE; licadm asks for it only in a terminal (not with CI set or --json).',
        details: {env: 'LICADM_P12_PASSPHRASE'},
      })
    }
    const first = await this.prompter.password({message: 'Passphrase for the PKCS#12 file', mask: '*', validate: check})
    const again = await this.prompter.password({message: 'Repeat the passphrase', mask: '*'})
    if (first !== again) throw new UsageError('the passphrases differ: nothing was written')
    return first
  }
}
