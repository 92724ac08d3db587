/**
 * Container credentials on the seat API: an enterprise container's `<serial>:<secret>` reaches the
 * seats of the licenses that container holds, and nothing else; after a credential reset only the
 * new secret works, so a departed user's device loses its seats with its link.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ServerClient} from '../../src/client/http.js'
import {SeatClient} from '../../src/client/seat-client.js'
import {containerToken} from '../../src/domain/tokens.js'
import {TokenSet} from '../../src/server/auth.js'
import {ContainerService, type Credentials} from '../../src/services/containers.js'
import {CLIENT_TOKEN, closeAll, defaultSeed, refusal, testServer, type TestServer} from './helpers.js'

let s: TestServer
let containers: ContainerService
let eng: Credentials
let engLicense: string

const seed = {
  ...defaultSeed,
  licenses: [...defaultSeed.licenses, {key: 'eng-five', product: 7, quantity: 5, features: 1}],
  users: [{email: 'ann@example.com'}],
  groups: [{name: 'eng'}],
}

beforeAll(async () => {
  s = await testServer({seed})
  containers = new ContainerService({store: s.store, clock: s.clock, keys: undefined as never, actor: 'test'})
  const created = await containers.create({kind: 'enterprise', group: 'eng'})
  eng = created.credentials!
  engLicense = s.license('eng-five')
  await containers.addLicense(eng.container, engLicense)
})
afterAll(closeAll)

const as = (token: string) => new ServerClient({server: s.url, token, publicKeys: s.publicKeys})

describe('an enterprise container credential on the seat API', () => {
  it("checks out, renews, lists and releases the seats of its container's licenses", async () => {
    const c = as(containerToken(eng))
    const byId = await c.checkout({license: engLicense, user: 'ann', host: 'pc1'})
    expect(byId.lease.licenseId).toBe(engLicense)
    // By product: only the container's license is a candidate, though "ten" (product 7 too) has seats.
    for (let i = 0; i < 3; i++) expect((await c.checkout({product: 7, user: `u${i}`, host: 'pc'})).lease.licenseId).toBe(engLicense)
    expect((await c.heartbeat(byId.lease.id)).lease.id).toBe(byId.lease.id)
    const usage = await c.list()
    expect(usage.map((u) => u.licenseId)).toEqual([engLicense])
    expect(usage[0].used).toBe(4)
    expect((await c.status()).licenses.map((l) => l.licenseId)).toEqual([engLicense])
    expect(await c.release(byId.lease.id)).toEqual({released: true, leaseId: byId.lease.id})
    const borrow = await c.borrow({license: engLicense, user: 'ann', host: 'laptop', duration: 86_400})
    expect(await c.returnBorrow(borrow.borrow.id)).toEqual({returned: true, borrowId: borrow.borrow.id})
  })

  it("reaches no other license: refused before anything about it is said, and another holder's leases are out of reach", async () => {
    const c = as(containerToken(eng))
    const ten = s.license('ten')
    const foreign = await refusal(c.checkout({license: ten, user: 'ann', host: 'pc1'}))
    expect(foreign).toMatchObject({code: 'NOT_IN_CONTAINER', exit: 7, message: expect.stringMatching(`license ${ten} is not in container ${eng.container}`)})
    expect(foreign.details).toMatchObject({httpStatus: 403})
    // A license that does not exist gets the same answer: the credential learns nothing of others.
    expect((await refusal(c.checkout({license: 'lic_0000000000000000000000', user: 'ann', host: 'pc1'}))).code).toBe('NOT_IN_CONTAINER')
    expect(await refusal(c.checkout({product: 8, user: 'ann', host: 'pc1'}))).toMatchObject({code: 'NO_LICENSE', message: expect.stringMatching(`in container ${eng.container}`)})
    expect(await refusal(c.borrow({license: ten, user: 'ann', host: 'pc1', duration: 3600}))).toMatchObject({code: 'NOT_IN_CONTAINER'})
    expect(await refusal(c.list({license: ten}))).toMatchObject({code: 'LICENSE_NOT_FOUND'})

    // A seat of "ten" held with a client token: the container's credential can neither renew nor free it.
    const other = await s.client.checkout({license: ten, user: 'bob', host: 'pc2'})
    expect((await refusal(c.heartbeat(other.lease.id))).code).toBe('LEASE_NOT_FOUND')
    expect(await c.release(other.lease.id)).toEqual({released: false, leaseId: other.lease.id})
    const otherBorrow = await s.client.borrow({license: ten, user: 'bob', host: 'laptop', duration: 3600})
    expect(await c.returnBorrow(otherBorrow.borrow.id)).toEqual({returned: false, borrowId: otherBorrow.borrow.id})
    expect((await s.client.list({license: ten}))[0].holders.map((h) => h.id).sort()).toEqual([other.lease.id, otherBorrow.borrow.id].sort())
    await s.client.release(other.lease.id)
    await s.client.returnBorrow(otherBorrow.borrow.id)
  })

  it('is a client: every administration route refuses it (403), naming the credential', async () => {
    const c = as(containerToken(eng))
    const lease = await c.checkout({license: engLicense, user: 'ann', host: 'pc1'})
    const removed = await refusal(c.forceRelease(lease.lease.id))
    expect(removed).toMatchObject({code: 'FORBIDDEN', exit: 7, message: expect.stringMatching(`credential of container ${eng.container} reaches the seat API only`)})
    expect((await refusal(c.listRules(7))).code).toBe('FORBIDDEN')
    expect((await refusal(c.advanceClock(0))).code).toBe('FORBIDDEN')
    const metrics = await fetch(`${s.url}/metrics`, {headers: {authorization: `Bearer ${containerToken(eng)}`}})
    expect(metrics.status).toBe(403)
    const op = await fetch(`${s.url}/v1/ops/containers.list`, {method: 'POST', headers: {authorization: `Bearer ${containerToken(eng)}`, 'content-type': 'application/json'}, body: '{"args":[]}'})
    expect(op.status).toBe(403)
    await c.release(lease.lease.id)
  })

  it('the seat client library takes the credential as its token', async () => {
    const seats = new SeatClient({server: s.url, token: containerToken(eng), publicKeys: s.publicKeys, user: 'app', host: 'ci', releaseOnExit: false})
    const seat = await seats.checkout({product: 7, features: 1})
    expect(seat.lease.licenseId).toBe(engLicense)
    expect(await seat.release()).toBe(true)
    await seats.close()
  })
})

describe('refused container credentials', () => {
  it('after a credential reset the old secret is refused (401): its holder can no longer renew; the new one works', async () => {
    const {credentials} = await containers.create({kind: 'enterprise', group: 'eng'})
    await containers.addLicense(credentials!.container, s.license('two'))
    const old = as(containerToken(credentials!))
    const held = await old.checkout({product: 8, user: 'leaver', host: 'pc9'})
    const reset = await containers.resetCredentials(credentials!.container, {writeSaws: false})
    const refused = await refusal(old.heartbeat(held.lease.id))
    expect(refused).toMatchObject({code: 'AUTH', exit: 7, message: expect.stringMatching(`credential for container ${credentials!.container} is not its current one \\(generation 2\\)`)})
    expect(refused.details).toMatchObject({reason: 'invalid-token', httpStatus: 401})
    const fresh = as(containerToken(reset.credentials))
    expect((await fresh.list())[0].holders.map((h) => h.user)).toEqual(['leaver'])
    expect((await fresh.release(held.lease.id)).released).toBe(true)
  })

  it('a personal container, an unknown container, and a token shaped like a credential', async () => {
    const {credentials} = await containers.create({kind: 'personal', user: 'ann@example.com'})
    expect(await refusal(as(containerToken(credentials!)).list())).toMatchObject({code: 'AUTH', message: expect.stringMatching(/is personal: only an enterprise container's credential/)})
    const unknown = containerToken({container: 'E-0000-0000-0000', secret: `lcs_${'A'.repeat(43)}`})
    expect(await refusal(as(unknown).list())).toMatchObject({code: 'AUTH', message: expect.stringMatching(/E-0000-0000-0000, which is not on this server/)})
    // A wrong secret for a real container.
    expect(await refusal(as(containerToken({container: eng.container, secret: `lcs_${'B'.repeat(43)}`})).list())).toMatchObject({code: 'AUTH', message: expect.stringMatching(/not its current one/)})
    // The same strings given as server tokens are refused at start: they would be read as credentials.
    expect(() => new TokenSet().add(unknown, {name: 'odd', role: 'client'})).toThrow(/shaped like a container credential/)
    // A fixed serial (fixtures) never takes over an existing container.
    expect(await refusal(containers.create({kind: 'enterprise', group: 'eng', serial: eng.container}))).toMatchObject({code: 'CONTAINER_EXISTS'})
    // Tokens still work beside credentials.
    expect((await as(CLIENT_TOKEN).list()).length).toBeGreaterThan(1)
  })
})
