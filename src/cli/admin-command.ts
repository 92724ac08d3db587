import {Flags, type Command} from '@oclif/core'

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
    ca: serverFlags.ca,
  }

  protected override async remoteBackend(): Promise<Backend | undefined> {
    const flags = this.flags as {server?: string; token?: string; ca?: string; profile?: string}
    if (!flags.server) {
      const profiles = await this.profiles()
      if (!profiles.remote(profiles.resolve(flags.profile)).server) return undefined
    }
    const {serverClient} = await import('./server-flags.js')
    const {remoteBackend} = await import('../client/remote-backend.js')
    // Bulk issuance and credential resets can take a while on a big store.
    return remoteBackend(await serverClient(flags, {profiles: () => this.profiles(), timeoutMs: 300_000}))
  }
}
