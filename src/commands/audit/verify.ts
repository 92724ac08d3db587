import {AdminCommand} from '../../cli/admin-command.js'
import {ExitCode, LicadmError} from '../../domain/errors.js'

export default class AuditVerify extends AdminCommand<typeof AuditVerify> {
  static override summary = 'Check the audit hash chain: detects edited and deleted events.'

  static override description = "Recomputes each event's hash from its content and the previous hash, and compares the end of the chain with the head record. Exits 5 when the chain is broken, naming the events. It reads one snapshot: events appended meanwhile are left to the next run. It checks the audit trail only, and the chain has no key: someone who can write the store can rewrite it whole, so keep the head hash it prints elsewhere (logs, backups) and compare."

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']

  async run() {
    const backend = await this.backend()
    const verdict = await backend.audit.verify()
    if (!verdict.ok) {
      throw new LicadmError('AUDIT_CHAIN_BROKEN', ExitCode.signatureInvalid, `the audit chain is broken: ${verdict.problems.length} problem(s) in ${verdict.events} event(s)\n${verdict.problems.map((p) => `  event ${p.seq}: ${p.problem}`).join('\n')}`, {
        details: {...verdict},
      })
    }
    this.log(`${this.color().green('OK')}: ${verdict.events} event(s), chain intact (head ${verdict.head ?? 'none'})`)
    return verdict
  }
}
