import type {Hook} from '@oclif/core'

/**
 * A mistyped command gets the same treatment as any other refusal: exit 2, a hint, and under --json
 * the error envelope instead of plain text.
 */
const hook: Hook.CommandNotFound = async function (opts) {
  const typed = opts.id.replaceAll(':', ' ')
  const known = opts.config.commandIDs.map((id) => id.replaceAll(':', ' '))
  const topic = typed.split(' ')[0]
  const near = known.filter((id) => id.startsWith(`${topic} `)).slice(0, 12)
  const hint = near.length > 0 ? `Commands of "${topic}": ${near.join(', ')}.` : `Run "${opts.config.bin} --help" to see the commands.`
  const message = `"${typed}" is not a ${opts.config.bin} command`
  if (opts.argv?.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ok: false, error: {code: 'COMMAND_NOT_FOUND', message, exitCode: 2, hint}}, null, 2)}\n`)
  } else {
    process.stderr.write(`Error: ${message}\nHint: ${hint}\n`)
  }
  process.exit(2)
}

export default hook
