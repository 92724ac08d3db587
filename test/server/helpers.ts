/** In-process license servers for the server tests: in memory, on a free port, with a test clock. */
import {ManualClock} from '../../src/domain/clock.js'
import {ServerClient} from '../../src/client/http.js'
import {startServer, type RunningServer, type ServerOptions} from '../../src/server/runtime.js'

export const T0 = Date.UTC(2026, 5, 1, 12)
export const CLIENT_TOKEN = 'client-token-for-tests'
export const ADMIN_TOKEN = 'vendor-token-for-tests'

export interface TestServer extends RunningServer {
  clock: ManualClock
  client: ServerClient
  admin: ServerClient
  /** The id of the seeded license with this key. */
  license(key: string): string
}

export const defaultSeed = {
  vendor: {code: 4242, name: 'Seat Test Vendor'},
  products: [
    {code: 7, name: 'Seven'},
    {code: 8, name: 'Eight'},
  ],
  licenses: [
    {key: 'ten', product: 7, quantity: 10, features: 3},
    {key: 'two', product: 8, quantity: 2, features: 1},
  ],
}

const running = new Set<RunningServer>()

export async function testServer(
  options: {seed?: object; settings?: ServerOptions['settings']; bodyLimit?: number; authRateLimit?: ServerOptions['authRateLimit']; rateLimitOnTestClock?: boolean} = {},
): Promise<TestServer> {
  const clock = new ManualClock(T0)
  const server = await startServer({
    port: 0,
    data: {kind: 'memory'},
    clock,
    testMode: true,
    seed: JSON.stringify(options.seed ?? defaultSeed),
    tokens: [
      {token: CLIENT_TOKEN, role: 'client', name: 'tests'},
      {token: ADMIN_TOKEN, role: 'vendor', name: 'admin'},
    ],
    settings: options.settings,
    bodyLimit: options.bodyLimit,
    authRateLimit: options.authRateLimit,
    // The limit's window runs on real time unless a test moves it with the test clock.
    authRateLimitClock: options.rateLimitOnTestClock ? clock : undefined,
    sweepIntervalMs: 60_000,
    onInternalError: (error) => {
      throw error
    },
  })
  running.add(server)
  const closeServer = server.close.bind(server)
  // A long timeout: 1,000 concurrent requests on a busy CI machine can queue for seconds.
  const client = new ServerClient({server: server.url, token: CLIENT_TOKEN, publicKeys: server.publicKeys, timeoutMs: 120_000})
  const admin = new ServerClient({server: server.url, token: ADMIN_TOKEN, publicKeys: server.publicKeys, timeoutMs: 120_000})
  return Object.assign(server, {
    clock,
    client,
    admin,
    license(key: string) {
      const l = server.licenses.find((x) => x.key === key)
      if (!l) throw new Error(`no seeded license ${key}`)
      return l.id
    },
    close: async () => {
      running.delete(server)
      await closeServer()
    },
  })
}

/** Closes every server a test file started and did not close (call in afterAll). */
export async function closeAll(): Promise<void> {
  await Promise.all([...running].map((s) => s.close()))
  running.clear()
}

/** Runs fn and returns the LicadmError-like refusal it throws. */
export async function refusal(promise: Promise<unknown>): Promise<{code: string; exit: number; message: string; hint?: string; details?: Record<string, unknown>}> {
  try {
    await promise
  } catch (error) {
    return error as never
  }
  throw new Error('expected a refusal, but it succeeded')
}
