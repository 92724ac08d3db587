import {type Kysely, type Migration, sql} from 'kysely'

/**
 * API tokens of the license server, kept as SHA-256 hashes. A name is unique among tokens that are
 * not revoked (a partial index, in SQLite and PostgreSQL alike), so a revoked token's name can be
 * reused and the old record stays for the audit trail. Times are epoch seconds.
 */
export const tokensMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('vendor', 'group-admin', 'client')`))
      // A deleted group leaves its tokens without a group; a group-admin token without one is refused.
      .addColumn('group_id', 'text', (c) => c.references('groups.id').onDelete('set null'))
      .addColumn('secret_hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .addColumn('last_used_at', 'bigint')
      .execute()
    await db.schema.createIndex('tokens_name_active').on('tokens').column('name').unique().where(sql.ref('revoked_at'), 'is', null).execute()
    await db.schema.createIndex('tokens_group').on('tokens').column('group_id').execute()
  },
}
