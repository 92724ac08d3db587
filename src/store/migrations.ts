import {type Kysely, type Migration, type MigrationProvider, sql} from 'kysely'

import {offline0003} from './migrations/0003_offline.js'
import {seatsMigration} from './migrations/0004_seats.js'
import {tokensMigration} from './migrations/0005_tokens.js'
import {seatCountsMigration} from './migrations/0006_seat_counts.js'
import {seatUserLimitMigration} from './migrations/0007_seat_user_limit.js'
import {seatReservationsMigration} from './migrations/0008_seat_reservations.js'
import {seatUsageMigration} from './migrations/0009_seat_usage.js'
import {seatLingerMigration} from './migrations/0010_seat_linger.js'
import {offlineDeviceCountersMigration} from './migrations/0011_offline_device_counters.js'
import {borrowRequestKeysMigration} from './migrations/0012_borrow_request_keys.js'

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
  '0002_containers': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('groups')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('group_members')
        .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id'))
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('member', 'admin')`))
        .addColumn('added_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('group_members_pk', ['group_id', 'user_id'])
        .execute()
      await db.schema
        .createTable('containers')
        .addColumn('serial', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('local', 'personal', 'enterprise')`))
        .addColumn('owner_user_id', 'text', (c) => c.references('users.id'))
        .addColumn('owner_group_id', 'text', (c) => c.references('groups.id'))
        .addColumn('owner_fingerprint', 'text')
        .addColumn('max_devices', 'integer')
        .addColumn('secret_hash', 'text')
        .addColumn('generation', 'integer', (c) => c.notNull())
        .addColumn('update_counter', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('container_licenses')
        .addColumn('license_id', 'text', (c) => c.primaryKey().references('licenses.id'))
        .addColumn('serial', 'text', (c) => c.notNull().references('containers.serial'))
        .addColumn('added_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema.createIndex('container_licenses_serial').on('container_licenses').column('serial').execute()
      await db.schema
        .createTable('devices')
        .addColumn('fingerprint', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('platform', 'text', (c) => c.notNull())
        .addColumn('sign_key', 'text', (c) => c.notNull())
        .addColumn('enc_key', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.references('users.id'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('activations')
        .addColumn('serial', 'text', (c) => c.notNull().references('containers.serial'))
        .addColumn('fingerprint', 'text', (c) => c.notNull().references('devices.fingerprint'))
        .addColumn('user_id', 'text', (c) => c.references('users.id'))
        .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('active', 'inactive', 'stale')`))
        .addColumn('pending_removal', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('activated_at', 'bigint', (c) => c.notNull())
        .addColumn('deactivated_at', 'bigint')
        .addColumn('last_seen', 'bigint')
        .addColumn('generation', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('activations_pk', ['serial', 'fingerprint'])
        .execute()
      await db.schema.createIndex('activations_fingerprint').on('activations').column('fingerprint').execute()
      await db.schema
        .createTable('saws')
        .addColumn('jti', 'text', (c) => c.primaryKey())
        .addColumn('serial', 'text', (c) => c.notNull().references('containers.serial'))
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('generation', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .execute()
      await db.schema
        .createTable('audit_events')
        .addColumn('seq', 'integer', (c) => c.primaryKey())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('before', 'text')
        .addColumn('after', 'text')
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute()
      await db.schema.createIndex('audit_events_subject').on('audit_events').column('subject').execute()
      await db.schema
        .createTable('audit_head')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute()
    },
  },
  '0003_offline': offline0003,
  '0004_seats': seatsMigration,
  '0005_tokens': tokensMigration,
  '0006_seat_counts': seatCountsMigration,
  '0007_seat_user_limit': seatUserLimitMigration,
  '0008_seat_reservations': seatReservationsMigration,
  '0009_seat_usage': seatUsageMigration,
  '0010_seat_linger': seatLingerMigration,
  '0011_offline_device_counters': offlineDeviceCountersMigration,
  '0012_borrow_request_keys': borrowRequestKeysMigration,
}

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
}

export const LATEST_MIGRATION = Object.keys(migrations).sort().at(-1)!

/**
 * The migrations a store lists as done (Kysely's kysely_migration table) that this version does not
 * know: a newer licadm made them. Empty for a new store. Reads only.
 */
export function unknownMigrations(native: import('better-sqlite3').Database): string[] {
  const table = native.prepare("select 1 from sqlite_master where type = 'table' and name = 'kysely_migration'").get()
  if (!table) return []
  const done = native.prepare('select name from kysely_migration order by name').pluck().all() as string[]
  return done.filter((name) => !Object.hasOwn(migrations, name))
}
