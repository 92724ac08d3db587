import {sql, type Kysely, type Migration} from 'kysely'

/**
 * Seats of a concurrent license kept for a user, a host or a client address (one address or a CIDR
 * block), as the RESERVE lines of a floating-license server's options file: nobody else may take
 * them, while the reservation's holders take them first and the license's free seats after.
 */
export const seatReservationsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('seat_reservations')
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('license_id', 'text', (c) => c.notNull().references('licenses.id'))
      .addColumn('subject', 'text', (c) => c.notNull().check(sql`subject in ('user', 'host', 'address')`))
      .addColumn('pattern', 'text', (c) => c.notNull())
      .addColumn('seats', 'integer', (c) => c.notNull().check(sql`seats >= 1`))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute()
    await db.schema.createIndex('seat_reservations_license').on('seat_reservations').column('license_id').execute()
  },
}
