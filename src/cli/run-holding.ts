import {spawn} from 'node:child_process'
import {constants} from 'node:os'

import {ExitCode, LicadmError} from '../domain/errors.js'

/** How a command ended: its exit code or signal, and the status a shell would give it. */
export interface Ended {
  code: number | null
  signal: NodeJS.Signals | null
  /** The exit code, or 128 + the signal's number. */
  status: number
}

/** Signals passed on to the command: the ones that ask a process to end. */
const PASSED_ON = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/**
 * Runs `command` (program and arguments, no shell) with this process's environment plus `env` and
 * its standard streams, and resolves when it ends. SIGINT, SIGTERM and SIGHUP sent to this process
 * go to the command instead of ending this process, so the caller can clean up once it has ended.
 * `control` receives a function that stops the command (SIGTERM).
 */
export function runHolding(command: readonly string[], env: Record<string, string>, control?: (stop: () => void) => void): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), {stdio: 'inherit', env: {...process.env, ...env}})
    // Other listeners (a dependency's exit hook re-raises the signal to end the process) are set
    // aside while the command runs: this process must live on to release the seat.
    const aside = new Map(PASSED_ON.map((signal) => [signal, process.listeners(signal)]))
    const passOn = (signal: NodeJS.Signals) => {
      child.kill(signal)
    }
    for (const signal of PASSED_ON) {
      process.removeAllListeners(signal)
      process.on(signal, passOn)
    }
    let settled = false
    const settle = () => {
      settled = true
      for (const [signal, listeners] of aside) {
        process.off(signal, passOn)
        for (const listener of listeners) process.on(signal, listener as (s: NodeJS.Signals) => void)
      }
    }
    control?.(() => {
      if (!settled) child.kill('SIGTERM')
    })
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (settled) return
      settle()
      reject(
        new LicadmError('COMMAND_NOT_FOUND', ExitCode.notFound, `cannot run "${command[0]}": ${error.code === 'ENOENT' ? 'no such program' : error.message}`, {
          hint: 'Check the command after "--": its name or path, that it is on PATH, and that it may be executed.',
          details: {command: command[0], reason: error.code ?? error.message},
        }),
      )
    })
    child.once('exit', (code, signal) => {
      if (settled) return
      settle()
      resolve({code, signal, status: code ?? 128 + (signal ? constants.signals[signal] : 0)})
    })
  })
}
