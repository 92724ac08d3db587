import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'

import {ExitCode, LicadmError} from '../../domain/errors.js'
import type {BorrowInput, CheckoutInput, SeatScope} from '../../services/seats.js'
import {ok} from '../app.js'
import {borrowBody, checkoutBody, idParams, listQuery} from './schemas.js'

/** What the request's credential reaches: one container's licenses for a container credential, else all. */
export function seatScope(request: FastifyRequest): SeatScope {
  const container = request.principal?.container
  return container === undefined ? {} : {container}
}

/** Aborts when the client closes the connection before it has its answer. */
function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort()
  })
  return controller.signal
}

/** The seat API for clients: check out, heartbeat, release, list; borrow and return. */
export async function seatRoutes(app: FastifyInstance): Promise<void> {
  const {seats} = app.licadm
  // Every route of this plugin, however its path is spelled (the router decodes %XX, request.url
  // does not): the hook is this plugin's own, so it runs for its routes only.
  app.addHook('onRequest', async (request) => {
    await app.licadm.authorize(request, 'client')
  })

  // With "wait" (seconds), a checkout refused for want of a seat waits in line on the server.
  // "place": the place in line a waiting checkout's last refusal kept for it (details.place).
  app.post<{Body: CheckoutInput & {wait?: number; place?: number}}>('/v1/leases', {schema: {body: checkoutBody}}, async (request, reply) => {
    // The service reads the checkout's own fields of the body (wait and place are the route's).
    const input = {...request.body, address: request.ip}
    const {wait, place} = request.body
    const scope = seatScope(request)
    if (!wait) return reply.code(201).send(ok(await seats.checkout(input, scope)))
    const gone = clientGone(reply)
    const grant = await seats.checkout(input, scope, {waitMs: wait * 1000, signal: gone, place}).catch((error: unknown) => {
      // The server stops (SERVER_STOPPING, 503): this answer comes after it closed the idle connections, so it closes its own.
      if (seats.queue.closed) void reply.header('connection', 'close')
      throw error
    })
    if (gone.aborted) {
      // Nobody would hold the seat until its TTL ran out; nor take it back, so it does not linger:
      // it is freed at once, for the next in line.
      await seats.release(grant.lease.id, scope, {linger: false})
      throw new LicadmError('CLIENT_GONE', ExitCode.cancelled, 'the client closed the connection while it waited for a seat: the seat it got was released')
    }
    return reply.code(201).send(ok(grant))
  })

  app.post<{Params: {id: string}}>('/v1/leases/:id/heartbeat', {schema: {params: idParams}}, async (request) => ok(await seats.heartbeat(request.params.id, seatScope(request))))

  app.delete<{Params: {id: string}}>('/v1/leases/:id', {schema: {params: idParams}}, async (request) => ok(await seats.release(request.params.id, seatScope(request))))

  app.get<{Querystring: {license?: string; product?: string; user?: string; host?: string}}>('/v1/leases', {schema: {querystring: listQuery}}, async (request) => {
    const {license, product, user, host} = request.query
    // A server that hides who holds its seats shows a client only the holders of one station it
    // names (its own, to release after a crash); admins see them all.
    const hidden = seats.settings.hideHolders && request.principal?.role === 'client' && (user === undefined || host === undefined)
    return ok({licenses: await seats.list({license, product, user, host, hidden}, seatScope(request))})
  })

  app.post<{Body: BorrowInput}>('/v1/borrows', {schema: {body: borrowBody}}, async (request, reply) => {
    const grant = await seats.borrow({...request.body, address: request.ip}, seatScope(request))
    return reply.code(201).send(ok(grant))
  })

  app.delete<{Params: {id: string}}>('/v1/borrows/:id', {schema: {params: idParams}}, async (request) => ok(await seats.returnBorrow(request.params.id, seatScope(request))))
}
