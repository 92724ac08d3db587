import {existsSync, renameSync} from 'node:fs'
import {join} from 'node:path'

import {LicadmError, ExitCode, InvalidValueError, NotFoundError} from '../domain/errors.js'

/** What the config file records about a profile; keys and the store live in files of their own. */
export interface ProfileInfo {
  vendorCode: number
  vendorName: string
  createdAt: string
  encryptedKey: boolean
}

export interface ProfileConfig {
  current?: string
  profiles: Record<string, ProfileInfo>
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
    private readonly conf: {get(key: 'current'): string | undefined; get(key: 'profiles'): Record<string, ProfileInfo>; set(key: string, value: unknown): void; delete(key: string): void},
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
      keyDir: join(this.configDir, 'profiles', name, 'keys'),
      storePath: join(this.dataDir, 'profiles', name, 'licadm.db'),
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
