import {type Kysely, type Migration, sql} from 'kysely'

/**
 * Offline activation: one row per update the vendor issued (keyed by the request it answers, so a
 * re-fulfilled request gets the same update), and one row per receipt received.
 */
export const offline0003: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('offline_updates')
      .addColumn('jti', 'text', (c) => c.primaryKey())
      .addColumn('request_jti', 'text', (c) => c.notNull().unique())
      .addColumn('purpose', 'text', (c) => c.notNull().check(sql`purpose in ('activate', 'return')`))
      .addColumn('fingerprint', 'text', (c) => c.notNull())
      .addColumn('serial', 'text', (c) => c.notNull().references('containers.serial'))
      .addColumn('counter', 'integer', (c) => c.notNull())
      .addColumn('added', 'text', (c) => c.notNull())
      .addColumn('removed', 'text', (c) => c.notNull())
      .addColumn('holds', 'text', (c) => c.notNull())
      .addColumn('input', 'text', (c) => c.notNull())
      .addColumn('update_hash', 'text', (c) => c.notNull())
      .addColumn('file', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('pending', 'confirmed', 'mismatch')`))
      .addColumn('request_iat', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('confirmed_at', 'bigint')
      .addColumn('receipt_jti', 'text')
      .addColumn('mismatch', 'text')
      .addUniqueConstraint('offline_updates_counter', ['serial', 'counter'])
      .execute()
    await db.schema.createIndex('offline_updates_state').on('offline_updates').column('state').execute()
    await db.schema
      .createTable('offline_receipts')
      .addColumn('jti', 'text', (c) => c.primaryKey())
      .addColumn('update_jti', 'text', (c) => c.notNull())
      .addColumn('fingerprint', 'text', (c) => c.notNull())
      .addColumn('serial', 'text', (c) => c.notNull())
      .addColumn('counter', 'integer', (c) => c.notNull())
      .addColumn('result', 'text', (c) => c.notNull().check(sql`result in ('confirmed', 'mismatch')`))
      .addColumn('reason', 'text')
      .addColumn('received_at', 'bigint', (c) => c.notNull())
      .execute()
  },
}
