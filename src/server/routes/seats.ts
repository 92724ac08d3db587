import type {FastifyInstance, FastifyRequest} from 'fastify'

import type {BorrowInput, CheckoutInput, SeatScope} from '../../services/seats.js'
import {ok} from '../app.js'
import {borrowBody, checkoutBody, idParams, listQuery} from './schemas.js'

/** What the request's credential reaches: one container's licenses for a container credential, else all. */
export function seatScope(request: FastifyRequest): SeatScope {
  const container = request.principal?.container
  return container === undefined ? {} : {container}
}

/** The seat API for clients: check out, heartbeat, release, list; borrow and return. */
export async function seatRoutes(app: FastifyInstance): Promise<void> {
  const {seats} = app.licadm
  app.addHook('onRequest', async (request) => {
    if (request.url.startsWith('/v1/leases') || request.url.startsWith('/v1/borrows')) await app.licadm.authorize(request, 'client')
  })

  app.post<{Body: CheckoutInput}>('/v1/leases', {schema: {body: checkoutBody}}, async (request, reply) => {
    const grant = await seats.checkout({...request.body, address: request.ip}, seatScope(request))
    return reply.code(201).send(ok(grant))
  })

  app.post<{Params: {id: string}}>('/v1/leases/:id/heartbeat', {schema: {params: idParams}}, async (request) => ok(await seats.heartbeat(request.params.id, seatScope(request))))

  app.delete<{Params: {id: string}}>('/v1/leases/:id', {schema: {params: idParams}}, async (request) => ok(await seats.release(request.params.id, seatScope(request))))

  app.get<{Querystring: {license?: string; product?: string; user?: string; host?: string}}>('/v1/leases', {schema: {querystring: listQuery}}, async (request) =>
    ok({licenses: await seats.list({license: request.query.license, product: request.query.product, user: request.query.user, host: request.query.host}, seatScope(request))}),
  )

  app.post<{Body: BorrowInput}>('/v1/borrows', {schema: {body: borrowBody}}, async (request, reply) => {
    const grant = await seats.borrow({...request.body, address: request.ip}, seatScope(request))
    return reply.code(201).send(ok(grant))
  })

  app.delete<{Params: {id: string}}>('/v1/borrows/:id', {schema: {params: idParams}}, async (request) => ok(await seats.returnBorrow(request.params.id, seatScope(request))))
}
