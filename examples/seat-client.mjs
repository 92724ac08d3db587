// Acme CAD, a vendor's application, licensed with licadm: it verifies its license file offline,
// then holds a floating seat of that license on the license server while it works.
//
//   LICADM_PUBLIC_KEY    the vendor's public key (PEM or JWKS), shipped with the app (default vendor.pem)
//   LICADM_LICENSE_FILE  the customer's license file (default acme.lic)
//   LICADM_SERVER        the license server, e.g. http://licenses.lan:22350
//   LICADM_TOKEN         a client token of that server
//   WORK_SECONDS         how long to "work" while holding the seat (default 10)
import {readFileSync} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'

import {ExitCode, LicadmError, SeatClient, VerificationError, loadPublicKeys, verifyLicense} from 'licadm'

const PRODUCT = 7 // Acme CAD's product code

const env = process.env
const log = (line) => console.log(`acme-cad: ${line}`)
const iso = (epochSeconds) => new Date(epochSeconds * 1000).toISOString()

/** Stops the app: a licadm refusal names its reason, and its exit status says which. */
function fail(error) {
  if (error instanceof VerificationError) console.error(`acme-cad: refused (${error.reason}): ${error.message}`)
  else if (error instanceof LicadmError) console.error(`acme-cad: ${error.code}: ${error.message}${error.hint ? `\n  ${error.hint}` : ''}`)
  else console.error(`acme-cad: ${error?.stack ?? error}`)
  // Not process.exit(): the seat client releases any held seat before the process ends.
  process.exitCode = error instanceof LicadmError ? error.exit : 1
}

async function main() {
  // 1. The vendor's public key is pinned: only files and server responses it signed are trusted.
  const keys = loadPublicKeys(readFileSync(env.LICADM_PUBLIC_KEY ?? 'vendor.pem', 'utf8'))

  // 2. The license file, verified offline: signature, type, validity window.
  const {license} = verifyLicense(readFileSync(env.LICADM_LICENSE_FILE ?? 'acme.lic', 'utf8'), keys)
  if (license.product !== PRODUCT) throw new VerificationError('wrong-target', `license ${license.sub} is for product ${license.product}, not for Acme CAD (${PRODUCT})`)
  const until = license.exp ? `until ${iso(license.exp)}` : 'no expiry'
  log(`license ${license.sub} verified: ${license.kind}, ${license.quantity} seat(s), features 0x${license.features.toString(16)}, ${until}`)
  if (license.kind !== 'concurrent') return log('a personal license: no license server needed')

  // 3. The license server. Every response is signed with the vendor key and carries the server's
  //    time, so a forged response or an impostor server is refused, and this machine's clock is
  //    checked against a time it cannot fake (ClockSkewError, exit 15, beyond maxSkewMs).
  if (!env.LICADM_SERVER || !env.LICADM_TOKEN) throw new LicadmError('USAGE', ExitCode.usage, 'a floating license needs LICADM_SERVER and LICADM_TOKEN')
  const work = new AbortController()
  const seats = new SeatClient({
    server: env.LICADM_SERVER,
    token: env.LICADM_TOKEN,
    publicKeys: keys,
    maxSkewMs: 5 * 60_000, // the tolerance licadm's own verification allows
    // Heartbeats run by themselves (network failures are retried until the lease expires).
    onRenewed: (seat) => log(`heartbeat: lease renewed until ${iso(seat.lease.expiresAt)}`),
    // A lost seat (removed by an admin, expired, license revoked, clock changed) stops the work.
    onLost: (error) => work.abort(error),
  })

  // 4. A seat of this license (refusals such as NO_SEAT_FREE throw, with who holds the seats).
  //    From here on, SIGINT, SIGTERM and the end of the process release it.
  const seat = await seats.checkout({license: license.sub})
  log(`server ${seats.client.base}: signed by the vendor key, clock skew ${(seats.skewMs / 1000).toFixed(1)} s`)
  log(`seat granted: lease ${seat.id} for ${seat.lease.user}@${seat.lease.host}, time to live ${seat.ttl} s`)

  // 5. Work, while the seat client renews the lease in the background; a lost seat ends it.
  const seconds = Number(env.WORK_SECONDS ?? 10)
  log(`working for ${seconds} s`)
  await sleep(seconds * 1000, undefined, {signal: work.signal}).catch(() => work.signal.throwIfAborted())

  // 6. Done: free the seat for a colleague now rather than when the lease expires.
  await seat.release()
  log('seat released')
}

main().catch(fail)
