/** Helpers of the seat client tests: a client whose callbacks are recorded, waiting for an event, seats in use. */
import {SeatClient, type SeatClientOptions} from '../../src/client/seat-client.js'
import type {LicadmError} from '../../src/domain/errors.js'
import {CLIENT_TOKEN, testServer, type TestServer} from './helpers.js'

/** What the callbacks saw. */
export interface Seen {
  renewed: number[]
  lost: LicadmError[]
  errors: unknown[]
}

/** A seat client of `s` (or of a relay to it at `server`) as user app on host ci, its callbacks recorded. */
export function seatClient(s: TestServer, options: Partial<SeatClientOptions> = {}, server = s.url): {seats: SeatClient; seen: Seen} {
  const seen: Seen = {renewed: [], lost: [], errors: []}
  const seats = new SeatClient({
    server,
    token: CLIENT_TOKEN,
    publicKeys: s.publicKeys,
    user: 'app',
    host: 'ci',
    onRenewed: (seat) => seen.renewed.push(seat.lease.expiresAt),
    onLost: (error) => seen.lost.push(error),
    onHeartbeatError: (error) => seen.errors.push(error),
    ...options,
  })
  return {seats, seen}
}

/** Resolves once `condition` holds (polled), or fails naming `what`. */
export async function until(what: string, condition: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Seats of a license in use on the server. */
export async function used(s: TestServer, license: string): Promise<number> {
  return (await s.client.list({license}))[0].used
}

/** A server whose seat policy for license "two" (product 8, 2 seats) has this TTL (seconds). */
export async function serverWithTtl(ttl: number): Promise<{s: TestServer; two: string}> {
  const s = await testServer()
  const two = s.license('two')
  await s.admin.setPolicy(two, {leaseTtl: ttl})
  return {s, two}
}
