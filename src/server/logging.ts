import {writeSync} from 'node:fs'

import type {FastifyReply, FastifyRequest, FastifyServerOptions} from 'fastify'

/**
 * The license server's logs: JSON lines (pino, through Fastify's logger) on standard error, one per
 * answered request (see request-log.ts) plus the server's own events. Standard output carries only
 * the ready line. This module stays light (no Fastify at run time): `server start` reads its levels.
 *
 * Never logged: the Authorization header (or any header), tokens, container secrets, request and
 * response bodies. The request serializer writes only method, URL (secret-looking query values
 * masked) and client address, the reply's only its status. (pino's redaction of paths is not used:
 * it cost four times the rest of a log line, and no log call passes a header or a body.)
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/**
 * `info`: one line per answered request (method, route, status, time taken, the refusal's code),
 * plus start, stop and errors. Measured with bench/server.bench.mjs, the two lines of a checkout +
 * release cycle cost about 40 µs of the event loop's ~450 µs, 8% of the cycles per second, against
 * `silent`; `warn` keeps only problems.
 */
export const DEFAULT_LOG_LEVEL: LogLevel = 'info'

/** Where log lines go: anything with a write(line) method (tests pass their own). */
export interface LogStream {
  write(line: string): void
}

export interface LogOptions {
  level: LogLevel
  /** Standard error in the server (StderrLines); tests pass their own. */
  stream: LogStream
}

/**
 * Log lines to file descriptor 2. Lines written in one turn of the event loop go out in one write
 * (a busy server answers dozens of requests per turn), and whatever is left is written before the
 * process exits, so nothing is lost on a normal exit or an uncaught exception.
 */
export class StderrLines implements LogStream {
  private pending: string[] = []
  private size = 0
  private scheduled = false
  private closed = false
  private readonly onExit = () => this.flush()

  constructor(
    private readonly fd = 2,
    private readonly maxBuffered = 64 * 1024,
  ) {
    process.on('exit', this.onExit)
  }

  write(line: string): void {
    this.pending.push(line)
    this.size += line.length
    if (this.closed || this.size >= this.maxBuffered) this.flush()
    else if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
  }

  /** Writes every pending line now. */
  flush(): void {
    this.scheduled = false
    if (this.pending.length === 0) return
    const data = Buffer.from(this.pending.join(''))
    this.pending = []
    this.size = 0
    let offset = 0
    let waits = 0
    while (offset < data.length) {
      try {
        offset += writeSync(this.fd, data, offset)
      } catch (error) {
        // A non-blocking pipe that is full: wait a little for the reader, as pino's own destination does.
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || ++waits > 1000) return
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
      }
    }
  }

  /** Flushes, and writes any later line at once (the server's last words come after close). */
  close(): void {
    this.closed = true
    this.flush()
    process.off('exit', this.onExit)
  }
}

/** Query parameters whose values are never logged. */
const SECRET_PARAM = /([?&](?:[^=&]*(?:token|secret|password|passphrase|credential|key)[^=&]*)=)[^&]*/gi

/** A URL as logged: secret-looking query values masked. */
export function loggedUrl(url: string): string {
  return url.includes('?') ? url.replace(SECRET_PARAM, '$1[redacted]') : url
}

/** Fastify's logger options: pino at this level, to this stream, with serializers that keep secrets out. */
export function loggerOptions(options: LogOptions): NonNullable<FastifyServerOptions['logger']> {
  return {
    level: options.level,
    stream: options.stream,
    base: {pid: process.pid},
    serializers: {
      req: (req: FastifyRequest) => ({method: req.method, url: loggedUrl(req.url), remoteAddress: req.ip}),
      res: (reply: FastifyReply) => ({statusCode: reply.statusCode}),
    },
  } as NonNullable<FastifyServerOptions['logger']>
}
