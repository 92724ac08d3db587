import {Flags, type Command} from '@oclif/core'

import {UsageError} from '../domain/errors.js'
import type {Backend} from '../services/backend.js'
import {BaseCommand} from './base-command.js'
import {serverFlags} from './server-flags.js'

/**
 * A command of the administration (products, licenses, users, groups, containers, devices, SAW
 * files, offline activation, audit, tokens) that runs on the profile's own store, or on a licadm
 * server with --server / LICADM_SERVER (or the profile's server) and a token: the same operations,
 * output and exit statuses either way.
 */
export abstract class AdminCommand<T extends typeof Command> extends BaseCommand<T> {
  static override baseFlags = {
    ...BaseCommand.baseFlags,
    server: Flags.string({
      summary: "Run on this licadm server instead of the profile's store (e.g. https://licenses.example.com:22350).",
      env: 'LICADM_SERVER',
      helpGroup: 'SERVER',
    }),
    token: serverFlags.token,
  }

  protected override async remoteBackend(): Promise<Backend | undefined> {
    const flags = this.flags as {server?: string; token?: string; profile?: string}
    let server = flags.server
    if (server === undefined) {
      const profiles = await this.profiles()
      server = (profiles as {remote?: (name: string) => {server?: string}}).remote?.(profiles.resolve(flags.profile))?.server
    }
    if (server === undefined || server === '') return undefined
    if (!flags.token) {
      throw new UsageError(`a token is needed to run on the server ${server}`, {
        hint: 'Set LICADM_TOKEN (a token from "licadm token create"); --token works too but shows in the process list.',
        details: {flag: '--token'},
      })
    }
    const {ServerClient} = await import('../client/http.js')
    const {remoteBackend} = await import('../client/remote-backend.js')
    return remoteBackend(new ServerClient({server, token: flags.token, timeoutMs: 120_000}))
  }
}
