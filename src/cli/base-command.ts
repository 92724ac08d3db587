import {Command, Flags, type Interfaces} from '@oclif/core'

import {offsetClock, systemClock, type Clock} from '../domain/clock.js'
import {CancelledError, ExitCode, LicadmError, UsageError} from '../domain/errors.js'
import {fileError, isFileSystemError} from '../domain/file-errors.js'
import type {Backend} from '../services/backend.js'
import type {Profiles} from './profiles.js'
import {Prompter} from './prompts.js'
import {colors} from './render.js'

export type CmdFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type CmdArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/** The `--json` envelope, the same for every command. */
export type JsonEnvelope =
  | {ok: true; result: unknown}
  | {ok: false; error: {code: string; message: string; exitCode: number; hint?: string; details?: Record<string, unknown>}}

/**
 * The base of every licadm command: parses flags, resolves the profile and backend, renders errors
 * with their documented exit status in text and in `--json`, and asks questions only when a person
 * can answer them.
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    profile: Flags.string({
      summary: 'Vendor profile to use (default: the current profile).',
      env: 'LICADM_PROFILE',
      helpGroup: 'GLOBAL',
    }),
  }

  protected flags!: CmdFlags<T>
  protected args!: CmdArgs<T>
  /** Tests replace this to answer prompts. */
  prompter = new Prompter()
  private openBackend?: Promise<Backend>
  private askedPassphrase?: Promise<string>
  private openProfiles?: Promise<Profiles>

  public override async init(): Promise<void> {
    await super.init()
    const {args, flags} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as CmdFlags<T>
    this.args = args as CmdArgs<T>
  }

  /** The clock: the system's, or LICADM_NOW (an ISO time) to pretend another time, for tests and drills. */
  protected clock(): Clock {
    const fake = process.env.LICADM_NOW
    if (fake === undefined || fake === '') return systemClock
    const at = Date.parse(fake)
    if (Number.isNaN(at)) throw new UsageError(`LICADM_NOW="${fake}" is not an ISO date-time`)
    return offsetClock(at)
  }

  protected profiles(): Promise<Profiles> {
    this.openProfiles ??= import('./profiles.js').then(({Profiles}) => Profiles.open(this.config.configDir, this.config.dataDir))
    return this.openProfiles
  }

  /**
   * The services a command calls (opened once per command, closed in `finally`): those of a licadm
   * server when the command runs remotely, else those of the selected profile's own store.
   */
  protected backend(profile?: string): Promise<Backend> {
    this.openBackend ??= (async () => {
      const remote = await this.remoteBackend()
      if (remote) return remote
      const profiles = await this.profiles()
      const name = profiles.resolve(profile ?? this.flags.profile)
      profiles.require(name)
      const {localBackend} = await import('../services/backend.js')
      const {localActor} = await import('../services/context.js')
      return localBackend(profiles.paths(name), this.clock(), () => this.passphrase(), `${localActor()}@${name}`)
    })()
    return this.openBackend
  }

  /** A server's services when this command runs remotely (see AdminCommand); none by default. */
  protected async remoteBackend(): Promise<Backend | undefined> {
    return undefined
  }

  /** The device directory: LICADM_DEVICE_DIR, else "device" in the data directory. */
  protected async deviceStore() {
    const {DeviceStore} = await import('../device/state.js')
    const {join} = await import('node:path')
    return new DeviceStore(process.env.LICADM_DEVICE_DIR || join(this.config.dataDir, 'device'))
  }

  /**
   * A container's current secret, for commands that hand it to a device: a credentials file
   * (--credentials), LICADM_CONTAINER_SECRET, or asked in a terminal. Never a flag value (it would
   * show in `ps` and shell history).
   */
  protected async containerSecret(serial: string, file?: string): Promise<string> {
    if (file !== undefined) {
      const {readCredentialsFile} = await import('./credentials.js')
      return readCredentialsFile(file, serial).secret
    }
    const fromEnv = process.env.LICADM_CONTAINER_SECRET
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv
    if (!this.canPrompt()) {
      throw new UsageError(`the secret of container ${serial} is needed`, {
        hint: 'Give --credentials FILE (from "container create --out" or "reset-credentials --out"), or set LICADM_CONTAINER_SECRET.',
        details: {flag: '--credentials'},
      })
    }
    return this.prompter.password({message: `Secret of container ${serial}`, mask: '*'})
  }

  /** The signing key's passphrase: LICADM_KEY_PASSPHRASE, else asked in a terminal (once per command). */
  protected async passphrase(): Promise<string | undefined> {
    const fromEnv = process.env.LICADM_KEY_PASSPHRASE
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv
    if (!this.canPrompt()) return undefined
    this.askedPassphrase ??= import('./prompts.js').then(({questions}) => this.prompter.password(questions.passphrase))
    return this.askedPassphrase
  }

  /** A person is there to answer: a terminal on both ends, not CI, not --json. */
  protected canPrompt(): boolean {
    return this.whyNoPrompt() === null
  }

  /** Why licadm asks no question now ("with --json", "with CI set", "without a terminal"), or null when it may. */
  protected whyNoPrompt(): string | null {
    if (this.jsonEnabled()) return 'with --json'
    const ci = process.env.CI
    if (ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false') return 'with CI set'
    return process.stdin.isTTY && process.stdout.isTTY ? null : 'without a terminal'
  }

  /** A required value: the flag's, else asked in a terminal, else refused naming the flag. */
  protected async need(flag: string, value: string | undefined, question: {message: string; validate?: (v: string) => true | string}): Promise<string> {
    if (value !== undefined) return value
    if (!this.canPrompt()) {
      throw new UsageError(`missing required flag --${flag}`, {
        hint: `Pass --${flag}; licadm asks no questions ${this.whyNoPrompt()}.`,
        details: {flag: `--${flag}`},
      })
    }
    return this.prompter.input(question)
  }

  /** Confirms a destructive step: --yes, else a question in a terminal, else refused. */
  protected async confirm(yes: boolean | undefined, message: string): Promise<void> {
    if (yes) return
    if (!this.canPrompt()) {
      throw new UsageError(`${message.replace(/\?$/, '')}: this needs confirmation`, {
        hint: `Pass --yes to confirm: licadm asks no questions ${this.whyNoPrompt()}.`,
        details: {flag: '--yes'},
      })
    }
    if (!(await this.prompter.confirm(message))) throw new CancelledError('cancelled: nothing was changed')
  }

  protected color() {
    return colors()
  }

  public override toSuccessJson(result: unknown): JsonEnvelope {
    return {ok: true, result}
  }

  public override toErrorJson(error: unknown): JsonEnvelope {
    const err = asLicadmError(error)
    return {
      ok: false,
      error: {
        code: err.code,
        message: err.message,
        exitCode: err.exit,
        ...(err.hint ? {hint: err.hint} : {}),
        ...(err.details ? {details: err.details} : {}),
      },
    }
  }

  /**
   * Renders every failure itself, so the exit status is the documented one with and without --json
   * (oclif's own handler would turn most of them into 1 under --json).
   */
  public override async catch(error: Interfaces.CommandError): Promise<void> {
    if (isOclifExit(error)) throw error
    const err = asLicadmError(error)
    process.exitCode = err.exit
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(err))
      return
    }
    const c = colors(process.stderr)
    process.stderr.write(`${c.red.bold('Error:')} ${err.message}\n`)
    if (err.hint) process.stderr.write(`${c.dim('Hint:')} ${err.hint}\n`)
    if (err.exit === ExitCode.internal && process.env.DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`)
  }

  public override async finally(error: Error | undefined): Promise<void> {
    if (this.openBackend) {
      const backend = await this.openBackend.catch(() => undefined)
      await backend?.close()
    }
    return super.finally(error)
  }
}

function isOclifExit(error: unknown): boolean {
  return error instanceof Error && (error as {code?: string}).code === 'EEXIT'
}

/** Any thrown value as a LicadmError: parse errors are usage errors; Ctrl-C at a prompt cancels. */
export function asLicadmError(error: unknown): LicadmError {
  if (error instanceof LicadmError) return error
  if (error instanceof Error) {
    if (error.name === 'ExitPromptError' || error.name === 'AbortPromptError') return new CancelledError('cancelled at the prompt: nothing was changed')
    const oclifExit = (error as {oclif?: {exit?: number}}).oclif?.exit
    if (oclifExit === 2) {
      const message = error.message.replace(/\nSee more help with --help$/, '')
      // oclif's "Parsing --seats \n\tExpected an integer …": one line that starts with the flag, as licadm's own refusals do.
      const parsing = /^Parsing (--[\w-]+)\s*\n\s*(\S[\s\S]*)$/.exec(message)
      if (parsing) {
        const [, flag, why] = parsing
        return new UsageError(`${flag}: ${why.charAt(0).toLowerCase()}${why.slice(1).replaceAll(/\s*\n\s*/g, ' ')}`, {hint: `Run with --help to see what ${flag} takes.`, details: {flag}})
      }
      return new UsageError(message, {hint: usageHint(message)})
    }
    // A path the system refused (a name too long, a missing directory): the user's to fix.
    if (isFileSystemError(error)) return fileError(error, /^(open|read|stat|lstat|access|scandir)/.test(error.syscall) ? 'read' : 'write')
    return new LicadmError('INTERNAL', ExitCode.internal, error.message || String(error), {cause: error})
  }
  return new LicadmError('INTERNAL', ExitCode.internal, String(error))
}

/**
 * An id can begin with "-" (a key id is a base64url thumbprint), and the parser then takes it for a
 * flag: say how to pass it as a value instead of only pointing at --help.
 */
function usageHint(message: string): string {
  const value = /^Nonexistent flags?: (-[^-\s,]{2,})/.exec(message)?.[1]
  if (value) return `If ${value} is a value (an id can begin with "-"), put it last, after "--" and the flags: … -- ${value}`
  return 'Run the command with --help to see its flags and examples.'
}
