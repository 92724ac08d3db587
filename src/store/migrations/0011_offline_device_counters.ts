import {type Kysely, type Migration, sql} from 'kysely'

/**
 * Offline updates count per device on its container: each device linked to a cloud container keeps
 * its own update counter for it (a local container has one device anyway). The table is rebuilt with
 * the counter unique per container and device instead of per container, its rows kept.
 */
export const offlineDeviceCountersMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await sql`create table offline_updates_by_device (
      jti text primary key not null,
      request_jti text not null unique,
      purpose text not null check (purpose in ('activate', 'return')),
      fingerprint text not null,
      serial text not null references containers (serial),
      counter integer not null,
      added text not null,
      removed text not null,
      holds text not null,
      input text not null,
      update_hash text not null,
      file text not null,
      state text not null check (state in ('pending', 'confirmed', 'mismatch')),
      request_iat bigint not null,
      created_at bigint not null,
      confirmed_at bigint,
      receipt_jti text,
      mismatch text,
      constraint offline_updates_counter unique (serial, fingerprint, counter)
    )`.execute(db)
    await sql`insert into offline_updates_by_device select jti, request_jti, purpose, fingerprint, serial, counter, added, removed, holds, input, update_hash, file, state, request_iat, created_at, confirmed_at, receipt_jti, mismatch from offline_updates`.execute(db)
    await sql`drop table offline_updates`.execute(db)
    await sql`alter table offline_updates_by_device rename to offline_updates`.execute(db)
    await db.schema.createIndex('offline_updates_state').on('offline_updates').column('state').execute()
  },
}
