import type {Kysely, Migration} from 'kysely'

/**
 * Seat usage per license and day (UTC), for the license server's usage report: how many seats were
 * in use at most, how many checkouts were granted and refused for want of a free seat, and how many
 * leases were reclaimed after their clients stopped heartbeating; and per user, their checkouts and
 * denials. The server counts in memory and adds its counts here about once a second.
 */
export const seatUsageMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('seat_usage_days')
      .addColumn('license_id', 'text', (c) => c.notNull().references('licenses.id'))
      .addColumn('day', 'text', (c) => c.notNull())
      .addColumn('peak', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('checkouts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('denials', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('reclaimed', 'integer', (c) => c.notNull().defaultTo(0))
      .addPrimaryKeyConstraint('seat_usage_days_pk', ['license_id', 'day'])
      .execute()
    await db.schema.createIndex('seat_usage_days_day').on('seat_usage_days').column('day').execute()
    await db.schema
      .createTable('seat_usage_users')
      .addColumn('license_id', 'text', (c) => c.notNull().references('licenses.id'))
      .addColumn('day', 'text', (c) => c.notNull())
      .addColumn('user', 'text', (c) => c.notNull())
      .addColumn('checkouts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('denials', 'integer', (c) => c.notNull().defaultTo(0))
      .addPrimaryKeyConstraint('seat_usage_users_pk', ['license_id', 'day', 'user'])
      .execute()
    await db.schema.createIndex('seat_usage_users_day').on('seat_usage_users').column('day').execute()
  },
}
