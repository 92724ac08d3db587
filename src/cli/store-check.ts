import type {StoreCheck} from '../store/backup.js'

/** "1.2 MB, integrity ok; 10 licenses, 2 containers, …; schema 0012_…": a store check on one line. */
export function describeCheck(check: StoreCheck): string {
  const size = check.bytes >= 1_000_000 ? `${(check.bytes / 1_000_000).toFixed(1)} MB` : `${Math.ceil(check.bytes / 1000)} kB`
  const rows = Object.entries(check.rows).map(([table, n]) => `${n} ${table.replaceAll('_', ' ')}`)
  const schema = check.schema.version === check.schema.latest ? `schema ${check.schema.version}` : `schema ${check.schema.version} (this licadm updates it to ${check.schema.latest} when it opens it)`
  return `${size}, integrity ok; ${rows.join(', ')}; ${schema}`
}
