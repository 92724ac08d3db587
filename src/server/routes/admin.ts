import type {FastifyInstance} from 'fastify'

import {ok} from '../app.js'
import {defaultBody, idParams, policyBody, productParams, reservationBody, reservationsQuery, ruleBody, rulesQuery, usageQuery} from './schemas.js'

/** Administration with a vendor token: force-release, access rules, seat policies, seat reservations, the usage report. */
export async function adminRoutes(app: FastifyInstance): Promise<void> {
  const {seats} = app.licadm
  // Every route of this plugin, however its path is spelled (the router decodes %XX, request.url
  // does not): the hook is this plugin's own, so it runs for its routes only.
  app.addHook('onRequest', async (request) => {
    await app.licadm.authorize(request, 'vendor')
  })

  app.delete<{Params: {id: string}}>('/v1/admin/leases/:id', {schema: {params: idParams}}, async (request) => ok({lease: await seats.forceRelease(request.params.id)}))

  app.get<{Querystring: {product?: string}}>('/v1/admin/rules', {schema: {querystring: rulesQuery}}, async (request) => ok({products: await seats.rules.listRules(request.query.product)}))

  app.post<{Body: {product: number; action: string; subject: string; pattern: string}}>('/v1/admin/rules', {schema: {body: ruleBody}}, async (request, reply) =>
    reply.code(201).send(ok({rule: await seats.rules.addRule(request.body)})),
  )

  app.delete<{Params: {id: string}}>('/v1/admin/rules/:id', {schema: {params: idParams}}, async (request) => ok({rule: await seats.rules.removeRule(request.params.id)}))

  app.put<{Params: {product: string}; Body: {action: string}}>('/v1/admin/rules/:product/default', {schema: {params: productParams, body: defaultBody}}, async (request) =>
    ok(await seats.rules.setDefaultAction(request.params.product, request.body.action)),
  )

  app.get<{Params: {id: string}}>('/v1/admin/policies/:id', {schema: {params: idParams}}, async (request) => ok({policy: await seats.rules.getPolicy(request.params.id)}))

  app.put<{Params: {id: string}; Body: Record<string, unknown>}>('/v1/admin/policies/:id', {schema: {params: idParams, body: policyBody}}, async (request) =>
    ok({policy: await seats.rules.setPolicy({license: request.params.id, ...request.body} as never)}),
  )

  // PATCH changes the settings the body names and keeps the others (null: back to the server's).
  app.patch<{Params: {id: string}; Body: Record<string, unknown>}>('/v1/admin/policies/:id', {schema: {params: idParams, body: policyBody}}, async (request) =>
    ok({policy: await seats.rules.setPolicy({license: request.params.id, ...request.body} as never, {merge: true})}),
  )

  app.get<{Querystring: {license?: string}}>('/v1/admin/reservations', {schema: {querystring: reservationsQuery}}, async (request) =>
    ok({reservations: await seats.listReservations(request.query.license)}),
  )

  app.post<{Body: {license: string; subject: string; pattern: string; seats: number}}>('/v1/admin/reservations', {schema: {body: reservationBody}}, async (request, reply) =>
    reply.code(201).send(ok({reservation: await seats.rules.addReservation(request.body)})),
  )

  app.delete<{Params: {id: string}}>('/v1/admin/reservations/:id', {schema: {params: idParams}}, async (request) => ok({reservation: await seats.rules.removeReservation(request.params.id)}))

  app.get<{Querystring: {license?: string; since?: string; until?: string; days?: string}}>('/v1/admin/usage', {schema: {querystring: usageQuery}}, async (request) =>
    ok(await seats.usageReport(request.query)),
  )
}
