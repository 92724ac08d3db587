import {existsSync, renameSync} from 'node:fs'
import {join} from 'node:path'

import {LicadmError, ExitCode, InvalidValueError, NotFoundError} from '../domain/errors.js'
import {keyDirIn, storeFileIn} from '../store/layout.js'

/** What the config file records about a profile; keys and the store live in files of their own. */
export interface ProfileInfo {
  vendorCode: number
  vendorName: string
  createdAt: string
  encryptedKey: boolean
}

/**
 * Which license server a profile's commands talk to, and how its TLS certificate is trusted. Kept
 * apart from ProfileInfo: a profile may be only this (an admin who works on a server, with no
 * vendor key of their own).
 */
export interface ProfileRemote {
  /** The server's URL. */
  server?: string
  /** The pinned SHA-256 fingerprint of the server's certificate, `AB:CD:…`. */
  serverFingerprint?: string
  /** Absolute path of a PEM CA certificate that the server's certificate must chain to. */
  ca?: string
}

export interface ProfileConfig {
  current?: string
  profiles: Record<string, ProfileInfo>
  remotes?: Record<string, ProfileRemote>
}

export interface ProfilePaths {
  name: string
  keyDir: string
  storePath: string
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

export function checkProfileName(name: string): string {
  if (!NAME.test(name)) {
    throw new InvalidValueError('--profile', `"${name}" is not a profile name: use 1-64 letters, digits, '_', '.' or '-'`)
  }
  return name
}

/**
 * Profiles in the oclif config directory (LICADM_CONFIG_DIR): `config.json` through `conf`, private
 * keys under `profiles/NAME/keys`, and the store in the data directory (LICADM_DATA_DIR).
 */
export class Profiles {
  private constructor(
    private readonly conf: {get(key: 'current'): string | undefined; get(key: 'profiles'): Record<string, ProfileInfo>; get(key: 'remotes'): Record<string, ProfileRemote> | undefined; set(key: string, value: unknown): void; delete(key: string): void},
    readonly configDir: string,
    readonly dataDir: string,
  ) {}

  static async open(configDir: string, dataDir: string): Promise<Profiles> {
    const {default: Conf} = await import('conf')
    const conf = new Conf<ProfileConfig>({
      cwd: configDir,
      configName: 'config',
      projectName: 'licadm',
      defaults: {profiles: {}},
      configFileMode: 0o600,
    })
    return new Profiles(conf as never, configDir, dataDir)
  }

  paths(name: string): ProfilePaths {
    checkProfileName(name)
    return {
      name,
      keyDir: keyDirIn(join(this.configDir, 'profiles', name)),
      storePath: storeFileIn(join(this.dataDir, 'profiles', name)),
    }
  }

  list(): Array<{name: string; current: boolean} & ProfileInfo> {
    const current = this.current()
    return Object.entries(this.conf.get('profiles'))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, info]) => ({name, current: name === current, ...info}))
  }

  current(): string | undefined {
    return this.conf.get('current')
  }

  /** The profile a command works on: --profile / LICADM_PROFILE, else the current one, else "default". */
  resolve(explicit?: string): string {
    return checkProfileName(explicit ?? this.current() ?? 'default')
  }

  get(name: string): ProfileInfo | undefined {
    return this.conf.get('profiles')[name]
  }

  require(name: string): ProfileInfo {
    const info = this.get(name)
    if (!info) {
      const known = Object.keys(this.conf.get('profiles'))
      throw new NotFoundError('profile', name, {
        hint: known.length === 0 ? 'Run "licadm init" to create a vendor profile.' : `Known profiles: ${known.join(', ')}. Run "licadm init --profile ${name}" to create it.`,
      })
    }
    return info
  }

  save(name: string, info: ProfileInfo): void {
    this.conf.set('profiles', {...this.conf.get('profiles'), [name]: info})
  }

  /** The profile's server and TLS trust settings (empty when none are set). */
  remote(name: string): ProfileRemote {
    checkProfileName(name)
    return {...this.conf.get('remotes')?.[name]}
  }

  /** Sets (a value) or clears (undefined) the profile's server settings; returns them as they now are. */
  setRemote(name: string, patch: Partial<Record<keyof ProfileRemote, string | undefined>>): ProfileRemote {
    const remotes = {...this.conf.get('remotes')}
    const next: ProfileRemote = {...remotes[checkProfileName(name)]}
    for (const [key, value] of Object.entries(patch) as Array<[keyof ProfileRemote, string | undefined]>) {
      if (value === undefined) delete next[key]
      else next[key] = value
    }
    if (Object.keys(next).length === 0) delete remotes[name]
    else remotes[name] = next
    this.conf.set('remotes', remotes)
    return next
  }

  use(name: string): void {
    this.require(name)
    this.conf.set('current', name)
  }

  /**
   * Moves a profile's keys and store aside (never deletes them: a key that signed licenses must not
   * vanish by a mistyped command). Returns where they went.
   */
  moveAside(name: string, stamp: string): string[] {
    const moved: string[] = []
    for (const dir of [join(this.configDir, 'profiles', name), join(this.dataDir, 'profiles', name)]) {
      if (existsSync(dir)) {
        const target = `${dir}.replaced-${stamp}`
        try {
          renameSync(dir, target)
        } catch (error) {
          throw new LicadmError('PROFILE_MOVE_FAILED', ExitCode.internal, `cannot move ${dir} aside: ${(error as Error).message}`, {cause: error})
        }
        moved.push(target)
      }
    }
    return moved
  }
}
