/**
 * The remote backend for the command suites: with LICADM_TEST_BACKEND=remote (the "remote" vitest
 * project), every licadm run of a sandbox whose profile exists gets LICADM_SERVER and LICADM_TOKEN
 * of a licadm server started in this process over that very profile (its store and key). The same
 * test files thus run each command once on the local backend and once through the server.
 */
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import type {Clock} from '../../src/domain/clock.js'
import type {RunningServer} from '../../src/server/runtime.js'

export const REMOTE = process.env.LICADM_TEST_BACKEND === 'remote'
export const REMOTE_TOKEN = 'remote-suite-vendor-token'

/** The server follows the commands' pretend time (LICADM_NOW), as a local run would. */
const commandClock: Clock = {
  now() {
    const fake = process.env.LICADM_NOW
    return fake ? Date.parse(fake) : Date.now()
  },
}

const servers = new Map<string, Promise<RunningServer>>()

/** The profile a run works on: --profile, else LICADM_PROFILE, else the current one, else "default". */
function profileOf(args: string[], env: Record<string, string | undefined>): string {
  const i = args.indexOf('--profile')
  if (i >= 0 && args[i + 1]) return args[i + 1]
  const eq = args.find((a) => a.startsWith('--profile='))
  if (eq) return eq.slice('--profile='.length)
  if (env.LICADM_PROFILE) return env.LICADM_PROFILE
  try {
    const config = JSON.parse(readFileSync(join(env.LICADM_CONFIG_DIR!, 'config.json'), 'utf8'))
    return config.current ?? 'default'
  } catch {
    return 'default'
  }
}

/**
 * The variables that send this run to the server of its profile (started on first use), or none:
 * when not in the remote project, when the profile has no store yet, when the run chooses its own
 * server, or for `init` (which makes the profile).
 */
export async function remoteEnv(args: string[], env: Record<string, string | undefined>): Promise<Record<string, string>> {
  if (!REMOTE || !env.LICADM_CONFIG_DIR || !env.LICADM_DATA_DIR || 'LICADM_SERVER' in env || args.includes('--server')) return {}
  if (args[0] === 'init') return {}
  const profile = profileOf(args, env)
  const storePath = join(env.LICADM_DATA_DIR, 'profiles', profile, 'licadm.db')
  if (!existsSync(storePath)) return {}
  let server = servers.get(storePath)
  if (!server) {
    const {startServer} = await import('../../src/server/runtime.js')
    server = startServer({
      port: 0,
      data: {kind: 'profile', storePath, keyDir: join(env.LICADM_CONFIG_DIR, 'profiles', profile, 'keys'), passphrase: async () => process.env.LICADM_KEY_PASSPHRASE || undefined},
      clock: commandClock,
      tokens: [{token: REMOTE_TOKEN, role: 'vendor', name: 'remote-suite'}],
      sweepIntervalMs: 3_600_000,
      onInternalError: (error) => {
        throw error
      },
    })
    servers.set(storePath, server)
    server.catch(() => servers.delete(storePath))
  }
  const running = await server
  return {LICADM_SERVER: running.url, LICADM_TOKEN: REMOTE_TOKEN}
}

/** The server the remote project runs on this store, if it started one (one server per store). */
export async function remoteServerOn(storePath: string): Promise<RunningServer | undefined> {
  return servers.get(storePath)
}

/** Stops every server this process started (the remote project's teardown). */
export async function stopRemoteServers(): Promise<void> {
  const all = [...servers.values()]
  servers.clear()
  await Promise.all(all.map(async (s) => (await s.catch(() => undefined))?.close()))
}
