import {LogController, type FastifyReply, type FastifyRequest} from 'fastify'

import {principalActor} from '../domain/tokens.js'

/** The code of the refusal each request was answered with, for its log line. */
const refusals = new WeakMap<FastifyRequest, string>()

/** Remembers the refusal code of a request (from the error and not-found handlers). */
export function noteRefusal(request: FastifyRequest, code: string): void {
  refusals.set(request, code)
}

/**
 * Fastify's request log lines, one per answered request instead of two: at `info`, "request
 * completed" with method, URL, route pattern, status, time taken (ms), who asked (`by`: the token's
 * name or the container, never the secret) and the refusal's code; at
 * `error` for a 5xx. The incoming line is written at `debug` only. The serializers of
 * logging.ts decide what of the request and reply is written (never headers or bodies).
 */
export class RequestLog extends LogController {
  constructor() {
    super({})
  }

  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({req: request}, 'incoming request')
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const code = refusals.get(request)
    const line = {
      req: request,
      res: reply,
      route: request.routeOptions.url ?? null,
      responseTime: Math.round(reply.elapsedTime * 1000) / 1000,
      ...(request.principal ? {by: principalActor(request.principal)} : {}),
      ...(code === undefined ? {} : {code}),
      ...(error ? {err: error} : {}),
    }
    if (error || reply.statusCode >= 500) reply.log.error(line, 'request failed')
    else reply.log.info(line, 'request completed')
  }
}
