import {Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {forceFlag, outFlag} from '../../cli/flags.js'

export default class KeyExport extends AdminCommand<typeof KeyExport> {
  static override summary = "Export the vendor's public signing keys, to embed in your application."

  static override description = `Your application pins these keys to verify license files offline. PEM (SPKI) suits node:crypto, OpenSSL and most languages; JWK and JWKS suit JOSE libraries. By default the active key is exported; --all adds the retired keys that still verify older licenses. The private key is never exported.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --format jwks --all --out vendor-keys.json',
    '<%= config.bin %> <%= command.id %> --json',
  ]

  static override flags = {
    format: Flags.string({summary: 'Output format.', options: ['pem', 'jwk', 'jwks'], default: 'pem'}),
    kid: Flags.string({summary: 'Export this key id instead of the active key.'}),
    all: Flags.boolean({summary: 'Export the active and all retired keys.', exclusive: ['kid']}),
    out: outFlag,
    force: forceFlag,
  }

  async run() {
    const backend = await this.backend()
    const all = await backend.vendor.exportKey(this.flags.kid)
    const keys = this.flags.all || this.flags.kid ? all : all.filter((k) => k.status === 'active')
    let text: string
    if (this.flags.format === 'pem') text = keys.map((k) => k.pem).join('')
    else if (this.flags.format === 'jwk') text = `${keys.map((k) => JSON.stringify(k.jwk, null, 2)).join('\n')}\n`
    else text = `${JSON.stringify({keys: keys.map((k) => k.jwk)}, null, 2)}\n`
    if (this.flags.out) {
      const {writeOutput} = await import('../../cli/files.js')
      writeOutput(this.flags.out, text, {force: this.flags.force})
      this.logToStderr(`Wrote ${keys.length} public key(s) to ${this.flags.out}`)
    } else {
      this.log(text.trimEnd())
    }
    return {keys: keys.map((k) => ({kid: k.kid, status: k.status, pem: k.pem, jwk: k.jwk})), ...(this.flags.out ? {file: this.flags.out} : {})}
  }
}
