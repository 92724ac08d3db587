import {Flags} from '@oclif/core'

/** Flags that several commands share, defined once so their help reads the same everywhere. */
export const yesFlag = Flags.boolean({
  char: 'y',
  summary: 'Confirm without asking (required without a terminal).',
})

export const forceFlag = Flags.boolean({summary: 'Overwrite an existing file.'})

export const outFlag = Flags.string({char: 'o', summary: 'Write to this file instead of standard output.'})
