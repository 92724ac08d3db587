import type {FastifyInstance} from 'fastify'

import {ExitCode, LicadmError} from '../../domain/errors.js'
import type {Services} from '../../services/backend.js'
import {argumentsFromWire, operation, VERSION_HINT, type Caller} from '../../services/operations.js'
import {ok} from '../app.js'

/** Bulk issuance sends its whole file in one call (every row is checked before any is issued). */
export const OPERATION_BODY_LIMIT = 64 * 1024 * 1024

const operationBody = {
  type: 'object',
  additionalProperties: false,
  properties: {args: {type: 'array', maxItems: 4}},
  required: ['args'],
} as const

const operationParams = {
  type: 'object',
  properties: {op: {type: 'string', pattern: '^[a-z]+\\.[A-Za-z]+$', maxLength: 64}},
  required: ['op'],
} as const

/**
 * The administration API of remote commands: POST /v1/ops/<service>.<method> with {"args": […]}
 * calls that service method as the token's holder, after the token's role (and, for a group admin,
 * its group) is checked. The answer is the method's result in the usual envelope.
 */
export async function operationRoutes(app: FastifyInstance): Promise<void> {
  const {licadm} = app
  app.post<{Params: {op: string}; Body: {args: unknown[]}}>(
    '/v1/ops/:op',
    {
      bodyLimit: Math.max(OPERATION_BODY_LIMIT, licadm.bodyLimit ?? 0),
      schema: {params: operationParams, body: operationBody},
      // The token is checked before the body is read: a large body is accepted from a caller allowed to send it only.
      onRequest: async (request) => {
        const op = operation((request.params as {op: string}).op)
        await licadm.authorize(request, ...(op?.groupAdmin ? (['vendor', 'group-admin'] as const) : (['vendor'] as const)))
      },
    },
    async (request) => {
      const name = request.params.op
      const op = operation(name)
      if (!op) throw new LicadmError('UNKNOWN_OPERATION', ExitCode.notFound, `no such operation: ${name}`, {hint: VERSION_HINT})
      const caller: Caller = request.principal!
      const services = licadm.services(caller)
      let args = argumentsFromWire(name, op.args, request.body.args)
      if (caller.role !== 'vendor') args = await op.groupAdmin!(services, caller, args)
      const [service, method] = name.split('.') as [keyof Services, string]
      const target = services[service] as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>
      return ok((await target[method](...args)) ?? null)
    },
  )
}
