import {Flags} from '@oclif/core'

import {AdminCommand} from '../../cli/admin-command.js'
import {epochSeconds} from '../../domain/clock.js'
import {LICENSE_KINDS} from '../../domain/license.js'

export default class LicenseCreate extends AdminCommand<typeof LicenseCreate> {
  static override summary = 'Issue licenses from flags, or in bulk from a CSV or NDJSON file.'

  static override description = `Each license gets an id, an activation ticket (XXXXX-XXXXX-XXXXX-XXXXX-XXXXX) and a signed license file (see "license export").

Idempotency: with --idempotency-key, running the same command again returns the licenses issued the first time instead of issuing new ones; the same key with different input is refused (exit 4; in a --from file, such a row is a bad row, exit 2, reported before anything is issued). In CI, derive the key from something stable such as an order number.

Bulk: --from FILE (or - for standard input) reads CSV with a header row, or NDJSON (one JSON object a line). Columns: product, kind, quantity, features, units, not_before, expires, customer, metadata ("k=v;k=v" or a JSON object) or meta.NAME columns, count, and idempotency_key (or external_ref). Every row is checked first and all bad rows are reported with their line numbers before anything is issued. Rows are then issued in transactions of 1,000; each row has its own idempotency key (its idempotency_key column, else the run's --idempotency-key or the file's content hash, plus its line number), so a run that was interrupted is completed by running it again, without duplicates.

Dates: YYYY-MM-DD (start of the day, UTC), an ISO date-time with zone, or a duration (90d, 12h, 2w, 1y). A duration for --expires counts from --not-before.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --product 7 --expires 365d --customer "Globex"',
    '<%= config.bin %> <%= command.id %> --product 7 --kind concurrent --quantity 25 --features 0x5 --meta order=SO-1001 --meta region=eu',
    '<%= config.bin %> <%= command.id %> --product 7 --count 100 --idempotency-key order-SO-1001 --json',
    '<%= config.bin %> <%= command.id %> --from licenses.csv --json',
    'cat licenses.ndjson | <%= config.bin %> <%= command.id %> --from - --format ndjson',
  ]

  static override flags = {
    product: Flags.string({char: 'p', summary: 'Product code.', exclusive: ['from']}),
    kind: Flags.string({char: 'k', summary: 'single (one device or user) or concurrent (floating seats).', options: [...LICENSE_KINDS], default: 'single', exclusive: ['from']}),
    quantity: Flags.string({char: 'q', summary: 'Devices (single) or seats (concurrent): 1 to 1000000.', default: '1', exclusive: ['from']}),
    features: Flags.string({summary: 'Feature map, a 32-bit mask: decimal or 0x hex.', default: '0', exclusive: ['from']}),
    units: Flags.string({summary: 'Unit counter for pay-per-use (1 to 2147483647); unlimited if not given.', exclusive: ['from']}),
    'not-before': Flags.string({summary: 'Start of validity (date, date-time or duration from now); default: now.', exclusive: ['from']}),
    expires: Flags.string({char: 'e', summary: 'Expiry (date, date-time, or duration from the start, e.g. 365d); default: never.', exclusive: ['from']}),
    customer: Flags.string({summary: 'Customer name or reference.', exclusive: ['from']}),
    meta: Flags.string({char: 'm', summary: 'Metadata entry key=value (repeatable).', multiple: true, exclusive: ['from']}),
    count: Flags.string({char: 'n', summary: 'How many identical licenses to issue (1 to 10000).', default: '1', exclusive: ['from']}),
    'idempotency-key': Flags.string({summary: 'Makes a re-run return the licenses issued the first time instead of issuing again.', aliases: ['external-ref']}),
    from: Flags.string({char: 'f', summary: 'Issue in bulk from a CSV or NDJSON file (- for standard input).'}),
    format: Flags.string({summary: 'Format of --from when its name does not tell (.csv, .ndjson, .jsonl).', options: ['csv', 'ndjson'], dependsOn: ['from']}),
  }

  async run() {
    return this.flags.from === undefined ? this.single() : this.bulk(this.flags.from)
  }

  private async single() {
    const backend = await this.backend()
    const product = this.flags.product ?? (await this.askProduct())
    const result = await backend.licenses.create(
      {
        product,
        kind: this.flags.kind,
        quantity: this.flags.quantity,
        features: this.flags.features,
        units: this.flags.units,
        notBefore: this.flags['not-before'],
        expires: this.flags.expires,
        customer: this.flags.customer,
        metadata: this.flags.meta,
      },
      {count: this.flags.count, idempotencyKey: this.flags['idempotency-key']},
    )
    const now = epochSeconds(this.clock())
    const {licenseDetails, licenseColumns, licenseJson} = await import('../../cli/views.js')
    const c = this.color()
    if (result.replayed) {
      this.log(c.yellow(`Already issued earlier with idempotency key "${this.flags['idempotency-key']}": nothing new was issued.`))
    } else {
      this.log(`${c.green('✓')} Issued ${result.licenses.length} license(s)`)
    }
    if (result.licenses.length === 1) {
      this.log(licenseDetails(result.licenses[0], now))
    } else {
      const {table} = await import('../../cli/render.js')
      this.log(await table(result.licenses, licenseColumns))
    }
    return {replayed: result.replayed, licenses: result.licenses.map((l) => licenseJson(l, now))}
  }

  /** In a terminal, offer the products to choose from; elsewhere name the missing flag. */
  private async askProduct(): Promise<string> {
    if (!this.canPrompt()) return this.need('product', undefined, {message: ''})
    const backend = await this.backend()
    const products = await backend.products.list()
    if (products.length === 0) return this.need('product', undefined, (await import('../../cli/prompts.js')).questions.productCode)
    return this.prompter.select(
      'Product',
      products.map((p) => ({name: `${p.code}  ${p.name}`, value: String(p.code)})),
    )
  }

  private async bulk(from: string) {
    const {readInput} = await import('../../cli/files.js')
    const {detectFormat} = await import('../../services/bulk.js')
    const format = detectFormat(from, this.flags.format)
    const text = readInput(from, '--from')
    const backend = await this.backend()
    const {progressBar} = await import('../../cli/progress.js')
    const bar = progressBar('Issuing', !this.jsonEnabled())
    let summary
    try {
      summary = await backend.bulk.run(text, format, {
        idempotencyKey: this.flags['idempotency-key'],
        onProgress: (done, total) => bar.update(done, total),
      })
    } finally {
      bar.done()
    }
    const c = this.color()
    this.log(`${c.green('✓')} ${summary.rows} row(s): ${summary.issued} license(s) issued, ${summary.alreadyIssued} row(s) already issued by an earlier run`)
    if (summary.licenses.length <= 20) {
      const {table} = await import('../../cli/render.js')
      this.log(
        await table(summary.licenses, [
          {header: 'LINE', get: (l) => l.line},
          {header: 'ID', get: (l) => l.id},
          {header: 'TICKET', get: (l) => l.ticket},
          {header: '', get: (l) => (l.replayed ? 'earlier run' : 'new')},
        ]),
      )
    } else {
      this.log(`Run with --json for the ${summary.licenses.length} ids and tickets, or "${this.config.bin} license list".`)
    }
    return summary
  }
}
