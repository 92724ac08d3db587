import type {Kysely, Migration} from 'kysely'

/**
 * A license's seat policy may cap the seats one user holds at once (leases and borrows), as the
 * MAX lines of a floating-license server's options file do, so one user cannot take them all.
 * Null: no cap. The column is only read when a license has a policy, so checkouts of other
 * licenses do no extra work.
 */
export const seatUserLimitMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('seat_policies').addColumn('max_per_user', 'integer').execute()
  },
}
