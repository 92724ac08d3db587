import type {License} from '../domain/license.js'
import type {Product} from '../services/products.js'
import type {SeatUsage} from '../services/seats.js'
import {validityAt} from '../domain/license.js'
import {isoSeconds} from '../domain/values.js'
import {date, details, hex32, type Column} from './render.js'

/**
 * The columns of a license server's concurrent licenses ("seat list", "server status"), headed
 * `usedHeader` for the seats used of all; RESERVED only when some license has seats reserved (for
 * the users, hosts or addresses of "server reservations").
 */
export function seatUsageColumns(licenses: ReadonlyArray<Omit<SeatUsage, 'holders'>>, usedHeader: string): Array<Column<Omit<SeatUsage, 'holders'>>> {
  return [
    {header: 'LICENSE', get: (l) => l.licenseId},
    {header: 'PRODUCT', get: (l) => l.productCode},
    {header: 'MODE', get: (l) => l.mode},
    {header: usedHeader, get: (l) => `${l.used}/${l.quantity}`},
    {header: 'BORROWED', get: (l) => l.borrowed},
    ...(licenses.some((l) => l.reserved > 0) ? [{header: 'RESERVED', get: (l: Omit<SeatUsage, 'holders'>) => l.reserved}] : []),
  ]
}

/** A license as `--json` shows it: times as ISO strings, validity spelled out. */
export function licenseJson(l: License, nowSeconds: number) {
  return {
    id: l.id,
    ticket: l.ticket,
    productCode: l.productCode,
    kind: l.kind,
    quantity: l.quantity,
    features: l.features,
    units: l.units,
    notBefore: isoSeconds(l.notBefore),
    expiresAt: isoSeconds(l.expiresAt),
    status: l.status,
    validity: validityAt(l, nowSeconds),
    customer: l.customer,
    metadata: l.metadata,
    kid: l.kid,
    createdAt: isoSeconds(l.createdAt),
    revokedAt: isoSeconds(l.revokedAt),
  }
}

export function licenseDetails(l: License, nowSeconds: number): string {
  return details([
    ['License', l.id],
    ['Ticket', l.ticket],
    ['Product', l.productCode],
    ['Kind', l.kind],
    ['Quantity', l.quantity],
    ['Features', `${hex32(l.features)} (${l.features})`],
    ['Units', l.units ?? 'unlimited'],
    ['Valid from', date(l.notBefore)],
    ['Expires', date(l.expiresAt)],
    ['Status', `${l.status} (${validityAt(l, nowSeconds)})`],
    ['Customer', l.customer ?? '-'],
    ['Metadata', Object.keys(l.metadata).length === 0 ? '-' : Object.entries(l.metadata).map(([k, v]) => `${k}=${v}`).join(', ')],
    ['Signed by', l.kid],
    ['Created', date(l.createdAt)],
    ...(l.revokedAt === null ? [] : [['Revoked', date(l.revokedAt)] as [string, string]]),
  ])
}

export const licenseColumns: Array<Column<License>> = [
  {header: 'ID', get: (l) => l.id},
  {header: 'TICKET', get: (l) => l.ticket},
  {header: 'PRODUCT', get: (l) => l.productCode},
  {header: 'KIND', get: (l) => l.kind},
  {header: 'QTY', get: (l) => l.quantity},
  {header: 'STATUS', get: (l) => l.status},
  {header: 'CUSTOMER', get: (l) => l.customer ?? ''},
  {header: 'EXPIRES', get: (l) => date(l.expiresAt)},
]

export function productJson(p: Product) {
  return {code: p.code, name: p.name, createdAt: isoSeconds(p.createdAt), licenses: p.licenses}
}
