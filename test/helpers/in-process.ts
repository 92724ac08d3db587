/**
 * Command tests in-process: oclif's run() over the compiled commands in dist/ (build first),
 * with the config and data directories of a sandbox. Much faster than spawning node for each run.
 */
import {run} from '@oclif/core'
import {captureOutput} from '@oclif/test'

import {ROOT, type RunResult, type Sandbox} from './cli.js'
import {remoteEnv} from './remote.js'

const VARS = ['LICADM_CONFIG_DIR', 'LICADM_DATA_DIR', 'LICADM_PROFILE', 'LICADM_KEY_PASSPHRASE', 'LICADM_NOW', 'LICADM_SERVER', 'LICADM_TOKEN', 'CI', 'NO_COLOR', 'FORCE_COLOR']

/**
 * Runs `licadm …args` in this process with the sandbox's directories and `env`; returns the same
 * shape as the spawning helper (exit status from process.exitCode, which is reset afterwards).
 */
export async function runIn(sb: Sandbox, args: string[], env: Record<string, string | undefined> = {}): Promise<RunResult> {
  const saved = Object.fromEntries(VARS.map((k) => [k, process.env[k]]))
  for (const k of VARS) delete process.env[k]
  const vars = {...sb.env, NO_COLOR: '1', ...env}
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) process.env[k] = v
  for (const [k, v] of Object.entries(await remoteEnv(args, vars))) process.env[k] = v
  process.exitCode = undefined
  try {
    // Not runCommand: it joins and re-splits the arguments at spaces.
    const {stdout, stderr, error} = await captureOutput(async () => run(args, {root: ROOT}), {stripAnsi: false})
    let code = Number(process.exitCode ?? 0)
    if (error) {
      const oclifExit = (error as {oclif?: {exit?: number}}).oclif?.exit
      code = typeof oclifExit === 'number' ? oclifExit : 1
    }
    let json: unknown
    try {
      json = JSON.parse(stdout)
    } catch {
      json = undefined
    }
    return {code, signal: null, stdout, stderr: error ? `${stderr}${error.message}` : stderr, json, args}
  } finally {
    process.exitCode = undefined
    for (const k of VARS) {
      if (saved[k] === undefined) delete process.env[k]
      else process.env[k] = saved[k]
    }
  }
}
