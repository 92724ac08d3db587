import {type Kysely, type Migration, sql} from 'kysely'

/**
 * The license server's tables: seat leases and borrows, seat policies per license, and access rules
 * per product. Times are epoch seconds.
 */
export const seatsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('leases')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('license_id', 'text', (c) => c.notNull().references('licenses.id'))
      .addColumn('product_code', 'bigint', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('lease', 'borrow')`))
      .addColumn('mode', 'text', (c) => c.notNull().check(sql`mode in ('checkout', 'station', 'exclusive')`))
      .addColumn('user', 'text', (c) => c.notNull())
      .addColumn('host', 'text', (c) => c.notNull())
      .addColumn('process', 'text')
      .addColumn('address', 'text')
      /** How many seats this lease takes: 1, or the whole quantity for an exclusive lease. */
      .addColumn('seats', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('renewed_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute()
    await db.schema.createIndex('leases_license_expires').on('leases').columns(['license_id', 'expires_at']).execute()
    await db.schema.createIndex('leases_expires').on('leases').column('expires_at').execute()
    await db.schema
      .createTable('seat_policies')
      .addColumn('license_id', 'text', (c) => c.primaryKey().references('licenses.id'))
      .addColumn('mode', 'text', (c) => c.notNull().check(sql`mode in ('checkout', 'station', 'exclusive')`))
      .addColumn('lease_ttl', 'integer')
      .addColumn('borrow_max_seconds', 'integer')
      .addColumn('borrow_max_seats', 'integer')
      .execute()
    await db.schema
      .createTable('access_rules')
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('product_code', 'bigint', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull().check(sql`action in ('allow', 'deny')`))
      .addColumn('subject', 'text', (c) => c.notNull().check(sql`subject in ('user', 'host', 'address')`))
      .addColumn('pattern', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute()
    await db.schema.createIndex('access_rules_product').on('access_rules').column('product_code').execute()
    await db.schema
      .createTable('access_defaults')
      .addColumn('product_code', 'bigint', (c) => c.primaryKey())
      .addColumn('action', 'text', (c) => c.notNull().check(sql`action in ('allow', 'deny')`))
      .execute()
  },
}
