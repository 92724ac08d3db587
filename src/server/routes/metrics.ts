import type {FastifyInstance} from 'fastify'

import {METRICS_CONTENT_TYPE, type ServerMetrics} from '../metrics.js'

/**
 * GET /metrics (Prometheus text format, vendor token), and the bookkeeping of every answered
 * request: counted by method, route pattern and status, and timed. The plugin does not encapsulate
 * (skip-override), so its onResponse hook sees the requests of every route, 404s included.
 */
export async function metricsRoutes(app: FastifyInstance, {metrics}: {metrics: ServerMetrics}): Promise<void> {
  const {licadm} = app

  app.addHook('onResponse', (request, reply, done) => {
    metrics.request(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000)
    done()
  })

  app.get('/metrics', async (request, reply) => {
    await licadm.authorize(request, 'vendor')
    await metrics.collect({seats: () => licadm.seats.list({holders: false}), reclaimed: () => licadm.sweeper.reclaimed, waiting: () => licadm.seats.queue.length})
    return reply.type(METRICS_CONTENT_TYPE).send(await metrics.expose())
  })
}

// Fastify's own marker (what fastify-plugin sets): the hook applies to the whole server.
Object.assign(metricsRoutes, {[Symbol.for('skip-override')]: true})
