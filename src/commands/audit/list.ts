import {Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'

export default class AuditList extends AdminCommand<typeof AuditList> {
  static override summary = 'List audit events: who changed what, when, with before and after.'

  static override description = 'Every change (licenses, products, keys, users, groups, containers, devices, credential resets, SAW files) appends an event in the same transaction as the change. --action accepts * as a wildcard (e.g. "container.*").'

  static override examples = [
    '<%= config.bin %> <%= command.id %> --action "container.*"',
    '<%= config.bin %> <%= command.id %> --subject E-7KQ2-M9XZ-4TBD --json',
    '<%= config.bin %> <%= command.id %> --since 7d',
  ]

  static override flags = {
    action: Flags.string({summary: 'Only this action (e.g. license.revoke, container.*).'}),
    subject: Flags.string({summary: 'Only this subject (an id, a serial, or kind:id).'}),
    actor: Flags.string({summary: 'Only this actor.'}),
    since: Flags.string({summary: 'Only events since this date or within this duration (e.g. 7d).'}),
    limit: Flags.string({summary: 'Page size (1 to 10000).', default: '100'}),
    after: Flags.string({summary: 'Continue after this sequence number.'}),
  }

  async run() {
    const backend = await this.backend()
    const page = await backend.audit.list({action: this.flags.action, subject: this.flags.subject, actor: this.flags.actor, since: this.flags.since, limit: this.flags.limit, after: this.flags.after})
    const {table, date} = await import('../../cli/render.js')
    this.log(await table(page.events, [
      {header: 'SEQ', get: (e) => e.seq},
      {header: 'TIME', get: (e) => date(e.at)},
      {header: 'ACTOR', get: (e) => e.actor},
      {header: 'ACTION', get: (e) => e.action},
      {header: 'SUBJECT', get: (e) => e.subject},
      {header: 'CHANGE', get: (e) => summarize(e.before, e.after)},
    ], 'no events'))
    if (page.nextAfter !== null) {
      // The next page of the same list: the same filters and page size, after the last event shown.
      const given = (['action', 'subject', 'actor', 'since', 'limit'] as const)
        .filter((f) => this.flags[f] !== undefined && !(f === 'limit' && this.flags.limit === '100'))
        // --since=-1d: a value that starts with "-" would be read as a flag.
        .map((f) => (this.flags[f]!.startsWith('-') ? `--${f}=${shellWord(this.flags[f]!)}` : `--${f} ${shellWord(this.flags[f]!)}`))
      this.log(`More: ${[this.config.bin, 'audit', 'list', ...given, '--after', String(page.nextAfter)].join(' ')}`)
    }
    return {events: page.events.map((e) => ({...e, at: new Date(e.at * 1000).toISOString()})), nextAfter: page.nextAfter}
  }
}

function summarize(before: unknown, after: unknown): string {
  const text = [before === undefined ? '' : JSON.stringify(before), after === undefined ? '' : JSON.stringify(after)].filter(Boolean).join(' → ')
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

/** A value as one shell word: as it is when it is plain, else in single quotes ("container.*" would glob). */
function shellWord(value: string): string {
  return /^[\w.,:@%+=/-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`
}
