import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'

/** The settings `profile set` and `profile unset` know, and where each is kept. */
export const REMOTE_KEYS = {
  server: 'server',
  'server-fingerprint': 'serverFingerprint',
  ca: 'ca',
} as const

export type RemoteKey = keyof typeof REMOTE_KEYS

export default class ProfileSet extends BaseCommand<typeof ProfileSet> {
  static override summary = "Set a profile's license server, its pinned certificate fingerprint, or a CA file."

  static override description = `Commands that talk to a license server (seat, server status/rules/policy, and remote administration) use these when --server / --ca are not given; flags and their environment variables win.

Keys:
- server: the server's URL, e.g. https://licenses.example.com:22350.
- server-fingerprint: the SHA-256 fingerprint of the server's certificate (64 hex digits, with or without colons). The CLI then talks only to a server that presents exactly that certificate, self-signed or not, and checks it before it sends anything. Read it on the server with "licadm server cert show", and compare it over a channel you trust before you pin it.
- ca: a PEM file with the CA certificate (or the self-signed server's own certificate) that the server's certificate must chain to; kept as an absolute path.

The pinned fingerprint and the CA apply to the profile's server (or to any server when the profile names none). Without either, an https server must have a certificate the system's CAs trust. The profile does not need a vendor key: a profile can hold only server settings, for an admin who works on a server.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> server https://licenses.example.com:22350',
    '<%= config.bin %> <%= command.id %> server-fingerprint 5F:3A:…:9C',
    '<%= config.bin %> <%= command.id %> ca ./company-ca.pem --profile acme',
  ]

  static override args = {
    key: Args.string({description: 'What to set.', required: true, options: Object.keys(REMOTE_KEYS)}),
    value: Args.string({description: 'Its value: a URL, a fingerprint, or a PEM file.', required: true}),
  }

  async run() {
    const key = this.args.key as RemoteKey
    const value = await checkRemoteValue(key, this.args.value)
    const profiles = await this.profiles()
    const name = profiles.resolve(this.flags.profile)
    const remote = profiles.setRemote(name, {[REMOTE_KEYS[key]]: value})
    this.log(`Profile ${name}: ${key} = ${value}`)
    return {profile: name, key, value, remote}
  }
}

/** A setting's value as it is kept, or a refusal that names the key. */
export async function checkRemoteValue(key: RemoteKey, value: string): Promise<string> {
  const {InvalidValueError} = await import('../../domain/errors.js')
  switch (key) {
    case 'server': {
      let url: URL
      try {
        url = new URL(value.trim())
      } catch {
        throw new InvalidValueError('server', `"${value}" is not a URL (e.g. https://licenses.example.com:22350)`)
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidValueError('server', `"${value}" is not an http(s) URL`)
      if (url.username || url.password) throw new InvalidValueError('server', 'the URL must not carry credentials: set LICADM_TOKEN instead')
      return url.href.replace(/\/+$/, '')
    }
    case 'server-fingerprint': {
      const {normalizeFingerprint} = await import('../../crypto/certs.js')
      return normalizeFingerprint(value, 'server-fingerprint')
    }
    case 'ca': {
      const {resolve} = await import('node:path')
      const {readCa} = await import('../../cli/server-flags.js')
      const path = resolve(value)
      await readCa(path, 'ca')
      return path
    }
  }
}
