import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {UsageError} from '../../domain/errors.js'
import {DEFAULT_LOG_LEVEL, LOG_LEVELS, type LogLevel} from '../../server/logging.js'

export default class ServerStart extends BaseCommand<typeof ServerStart> {
  static override summary = 'Run the license server in the foreground: floating seats, leases, borrowing, access rules.'

  static override description = `Serves the seat API (check out, heartbeat, release, borrow) for the concurrent licenses of the store, and stops cleanly on SIGINT or SIGTERM (in-flight requests finish, a client still sending its request after 10 s is cut off, the store is closed). One server per store: a second start on a store a running server holds is refused (STORE_IN_USE, exit 4, naming its process; DATA/licadm.db.server.lock, taken over when that process is gone).

Prints one ready line with the URL once it accepts connections (with --json: one JSON object with the URL, the vendor key id and public key, and the seeded licenses); nothing else goes to standard output.

Data: the profile's store and vendor key by default; --data DIR for a store and key of the server's own (DIR/licadm.db, DIR/keys; a key is made on first start, the vendor of a new store is the one named by --vendor-code and --vendor-name, or by the --seed file's "vendor", else a placeholder, vendor 1 "licadm test vendor", which the log warns of; naming a vendor other than an existing store's is refused, VENDOR_MISMATCH, exit 4); --memory for a throwaway run with an ephemeral vendor key that lives in memory only (no profile needed: write its public key with --public-key-out to verify responses and lease tokens).

The seat API needs a client token: --client-token (or LICADM_CLIENT_TOKEN), "tokens" in the --seed file, or a stored token; or an enterprise container's credential, which reaches that container's licenses only (a server whose store has an enterprise container starts without any token). --admin-token (or LICADM_ADMIN_TOKEN) allows force-release, access rules and seat policies.

Remote administration: tokens made with "licadm token create" (roles vendor, group-admin with its --group, client) are read from the store on every request, so a new or revoked token counts at once without a restart. With a vendor token, every administration command works against this server (--server URL --token, or LICADM_SERVER and LICADM_TOKEN) with the same output and exit codes as locally; a group-admin token manages only its group's members and enterprise containers. Failed authentications are limited per client address (10 a minute of real time, also under --test-mode, then 429).

--seed FILE loads products, licenses (with their seat policy), users, groups, containers (a fixed serial and secret for fixtures), tokens, access rules and seat reservations from a JSON object or NDJSON lines with a "type" (the README's "Seed files" lists every field); re-seeding the same store is harmless.

Logs: JSON lines (pino) on standard error. At --log-level info (the default) one line per answered request (method, URL, route, status, time taken, who asked: the token's name or the container, the refusal's code) and the server's start, stop and errors; warn or error keep only problems, debug adds a line per incoming request, silent writes none. Tokens, headers, secrets and request bodies are never logged.

GET /metrics (with a vendor token) serves Prometheus metrics: requests by route and status, latency, seats in use, free and reserved per license, checkouts waiting, lease expiries, refusals and auth failures by reason.

--test-mode starts a manual clock (at --clock, or now) that only "licadm server clock --advance" (POST /v1/test/clock/advance, with a vendor token) moves, so lease expiry and borrows running out can be tested without waiting.

HTTPS: --tls serves https with a self-signed certificate made at first start and kept in the data directory (DATA/tls/server.key, 0600, and server.crt; in memory only with --memory). It names localhost, 127.0.0.1 and ::1, and every --tls-san host name or address; a kept self-signed certificate is remade with the same key when a --tls-san is new or it has expired (its fingerprint then changes). "licadm server cert" shows it, makes a CSR for a company CA and installs the signed certificate, which later starts use as it is. --cert FILE --key FILE serve given PEM material instead (implies --tls). The ready line then shows an https URL, and the --json ready object a "tls" object with the certificate's SHA-256 fingerprint, subject, SANs, expiry and PEM (for clients' --ca). Clients trust a self-signed server with --ca FILE or a pinned fingerprint ("licadm profile set server-fingerprint").`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --data /var/lib/licadm --host 0.0.0.0 --tls --tls-san licenses.example.com --tls-san 10.0.0.5',
    '<%= config.bin %> <%= command.id %> --cert /etc/licadm/server.crt --key /etc/licadm/server.key',
    'LICADM_CLIENT_TOKEN=$(cat client.token) <%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --memory --seed fixtures.json --port 0 --json',
    '<%= config.bin %> <%= command.id %> --data /var/lib/licadm --vendor-code 1001 --vendor-name "Acme Software" --host 0.0.0.0 --lease-ttl 2m',
    '<%= config.bin %> <%= command.id %> --memory --seed ci.ndjson --test-mode --clock 2027-01-01T00:00:00Z --public-key-out vendor.pem',
  ]

  static override flags = {
    host: Flags.string({summary: 'Address to listen on (0.0.0.0 or :: for every interface: the ready URL then names the loopback address).', default: '127.0.0.1'}),
    port: Flags.integer({summary: 'Port to listen on (0 picks a free one).', default: 22350, min: 0, max: 65_535}),
    data: Flags.string({summary: "The server's own data directory (store and vendor key; a new key is encrypted with LICADM_KEY_PASSPHRASE when set).", exclusive: ['memory']}),
    memory: Flags.boolean({summary: 'Keep everything in memory (a throwaway run; an ephemeral vendor key without a profile).'}),
    'vendor-code': Flags.string({summary: 'Vendor code of a new --data store or a --memory run (checked against an existing store).', dependsOn: ['vendor-name']}),
    'vendor-name': Flags.string({summary: 'Vendor name, with --vendor-code.', dependsOn: ['vendor-code']}),
    seed: Flags.string({summary: 'Load products, licenses, users, containers, tokens and rules from this JSON/NDJSON file.'}),
    'public-key-out': Flags.string({summary: "Write the vendor's public key (PEM) to this file once ready."}),
    'client-token': Flags.string({summary: 'Client token for the seat API (better: LICADM_CLIENT_TOKEN).', env: 'LICADM_CLIENT_TOKEN'}),
    'admin-token': Flags.string({summary: 'Vendor (admin) token (better: LICADM_ADMIN_TOKEN).', env: 'LICADM_ADMIN_TOKEN'}),
    'lease-ttl': Flags.string({summary: 'Lease time to live without a heartbeat (e.g. 300s, 5m).', default: '5m'}),
    'borrow-max-duration': Flags.string({summary: 'Longest borrow (e.g. 7d).', default: '30d'}),
    'borrow-max-seats': Flags.integer({summary: 'Most seats of one license borrowed at once (default: all).', min: 0}),
    'hide-holders': Flags.boolean({summary: 'Do not tell clients who holds the seats: not in a "no seat free" refusal (nor whom reservations keep seats for), and in the seat list only the holders of the station a client names.'}),
    'body-limit': Flags.integer({summary: 'Largest request body, in bytes.', default: 65_536, min: 1024, max: 16 * 1024 * 1024}),
    clock: Flags.string({summary: 'Start the server clock at this ISO time (for tests).'}),
    'test-mode': Flags.boolean({summary: 'Manual clock, moved only by "licadm server clock --advance".'}),
    tls: Flags.boolean({summary: 'Serve HTTPS with a self-signed certificate made at first start and kept in the data directory.', helpGroup: 'TLS'}),
    'tls-san': Flags.string({
      summary: 'Another host name or IP address for the certificate (repeatable; localhost, 127.0.0.1 and ::1 are always in).',
      multiple: true,
      dependsOn: ['tls'],
      exclusive: ['cert'],
      helpGroup: 'TLS',
    }),
    cert: Flags.string({summary: 'Serve HTTPS with this PEM certificate (chain), for --key.', dependsOn: ['key'], helpGroup: 'TLS'}),
    key: Flags.string({summary: 'The PEM private key of --cert (unencrypted; keep it 0600).', dependsOn: ['cert'], helpGroup: 'TLS'}),
    'log-level': Flags.string({summary: 'JSON logs on standard error from this level up (info: one line per request).', options: [...LOG_LEVELS], default: DEFAULT_LOG_LEVEL}),
  }

  async run() {
    const f = this.flags
    const {parseDurationFlag} = await import('../../domain/values.js')
    const {SEAT_RANGES} = await import('../../domain/seat-policy.js')
    const leaseTtl = parseDurationFlag(f['lease-ttl'], '--lease-ttl', SEAT_RANGES.leaseTtl)
    const borrowMaxSeconds = parseDurationFlag(f['borrow-max-duration'], '--borrow-max-duration', SEAT_RANGES.borrowSeconds)
    const {ManualClock, offsetClock} = await import('../../domain/clock.js')
    let start: number | undefined
    if (f.clock !== undefined) {
      start = Date.parse(f.clock)
      if (Number.isNaN(start) || !/^\d{4}-\d{2}-\d{2}/.test(f.clock)) throw new UsageError(`--clock: "${f.clock}" is not an ISO date-time (e.g. 2027-01-01T00:00:00Z)`, {details: {flag: '--clock'}})
    }
    const clock = f['test-mode'] ? new ManualClock(start ?? this.clock().now()) : start === undefined ? this.clock() : offsetClock(start)

    let data: import('../../server/runtime.js').ServerData
    let dataDir: string | undefined // where tls/ is kept
    if (f.memory) data = {kind: 'memory'}
    else if (f.data) data = {kind: 'dir', dir: (dataDir = f.data), passphrase: () => this.passphrase(), newKeyPassphrase: process.env.LICADM_KEY_PASSPHRASE || undefined}
    else {
      const profiles = await this.profiles()
      const name = profiles.resolve(this.flags.profile)
      profiles.require(name)
      const paths = profiles.paths(name)
      data = {kind: 'profile', storePath: paths.storePath, keyDir: paths.keyDir, passphrase: () => this.passphrase()}
      dataDir = (await import('node:path')).dirname(paths.storePath)
    }
    let seed: string | undefined
    if (f.seed) {
      const {readInput} = await import('../../cli/files.js')
      seed = readInput(f.seed, '--seed')
    }
    const tokens: Array<{token: string; role: 'client' | 'vendor'; name: string; where: string}> = []
    if (f['client-token']) tokens.push({token: f['client-token'], role: 'client', name: 'client-token', where: 'the client token (--client-token or LICADM_CLIENT_TOKEN)'})
    if (f['admin-token']) tokens.push({token: f['admin-token'], role: 'vendor', name: 'admin-token', where: 'the admin token (--admin-token or LICADM_ADMIN_TOKEN)'})

    const tls = f.tls || f.cert ? await this.tlsMaterial(dataDir) : undefined

    const {startServer} = await import('../../server/runtime.js')
    const server = await startServer({
      host: f.host,
      port: f.port,
      data,
      clock,
      testMode: f['test-mode'],
      vendor: f['vendor-code'] === undefined ? undefined : {code: f['vendor-code'], name: f['vendor-name']},
      seed,
      seedSource: f.seed,
      tls: tls?.material,
      tokens,
      settings: {leaseTtl, borrowMaxSeconds, borrowMaxSeats: f['borrow-max-seats'] ?? null, hideHolders: f['hide-holders']},
      bodyLimit: f['body-limit'],
      version: this.config.version,
      actor: 'server',
      logLevel: f['log-level'] as LogLevel,
    })

    let stopping = false
    const stopped = new Promise<NodeJS.Signals>((resolve) => {
      const onSignal = (signal: NodeJS.Signals) => {
        if (stopping) {
          server.app.log.warn({signal}, 'stopping at once')
          process.exit(130)
        }
        stopping = true
        resolve(signal)
      }
      // The server owns these signals: a dependency's listener (conf's atomic writes, via when-exit)
      // re-raises the signal to end the process, which this handler would take for a second
      // Ctrl-C and stop at once, cutting the graceful stop short. Exit callbacks still run.
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        process.removeAllListeners(signal)
        process.on(signal, onSignal)
      }
    })
    try {
      for (const note of tls?.notes ?? []) server.app.log[note.level](note.text)
      if (f['public-key-out']) {
        const {writeOutput} = await import('../../cli/files.js')
        writeOutput(f['public-key-out'], server.publicKeyPem, {force: true})
      }
      const ready = {
        url: server.url,
        host: server.host,
        port: server.port,
        pid: process.pid,
        version: this.config.version,
        vendor: server.vendor,
        kid: server.kid,
        publicKey: server.publicKeyPem,
        testMode: Boolean(f['test-mode']),
        leaseTtl,
        licenses: server.licenses,
        // The certificate (public) too, so a --memory server's clients can trust it with --ca.
        tls: tls ? {fingerprint: tls.info.fingerprint, subject: tls.info.subject, sans: tls.info.sans, notAfter: tls.info.notAfter, certificate: tls.material.cert} : null,
      }
      // This command streams: the ready object is printed now, and run() returns nothing, so oclif
      // prints no second envelope at exit.
      if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify({ok: true, result: ready})}\n`)
      else process.stdout.write(`licadm server listening on ${server.url}\n`)
      server.app.log.info(
        {vendor: server.vendor, kid: server.kid, signingLibrary: server.signingLibrary, testMode: Boolean(f['test-mode'])},
        `vendor ${server.vendor.code} (${server.vendor.name}), signing key ${server.kid} (${server.signingLibrary})${f['test-mode'] ? ', test mode' : ''}; stop with Ctrl-C`,
      )
      const signal = await stopped
      server.app.log.info({signal}, 'stopping: finishing in-flight requests')
    } finally {
      await server.close()
    }
    server.app.log.info('licadm server stopped')
  }

  /** --cert/--key as given (checked), else the data directory's certificate (made at first start), else one in memory. */
  private async tlsMaterial(dataDir: string | undefined): Promise<{
    material: {key: string; cert: string}
    info: import('../../crypto/certs.js').CertInfo
    /** What to log once the server runs. */
    notes: Array<{level: 'info' | 'warn'; text: string}>
  }> {
    const f = this.flags
    const certs = await import('../../crypto/certs.js')
    const now = this.clock().now()
    if (f.cert && f.key) {
      const {readInput} = await import('../../cli/files.js')
      return {...certs.checkMaterial({key: readInput(f.key, '--key'), cert: readInput(f.cert, '--cert')}, now, {key: `--key ${f.key}`, cert: `--cert ${f.cert}`}), notes: []}
    }
    const sans = certs.serverSans(f['tls-san'] ?? [])
    if (dataDir === undefined) return {...certs.memoryTls({sans, now}), notes: []}
    const kept = certs.ensureServerTls(dataDir, {sans, now})
    const {cert} = certs.tlsPaths(dataDir)
    const why = {created: 'made a self-signed certificate', expired: 'the self-signed certificate had expired: made a new one', 'sans-added': 'new --tls-san names: made a new self-signed certificate'}
    const notes: Array<{level: 'info' | 'warn'; text: string}> = []
    if (kept.made) notes.push({level: 'info', text: `${why[kept.made]} (${cert}), fingerprint ${kept.info.fingerprint}`})
    if (kept.missingSans.length > 0) notes.push({level: 'warn', text: `the certificate in ${cert} does not name ${kept.missingSans.join(', ')}: clients that use those names refuse it`})
    return {...kept, notes}
  }
}
