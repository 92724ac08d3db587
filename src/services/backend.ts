import type {Clock} from '../domain/clock.js'
import {openStore} from '../store/store.js'
import {AuditService} from './audit.js'
import {BulkIssuer} from './bulk.js'
import {ContainerService} from './containers.js'
import {localActor, type ServiceContext} from './context.js'
import {DeviceService} from './devices.js'
import {DirectoryService} from './directory.js'
import {KeyRing, type PassphraseSource} from './keyring.js'
import {LicenseService} from './licenses.js'
import {OfflineService} from './offline.js'
import {ProductService} from './products.js'
import {SawService} from './saw.js'
import {TokenService} from './tokens.js'
import {VendorService} from './vendor.js'

/**
 * What commands call. The local backend runs the services over the profile's own store; a remote
 * backend (a licadm server) offers the same services over HTTP.
 */
export interface Services {
  vendor: VendorService
  products: ProductService
  licenses: LicenseService
  bulk: BulkIssuer
  directory: DirectoryService
  containers: ContainerService
  devices: DeviceService
  saws: SawService
  audit: AuditService
  offline: OfflineService
  tokens: TokenService
}

export interface Backend extends Services {
  close(): Promise<void>
}

export interface StorePaths {
  keyDir: string
  storePath: string
}

export async function localBackend(paths: StorePaths, clock: Clock, passphrase: PassphraseSource, actor = localActor()): Promise<Backend> {
  const store = await openStore({path: paths.storePath})
  return {...servicesOver({store, clock, keys: new KeyRing(paths.keyDir, passphrase), actor}), close: () => store.close()}
}

/** The services over one store and key ring, acting as `ctx.actor` (the server makes one set per caller). */
export function servicesOver(ctx: ServiceContext): Services {
  return {
    vendor: new VendorService(ctx),
    products: new ProductService(ctx),
    licenses: new LicenseService(ctx),
    bulk: new BulkIssuer(ctx),
    directory: new DirectoryService(ctx),
    containers: new ContainerService(ctx),
    devices: new DeviceService(ctx),
    saws: new SawService(ctx),
    audit: new AuditService(ctx),
    offline: new OfflineService(ctx),
    tokens: new TokenService(ctx),
  }
}
