/** Calls of the administration API (POST /v1/ops/<service>.<method>) on an in-process test server. */
import {generateKeyPairSync} from 'node:crypto'

import type {InjectOptions} from 'fastify'
import {sql} from 'kysely'

import {ADMIN_TOKEN, type TestServer} from './helpers.js'

export interface Answer {
  status: number
  json: any
}

/**
 * The calls of one test file on `server()` (read when called: the server starts in beforeAll). Each
 * call comes from its own address in 10.`subnet`.x.x, so the failed-authentication limit stays out of the way.
 */
export function opsCalls(server: () => TestServer, subnet: number) {
  let requests = 0

  /** One call of an operation with `token` (null: none), or with the Authorization header `auth`. */
  async function op(name: string, args: unknown[], token: string | null, auth = token === null ? undefined : `Bearer ${token}`): Promise<Answer> {
    requests++
    const options: InjectOptions = {
      method: 'POST',
      url: `/v1/ops/${name}`,
      headers: auth === undefined ? {} : {authorization: auth},
      payload: {args},
      remoteAddress: `10.${subnet}.${Math.floor(requests / 250) % 250}.${requests % 250}`,
    }
    const res = await server().app.inject(options)
    return {status: res.statusCode, json: res.json()}
  }

  /** The result of a call that must succeed. */
  async function ok(name: string, args: unknown[], token = ADMIN_TOKEN): Promise<any> {
    const r = await op(name, args, token)
    if (r.status !== 200) throw new Error(`${name}: ${r.status} ${JSON.stringify(r.json)}`)
    return r.json.result
  }

  /** Everything a refused call could have changed: every table's rows (a token's last use aside: it did authenticate). */
  async function snapshot() {
    const db = server().store.db
    const tables = (await sql<{name: string}>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name`.execute(db)).rows.map((t) => t.name)
    const rows = await Promise.all(
      tables.map(async (t) => [t, (await sql.raw<Record<string, unknown>>(`select * from "${t}"`).execute(db)).rows.map(({last_used_at: _used, ...row}) => row)] as const),
    )
    return Object.fromEntries(rows)
  }

  return {op, ok, snapshot}
}

/** A device's identity with fresh keys, as `devices.activate` takes it. */
export function deviceIdentity(fingerprint: string) {
  const x = (type: 'ed25519' | 'x25519') => generateKeyPairSync(type as 'ed25519').publicKey.export({format: 'jwk'}).x!
  return {fingerprint, name: fingerprint.toLowerCase(), platform: 'test', signKey: x('ed25519'), encKey: x('x25519')}
}
