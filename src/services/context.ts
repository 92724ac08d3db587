import type {Clock} from '../domain/clock.js'
import type {Store} from '../store/store.js'
import type {KeyRing} from './keyring.js'

/** What every service works over: the store, the vendor's keys and the clock. */
export interface ServiceContext {
  store: Store
  keys: KeyRing
  clock: Clock
}
