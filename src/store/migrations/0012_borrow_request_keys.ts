import {sql, type Kysely, type Migration} from 'kysely'

/**
 * A borrow may carry an idempotency key (`seat borrow --idempotency-key`): a script that runs again
 * gets the borrow it made, not a second seat. The key and a fingerprint of what was asked are kept
 * on the borrow's row while it lasts; one borrow per key.
 */
export const borrowRequestKeysMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('leases').addColumn('request_key', 'text').execute()
    await db.schema.alterTable('leases').addColumn('request_fingerprint', 'text').execute()
    await sql`create unique index leases_request_key on leases (request_key) where request_key is not null`.execute(db)
  },
}
