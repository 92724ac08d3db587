import type {Kysely, Migration} from 'kysely'

/**
 * A license's seat policy may make a released seat linger (the LINGER of other floating-license
 * servers): the lease stays, marked released, until `linger` seconds after its release, so a tool
 * that starts and stops often keeps its seat and others cannot take it in between. `released_at`
 * is null while a lease is held; its `expires_at` is then the end of the linger, so counting and
 * the sweeper treat a lingering lease as any other.
 */
export const seatLingerMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('seat_policies').addColumn('linger', 'integer').execute()
    await db.schema.alterTable('leases').addColumn('released_at', 'integer').execute()
  },
}
