import {errorFromEnvelope, LicadmError} from '../domain/errors.js'
import type {Backend} from '../services/backend.js'
import {notRemote, operation} from '../services/operations.js'
import type {ServerClient} from './http.js'

/**
 * The backend of remote commands: the same services as the local backend, each method call sent to
 * the server's POST /v1/ops/<service>.<method>, which runs that very method on its store. Refusals
 * come back as the same LicadmError (code, exit status, message, hint, details), so a command's
 * output and exit status do not depend on where it ran.
 */
export function remoteBackend(client: ServerClient): Backend {
  const call = async (name: string, args: unknown[]): Promise<unknown> => {
    try {
      return await client.request('POST', `/v1/ops/${name}`, {args: args.map((a) => (typeof a === 'function' ? undefined : a))})
    } catch (error) {
      throw withoutTransport(error)
    }
  }
  const serviceProxy = (service: string) =>
    new Proxy(
      {},
      {
        get(_target, method) {
          if (typeof method !== 'string' || method === 'then') return undefined
          const name = `${service}.${method}`
          return (...args: unknown[]) => (operation(name) ? call(name, args) : Promise.reject(notRemote(name)))
        },
      },
    )
  const services = new Map<string, object>()
  return new Proxy({} as Backend, {
    get(_target, key) {
      if (key === 'close') return async () => undefined
      if (typeof key !== 'string' || key === 'then') return undefined
      let proxy = services.get(key)
      if (!proxy) services.set(key, (proxy = serviceProxy(key)))
      return proxy
    },
  })
}

/**
 * A server's refusal as the typed error the service raised; the HTTP status the client notes is
 * transport detail, left out so that a remote refusal reads exactly like a local one.
 */
function withoutTransport(error: unknown): unknown {
  if (!(error instanceof LicadmError) || error.code === 'SERVER_UNREACHABLE' || error.code === 'BAD_RESPONSE') return error
  const {httpStatus: _status, ...details} = error.details ?? {}
  return errorFromEnvelope({code: error.code, exitCode: error.exit, message: error.message, hint: error.hint, details: Object.keys(details).length > 0 ? details : undefined})
}
