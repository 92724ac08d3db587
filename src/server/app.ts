import Fastify, {type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest} from 'fastify'

import type {Clock, ManualClock} from '../domain/clock.js'
import {ExitCode, LicadmError} from '../domain/errors.js'
import type {Signer} from '../crypto/keys.js'
import {isNonce, NONCE_HEADER, requestBinding, SIGNATURE_HEADER, signResponse, signResponseAsync, TIME_HEADER, type RequestBinding} from '../formats/response.js'
import type {Services} from '../services/backend.js'
import type {Caller} from '../services/operations.js'
import type {SeatService} from '../services/seats.js'
import type {Principal, ServerAuth, TokenRole} from './auth.js'
import {loggerOptions, type LogOptions} from './logging.js'
import {ServerMetrics} from './metrics.js'
import {noteRefusal, RequestLog} from './request-log.js'
import {adminRoutes} from './routes/admin.js'
import {metricsRoutes} from './routes/metrics.js'
import {operationRoutes} from './routes/operations.js'
import {seatRoutes} from './routes/seats.js'
import {systemRoutes} from './routes/system.js'
import type {Sweeper} from './sweeper.js'

export const DEFAULT_BODY_LIMIT = 64 * 1024
export const REQUEST_TIMEOUT_MS = 30_000

export interface AppOptions {
  seats: SeatService
  /** Who a request is (flag, seed and stored tokens) and what its role may do; rate-limits failures. */
  auth: ServerAuth
  clock: Clock
  sweeper: Sweeper
  /** The signer of the vendor's active key, asked for each response (it changes when the key is rotated). */
  signer: () => Signer
  version: string
  /** Epoch ms (wall clock, not `clock`) when the server started: its uptime. */
  startedAt: number
  /** Set in --test-mode: POST /v1/test/clock/advance moves it. */
  testClock?: ManualClock
  bodyLimit?: number
  /** Serve HTTPS with this PEM key and certificate (chain). */
  https?: {key: string; cert: string}
  /** The services as one caller (audit events name it), for the administration API. */
  services(caller: Caller): Services
  /** Where unexpected (5xx) errors are reported (besides the log). */
  onInternalError?: (error: unknown, request: FastifyRequest) => void
  /** JSON request logs (pino); none when absent. */
  log?: LogOptions
}

export interface AppState {
  ready: boolean
  /** Every route, "METHOD /path", as registered (GET /v1 lists them). */
  endpoints: string[]
}

declare module 'fastify' {
  interface FastifyInstance {
    licadm: AppOptions & {
      state: AppState
      /** Authenticates the request and checks its role (a vendor token may do everything); sets request.principal. */
      authorize(request: FastifyRequest, ...roles: TokenRole[]): Promise<Principal>
    }
  }
  interface FastifyRequest {
    /** The token the request authenticated with (null until authorize ran). */
    principal: Principal | null
    /** The request body as received ('' when none): its response's signature is bound to it. */
    rawBody: string
  }
}

/** The binding of a response to its request, when the request sent a nonce (see formats/response.ts). */
function bindingOf(request: FastifyRequest): RequestBinding | undefined {
  const nonce = request.headers[NONCE_HEADER]
  return isNonce(nonce) ? requestBinding(nonce, request.method, request.url, request.rawBody ?? '') : undefined
}

/** The HTTP status of a refusal: by its code where that says more than its exit status. */
const STATUS_BY_CODE: Record<string, number> = {
  NO_SEAT_FREE: 409,
  USER_LIMIT: 409,
  BORROW_LIMIT: 409,
  BORROW_TOO_LONG: 409,
  ACCESS_DENIED: 403,
  NOT_IN_CONTAINER: 403,
  FORBIDDEN: 403,
  AUTH_RATE_LIMITED: 429,
  // Not a refusal of a seat: the server stops; the client asks again (Retry-After) of the restarted one.
  SERVER_STOPPING: 503,
  LICENSE_EXPIRED: 403,
  LICENSE_REVOKED: 403,
  LICENSE_NOT_YET_VALID: 403,
  NOT_CONCURRENT: 409,
  FEATURES_NOT_LICENSED: 403,
  LEASE_EXPIRED: 410,
}

const STATUS_BY_EXIT: Record<number, number> = {
  [ExitCode.usage]: 400,
  [ExitCode.notFound]: 404,
  [ExitCode.conflict]: 409,
  [ExitCode.auth]: 401,
  [ExitCode.expired]: 410,
  [ExitCode.revoked]: 403,
  [ExitCode.internal]: 500,
}

export function httpStatus(error: LicadmError): number {
  return STATUS_BY_CODE[error.code] ?? STATUS_BY_EXIT[error.exit] ?? 400
}

/** The error body, the same shape as the CLI's --json error envelope. */
export function errorBody(error: LicadmError) {
  return {
    ok: false as const,
    error: {
      code: error.code,
      message: error.message,
      exitCode: error.exit,
      ...(error.hint ? {hint: error.hint} : {}),
      ...(error.details ? {details: error.details} : {}),
    },
  }
}

/** Fastify's own 4xx errors (bad JSON, body too large, wrong media type, failed schema) as refusals. */
function requestError(error: FastifyError): {status: number; error: LicadmError} {
  const status = error.statusCode ?? 500
  if (error.validation) {
    return {status: 400, error: new LicadmError('INVALID_REQUEST', ExitCode.usage, `invalid request: ${error.message}`, {details: {validation: error.validation.map((v) => ({path: v.instancePath, message: v.message}))}})}
  }
  const codes: Record<string, [string, string]> = {
    FST_ERR_CTP_BODY_TOO_LARGE: ['BODY_TOO_LARGE', 'the request body is larger than the server accepts'],
    FST_ERR_CTP_INVALID_MEDIA_TYPE: ['UNSUPPORTED_MEDIA_TYPE', 'send the request body as application/json'],
    FST_ERR_CTP_EMPTY_JSON_BODY: ['INVALID_JSON', 'the request says it is JSON but its body is empty'],
    FST_ERR_CTP_INVALID_JSON_BODY: ['INVALID_JSON', 'the request body is not valid JSON'],
  }
  const known = codes[error.code]
  if (known) return {status, error: new LicadmError(known[0], ExitCode.usage, known[1])}
  if (error instanceof SyntaxError || /JSON/.test(error.message)) return {status: 400, error: new LicadmError('INVALID_JSON', ExitCode.usage, `the request body is not valid JSON: ${error.message}`)}
  return {status, error: new LicadmError(error.code ?? 'BAD_REQUEST', ExitCode.usage, error.message)}
}

/** Builds the license server's Fastify instance over the seat service (not listening yet). */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const metrics = new ServerMetrics({version: options.version, startedAt: options.startedAt})
  const app = Fastify({
    // The https server type differs only in the socket class; routes and hooks are the same.
    ...(options.https ? ({https: options.https} as {}) : {}),
    logger: options.log ? loggerOptions(options.log) : false,
    // One line per answered request instead of Fastify's two.
    ...(options.log ? {logController: new RequestLog()} : {}),
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    return503OnClosing: true,
    // Ids in paths may be as long as the schemas allow (200): a longer one is refused by its schema.
    routerOptions: {maxParamLength: 256},
    forceCloseConnections: 'idle',
    // A client has this long to send a whole request (a checkout's wait for a seat comes after it).
    requestTimeout: REQUEST_TIMEOUT_MS,
    // A URL that does not decode ('/v1/leases/%') is a refusal like any other bad input.
    frameworkErrors: (error, request, reply) => {
      // This answer skips the hooks, so it is signed here.
      const refusal = new LicadmError('BAD_URL', ExitCode.usage, `the request URL is malformed: ${error.message}`)
      metrics.refusal(refusal, 400)
      const body = JSON.stringify(errorBody(refusal))
      const now = options.clock.now()
      void (reply as FastifyReply)
        .code(400)
        .header('content-type', 'application/json; charset=utf-8')
        .header(TIME_HEADER, new Date(now).toISOString())
        .header(SIGNATURE_HEADER, signResponse(body, 400, now, options.signer(), bindingOf(request as FastifyRequest)))
        .send(body)
    },
    ajv: {customOptions: {coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false}},
  })
  // JSON only: a text/plain body is refused as an unsupported media type, not parsed as a string.
  app.removeContentTypeParser('text/plain')
  // Parsed as before, and the body kept as received: the response's signature is bound to it.
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', {parseAs: 'string'}, (request, body, done) => {
    request.rawBody = body as string
    parseJson(request, body as string, done)
  })
  app.decorateRequest('rawBody', '')
  const state: AppState = {ready: false, endpoints: []}
  app.decorateRequest('principal', null)
  app.decorate('licadm', {
    ...options,
    state,
    async authorize(request: FastifyRequest, ...roles: TokenRole[]) {
      request.principal = await options.auth.authenticate(request.headers.authorization, request.ip)
      return options.auth.authorize(request.principal, roles)
    },
  })

  // A nonce the client could not check its answer against is refused, not ignored.
  app.addHook('onRequest', async (request) => {
    const nonce = request.headers[NONCE_HEADER]
    if (nonce !== undefined && !isNonce(nonce)) {
      throw new LicadmError('INVALID_NONCE', ExitCode.usage, `the ${NONCE_HEADER} header must be one value of 16 to 128 base64url characters`)
    }
  })

  // Every answer carries the server's time and a signature over status, time and body, and over
  // the request it answers when the request sent a nonce.
  app.addHook('onSend', async (request, reply, payload) => {
    const now = options.clock.now()
    const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : payload === null || payload === undefined ? '' : null
    reply.header(TIME_HEADER, new Date(now).toISOString())
    // Signed off the event loop (the server's signing thread): it serves other requests meanwhile.
    if (body !== null) reply.header(SIGNATURE_HEADER, await signResponseAsync(body, reply.statusCode, now, options.signer(), bindingOf(request)))
    return payload
  })

  app.setErrorHandler((error: FastifyError | LicadmError, request: FastifyRequest, reply: FastifyReply) => {
    let status: number
    let refusal: LicadmError
    if (error instanceof LicadmError) {
      refusal = error
      status = httpStatus(error)
    } else if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      ;({status, error: refusal} = requestError(error))
    } else {
      request.log.error({err: error}, 'internal error')
      options.onInternalError?.(error, request)
      status = 500
      refusal = new LicadmError('INTERNAL', ExitCode.internal, 'internal server error (a bug: please report it)')
    }
    metrics.refusal(refusal, status)
    noteRefusal(request, refusal.code)
    if (status === 401) reply.header('www-authenticate', 'Bearer realm="licadm"')
    const retryAfter = refusal.details?.retryAfter
    if ((status === 429 || status === 503) && typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter))
    void reply.code(status).type('application/json; charset=utf-8').send(errorBody(refusal))
  })

  app.setNotFoundHandler((request, reply) => {
    const error = new LicadmError('ROUTE_NOT_FOUND', ExitCode.notFound, `no such endpoint: ${request.method} ${request.url.split('?')[0]}`, {
      hint: 'The seat API is under /v1/leases and /v1/borrows; see GET /v1 for the list.',
    })
    metrics.refusal(error, 404)
    noteRefusal(request, error.code)
    void reply.code(404).send(errorBody(error))
  })

  // The list GET /v1 answers with is taken from the routes themselves, so it never misses one.
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') state.endpoints.push(`${method} ${route.url}`)
  })
  await app.register(metricsRoutes, {metrics})
  await app.register(systemRoutes)
  await app.register(seatRoutes)
  await app.register(adminRoutes)
  await app.register(operationRoutes)
  app.addHook('onReady', async () => {
    state.ready = true
  })
  app.addHook('preClose', async () => {
    state.ready = false
  })
  return app
}

/** A successful answer, in the CLI's --json envelope shape. */
export function ok<T>(result: T): {ok: true; result: T} {
  return {ok: true, result}
}
