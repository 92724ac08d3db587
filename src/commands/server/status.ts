import {BaseCommand} from '../../cli/base-command.js'
import {seatServerFlags} from '../../cli/server-flags.js'

export default class ServerStatus extends BaseCommand<typeof ServerStatus> {
  static override summary = 'Show whether a license server is reachable, its version and uptime, and the seats in use per license.'

  static override description = 'Without a token, only reachability, version and uptime are shown (GET /healthz); with a token (LICADM_TOKEN), the checkouts waiting in line and the seats in use per concurrent license too. Exit status 8 when the server cannot be reached.'

  static override examples = [
    '<%= config.bin %> <%= command.id %> --server http://127.0.0.1:22350',
    'LICADM_TOKEN=… <%= config.bin %> <%= command.id %> --server http://licenses.lan:22350 --json',
  ]

  static override flags = {...seatServerFlags}

  async run() {
    const {serverClient} = await import('../../cli/server-flags.js')
    const client = await serverClient(this.flags, {needsToken: false, credentials: this.flags.credentials, profiles: () => this.profiles()})
    const health = await client.health()
    const status = this.flags.token || this.flags.credentials ? await client.status() : undefined
    const result = {
      server: client.base,
      reachable: true,
      version: health.version,
      uptime: health.uptime,
      serverTime: health.serverTime,
      ...(client.lastTime ? {skewMs: client.lastTime.skewMs} : {}),
      ...(status ? {testMode: status.testMode, leaseTtl: status.leaseTtl, reclaimed: status.reclaimed, waiting: status.waiting, licenses: status.licenses} : {}),
    }
    if (!this.jsonEnabled()) {
      const {details, table} = await import('../../cli/render.js')
      const {formatDuration} = await import('../../domain/values.js')
      this.log(details([
        ['Server', client.base],
        ['Reachable', 'yes'],
        ['Version', health.version],
        ['Uptime', formatDuration(health.uptime)],
        ['Server time', health.serverTime],
        ...(status ? ([['Waiting', `${status.waiting} checkout(s) in line for a seat`]] as Array<[string, string]>) : []),
      ]))
      if (status) {
        this.log('')
        const {seatUsageColumns} = await import('../../cli/views.js')
        this.log(await table(status.licenses, seatUsageColumns(status.licenses, 'SEATS USED'), 'no concurrent licenses on this server'))
      }
    }
    return result
  }
}
