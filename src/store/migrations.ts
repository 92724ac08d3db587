import {type Kysely, type Migration, type MigrationProvider, sql} from 'kysely'

/**
 * Versioned migrations, applied in name order when a store is opened. A migration is never edited
 * once released: a change is a new migration.
 */
const migrations: Record<string, Migration> = {
  '0001_foundation': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('vendor')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('code', 'bigint', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('vendor_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('public_pem', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('active', 'retired')`))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('retired_at', 'bigint')
        .execute()
      await db.schema
        .createTable('products')
        .addColumn('code', 'bigint', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('licenses')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('ticket', 'text', (c) => c.notNull().unique())
        .addColumn('product_code', 'bigint', (c) => c.notNull().references('products.code'))
        .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('single', 'concurrent')`))
        .addColumn('quantity', 'integer', (c) => c.notNull())
        .addColumn('features', 'bigint', (c) => c.notNull())
        .addColumn('units', 'integer')
        .addColumn('not_before', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('available', 'assigned', 'revoked')`))
        .addColumn('customer', 'text')
        .addColumn('metadata', 'text', (c) => c.notNull())
        .addColumn('kid', 'text', (c) => c.notNull())
        .addColumn('jws', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .addColumn('request_key', 'text')
        .addColumn('request_seq', 'integer')
        .addUniqueConstraint('licenses_request_unique', ['request_key', 'request_seq'])
        .execute()
      await db.schema.createIndex('licenses_product').on('licenses').column('product_code').execute()
      await db.schema.createIndex('licenses_customer').on('licenses').column('customer').execute()
      await db.schema.createIndex('licenses_expires').on('licenses').column('expires_at').execute()
      await db.schema
        .createTable('requests')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('count', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
    },
  },
}

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
}

export const LATEST_MIGRATION = Object.keys(migrations).sort().at(-1)!
