import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {LicadmError} from '../domain/errors.js'

export default class Demo extends BaseCommand<typeof Demo> {
  static override summary = 'Walk through the main job in a throwaway profile: init, product, licenses, export, verify, floating seats.'

  static override description = `Creates a vendor in a temporary directory (your own profiles are not touched), a product, a few licenses (one re-run with the same idempotency key to show that nothing is issued twice), exports a license file, verifies it offline with the exported public key, and shows how a changed byte is refused. Then it starts the embedded license server on that store (in this process, on a free loopback port) and checks out the floating license's seats until one is refused, releases one and checks it out again. Prints each step; --keep leaves the files for you to look at.`

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --keep', '<%= config.bin %> <%= command.id %> --json']

  static override flags = {
    keep: Flags.boolean({summary: 'Keep the temporary directory and print its path.'}),
  }

  async run() {
    const {mkdtempSync, rmSync, writeFileSync} = await import('node:fs')
    const {tmpdir} = await import('node:os')
    const {join} = await import('node:path')
    const {localBackend} = await import('../services/backend.js')
    const {verifyOffline} = await import('../formats/license.js')
    const {parsePublicKeys} = await import('../crypto/keys.js')
    const {epochSeconds} = await import('../domain/clock.js')
    const {armor, dearmor} = await import('../crypto/armor.js')

    const dir = mkdtempSync(join(tmpdir(), 'licadm-demo-'))
    const clock = this.clock()
    const c = this.color()
    const steps: Array<{step: string; result: unknown}> = []
    const step = (title: string, result: unknown, lines: string[] = []) => {
      steps.push({step: title, result})
      this.log(`${c.green('✓')} ${title}`)
      for (const line of lines) this.log(`    ${line}`)
    }
    const {keyDirIn, storeFileIn} = await import('../store/layout.js')
    // The layout of a server's --data directory, so the license server below can run on it.
    const backend = await localBackend({keyDir: keyDirIn(dir), storePath: storeFileIn(dir)}, clock, async () => undefined)
    try {
      const vendor = await backend.vendor.init({code: 1001, name: 'Demo Vendor'})
      step('init: vendor 1001 "Demo Vendor" with an Ed25519 signing key', {vendorCode: vendor.code, kid: vendor.kid}, [`key id ${vendor.kid}`, `key file ${vendor.keyPath} (0600)`])

      const product = await backend.products.create({code: 7, name: 'Demo CAD'})
      step('product create: 7 "Demo CAD"', {productCode: product.code})

      const single = await backend.licenses.create({product: 7, expires: '365d', customer: 'Globex', metadata: ['order=SO-1001']}, {idempotencyKey: 'SO-1001'})
      const again = await backend.licenses.create({product: 7, expires: '365d', customer: 'Globex', metadata: ['order=SO-1001']}, {idempotencyKey: 'SO-1001'})
      step('license create: a single license for Globex, valid 365 days', {licenseId: single.licenses[0].id, ticket: single.licenses[0].ticket}, [
        `license ${single.licenses[0].id}, ticket ${single.licenses[0].ticket}`,
        `re-run with the same idempotency key: ${again.replayed && again.licenses[0].id === single.licenses[0].id ? 'returned the same license, nothing issued twice' : 'ISSUED AGAIN (bug)'}`,
      ])

      const floating = await backend.licenses.create({product: 7, kind: 'concurrent', quantity: 2, features: '0x3', customer: 'Initech'})
      step('license create: a concurrent license with 2 floating seats for Initech', {licenseId: floating.licenses[0].id})

      const {file} = await backend.licenses.export(single.licenses[0].id)
      const licensePath = join(dir, 'globex.lic')
      writeFileSync(licensePath, file)
      const [exported] = await backend.vendor.exportKey()
      const keyPath = join(dir, 'vendor-public.pem')
      writeFileSync(keyPath, exported.pem)
      step('license export: the signed license file and the public key', {licenseFile: licensePath, publicKey: keyPath}, [licensePath, keyPath])

      const keys = new Map(parsePublicKeys(exported.pem).map((k) => [k.kid, k.key]))
      const now = epochSeconds(clock)
      const verdict = verifyOffline(file, keys, now)
      step('license verify: checked offline with the public key alone', {valid: verdict.valid}, [`VALID: product ${verdict.license.product}, customer ${verdict.license.customer}, expires ${new Date(verdict.license.exp! * 1000).toISOString().slice(0, 10)}`])

      // What a customer might try: raise the quantity in the payload and keep the signature.
      const [header, payload, signature] = dearmor(file).jws.split('.')
      const raised = Buffer.from(JSON.stringify({...JSON.parse(Buffer.from(payload, 'base64url').toString()), quantity: 100})).toString('base64url')
      const tampered = armor('LICENSE', `${header}.${raised}.${signature}`)
      let refusal = 'accepted (bug)'
      try {
        verifyOffline(tampered, keys, now)
      } catch (error) {
        if (!(error instanceof LicadmError)) throw error
        refusal = `${error.code}: ${error.message} (exit ${error.exit})`
      }
      step('license verify: the same file with its quantity raised to 100 is refused', {refusal}, [refusal])

      await this.floatingSeats(dir, clock, keys, floating.licenses[0].id, step)

      this.log(this.flags.keep ? `Files kept in ${dir}` : 'Done; the temporary profile was removed. Start for real with: licadm init')
      return {directory: this.flags.keep ? dir : null, steps}
    } finally {
      await backend.close()
      if (!this.flags.keep) rmSync(dir, {recursive: true, force: true})
    }
  }

  /** The license server on the demo's store: seats checked out until one is refused, one released and taken again. */
  private async floatingSeats(
    dir: string,
    clock: import('../domain/clock.js').Clock,
    keys: Map<string, import('node:crypto').KeyObject>,
    license: string,
    step: (title: string, result: unknown, lines?: string[]) => void,
  ): Promise<void> {
    const {randomBytes} = await import('node:crypto')
    const {startServer} = await import('../server/runtime.js')
    const {SeatClient} = await import('../client/seat-client.js')
    const token = randomBytes(24).toString('base64url')
    const server = await startServer({
      port: 0,
      data: {kind: 'dir', dir, passphrase: async () => undefined},
      clock,
      tokens: [{token, role: 'client', name: 'demo'}],
      version: this.config.version,
    })
    const clients = ['ann@ws1', 'bob@ws2', 'carol@ws3'].map((holder) => {
      const [user, host] = holder.split('@')
      return new SeatClient({server: server.url, token, publicKeys: keys, user, host, releaseOnExit: false})
    })
    try {
      step('server start: the embedded license server on this store', {url: server.url}, [`${server.url} (in this process; responses and lease tokens signed by the vendor key)`])
      const held = [await clients[0].checkout({license}), await clients[1].checkout({license})]
      step(
        'seat checkout: ann and bob take both seats; each lease token verified with the public key',
        {leases: held.map((s) => s.id)},
        held.map((s) => `lease ${s.id} for ${s.lease.user}@${s.lease.host}, heartbeat every ${Math.round(s.ttl / 3)} s`),
      )
      let full = 'granted (bug)'
      try {
        await clients[2].checkout({license})
      } catch (error) {
        if (!(error instanceof LicadmError)) throw error
        full = `${error.code}: ${error.message} (exit ${error.exit})`
      }
      step('seat checkout: carol is refused, and told who holds the seats', {refusal: full}, [full])
      const released = await held[0].release()
      const again = await clients[2].checkout({license})
      step('seat release: ann\'s seat is free at once, and carol gets it', {released, lease: again.id}, [`${released ? 'released' : 'NOT RELEASED (bug)'} ${held[0].id}; lease ${again.id} for carol@ws3`])
    } finally {
      await Promise.all(clients.map((c) => c.close()))
      await server.close()
    }
  }
}
