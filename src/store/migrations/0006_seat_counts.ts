import {type Kysely, type Migration, sql} from 'kysely'

/** A lease's contribution to its license's counters: station leases count apart (once per station). */
const plain = (row: 'new' | 'old') => `case when ${row}.kind = 'lease' and ${row}.mode = 'station' then 0 else ${row}.seats end`
const station = (row: 'new' | 'old') => `case when ${row}.kind = 'lease' and ${row}.mode = 'station' then 1 else 0 end`

/**
 * Seats taken per license, kept by triggers on `leases`, so a checkout reads its license's usage
 * from one row instead of summing every lease the license has (a 10,000-seat license in full use
 * would be 10,000 rows per checkout). The counters include leases past their expiry that the sweeper
 * has not deleted yet: a checkout subtracts those (an index range that is nearly always empty).
 * Every path that adds or deletes a lease (checkout, borrow, release, return, force-release, the
 * sweeper, a crash's rollback) keeps them right, since the triggers run in its transaction.
 * The leases table is rebuilt keyed by its id (WITHOUT ROWID), its rows kept.
 */
export const seatCountsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    // Leases keyed by their id alone (WITHOUT ROWID): one b-tree fewer to change per checkout and
    // release than a rowid table with a separate primary-key index. Same columns and constraints.
    await sql`create table leases_by_id (
      id text primary key not null,
      license_id text not null references licenses (id),
      product_code bigint not null,
      kind text not null check (kind in ('lease', 'borrow')),
      mode text not null check (mode in ('checkout', 'station', 'exclusive')),
      "user" text not null,
      host text not null,
      process text,
      address text,
      seats integer not null,
      created_at bigint not null,
      renewed_at bigint not null,
      expires_at bigint not null
    ) without rowid`.execute(db)
    await sql`insert into leases_by_id select id, license_id, product_code, kind, mode, "user", host, process, address, seats, created_at, renewed_at, expires_at from leases`.execute(db)
    await sql`drop table leases`.execute(db)
    await sql`alter table leases_by_id rename to leases`.execute(db)
    await db.schema.createIndex('leases_license_expires').on('leases').columns(['license_id', 'expires_at']).execute()
    await db.schema.createIndex('leases_expires').on('leases').column('expires_at').execute()

    await db.schema
      .createTable('seat_counts')
      .addColumn('license_id', 'text', (c) => c.primaryKey().references('licenses.id'))
      /** Seats of leases and borrows that are not station leases. */
      .addColumn('plain', 'integer', (c) => c.notNull())
      /** Station leases (the seats they take are their distinct user and host pairs). */
      .addColumn('stations', 'integer', (c) => c.notNull())
      .execute()
    const add = (row: 'new' | 'old', sign: '+' | '-') => `
      insert into seat_counts (license_id, plain, stations) values (${row}.license_id, ${sign}(${plain(row)}), ${sign}(${station(row)}))
        on conflict (license_id) do update set plain = plain + excluded.plain, stations = stations + excluded.stations;`
    await sql.raw(`create trigger leases_count_insert after insert on leases begin ${add('new', '+')} end`).execute(db)
    await sql.raw(`create trigger leases_count_delete after delete on leases begin ${add('old', '-')} end`).execute(db)
    await sql.raw(`create trigger leases_count_update after update of license_id, kind, mode, seats on leases begin ${add('old', '-')} ${add('new', '+')} end`).execute(db)
    await sql
      .raw(`insert into seat_counts (license_id, plain, stations) select license_id, sum(${plain('old').replaceAll('old.', '')}), sum(${station('old').replaceAll('old.', '')}) from leases group by license_id`)
      .execute(db)
  },
}
