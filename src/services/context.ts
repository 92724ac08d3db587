import {userInfo} from 'node:os'

import type {Clock} from '../domain/clock.js'
import type {Store} from '../store/store.js'
import type {KeyRing} from './keyring.js'

/** What every service works over: the store, the vendor's keys and the clock. */
export interface ServiceContext {
  store: Store
  keys: KeyRing
  clock: Clock
  /** Who is acting, as audit events record it ("local:alice@default", later a token's name and id). */
  actor?: string
}

/** The actor of commands run on this machine: the OS user. */
export function localActor(): string {
  try {
    return `local:${userInfo().username}`
  } catch {
    return 'local'
  }
}
