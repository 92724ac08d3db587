import type {FastifyInstance} from 'fastify'

import {LAST_INSTANT_MS} from '../../domain/clock.js'
import {ExitCode, InvalidValueError, LicadmError} from '../../domain/errors.js'
import {ok} from '../app.js'
import {advanceBody} from './schemas.js'
import {seatScope} from './seats.js'

/** What GET /v1 says of some routes besides their method and path. */
const ENDPOINT_NOTES: Record<string, string> = {
  'POST /v1/ops/:op': 'administration: one route per service operation',
  'POST /v1/test/clock/advance': '--test-mode only; admin',
}

/** Health, readiness, status, and the test clock. */
export async function systemRoutes(app: FastifyInstance): Promise<void> {
  const {licadm} = app
  // Real time, not the server clock's: a test clock may stand still or jump days ahead.
  const uptime = () => Math.floor((Date.now() - licadm.startedAt) / 1000)

  app.get('/healthz', async () => ok({status: 'ok', version: licadm.version, uptime: uptime(), serverTime: new Date(licadm.clock.now()).toISOString()}))

  app.get('/readyz', async (_request, reply) => reply.code(licadm.state.ready ? 200 : 503).send(ok({ready: licadm.state.ready})))

  app.get('/v1', async () => ok({version: licadm.version, endpoints: licadm.state.endpoints.map((e) => (ENDPOINT_NOTES[e] ? `${e} (${ENDPOINT_NOTES[e]})` : e))}))

  app.get('/v1/status', async (request) => {
    await licadm.authorize(request, 'client')
    const licenses = await licadm.seats.list({holders: false}, seatScope(request))
    return ok({
      version: licadm.version,
      uptime: uptime(),
      serverTime: new Date(licadm.clock.now()).toISOString(),
      testMode: licadm.testClock !== undefined,
      leaseTtl: licadm.seats.settings.leaseTtl,
      reclaimed: licadm.sweeper.reclaimed,
      waiting: licadm.seats.queue.length,
      licenses: licenses.map(({holders: _h, ...l}) => l),
    })
  })

  app.post<{Body: {seconds: number}}>('/v1/test/clock/advance', {schema: {body: advanceBody}}, async (request) => {
    await licadm.authorize(request, 'vendor')
    if (!licadm.testClock) {
      throw new LicadmError('TEST_MODE_OFF', ExitCode.notFound, 'the test clock can be moved only on a server started with --test-mode', {
        hint: 'Start the server with --test-mode (and --clock to choose its start time).',
      })
    }
    // Every time the server writes (responses, tokens, the store) is a date of four-digit years.
    const after = licadm.testClock.now() + request.body.seconds * 1000
    if (after > LAST_INSTANT_MS) {
      throw new InvalidValueError('seconds', `advancing ${request.body.seconds} s would take the test clock past ${new Date(LAST_INSTANT_MS).toISOString()}, the last time it can show (it is ${new Date(licadm.testClock.now()).toISOString()})`)
    }
    licadm.testClock.advance(request.body.seconds * 1000)
    const reclaimed = await licadm.sweeper.run()
    return ok({serverTime: new Date(licadm.clock.now()).toISOString(), reclaimed})
  })
}
