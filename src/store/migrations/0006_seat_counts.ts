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
 */
export const seatCountsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('seat_counts')
      .addColumn('license_id', 'text', (c) => c.primaryKey().references('licenses.id'))
      /** Seats of leases and borrows that are not station leases. */
      .addColumn('plain', 'integer', (c) => c.notNull())
      /** Station leases (the seats they take are their distinct user and host pairs). */
      .addColumn('stations', 'integer', (c) => c.notNull())
      .execute()
    const add = (row: 'new' | 'old', sign: '+' | '-') => `
      insert or ignore into seat_counts (license_id, plain, stations) values (${row}.license_id, 0, 0);
      update seat_counts set plain = plain ${sign} ${plain(row)}, stations = stations ${sign} ${station(row)} where license_id = ${row}.license_id;`
    await sql.raw(`create trigger leases_count_insert after insert on leases begin ${add('new', '+')} end`).execute(db)
    await sql.raw(`create trigger leases_count_delete after delete on leases begin ${add('old', '-')} end`).execute(db)
    await sql.raw(`create trigger leases_count_update after update of license_id, kind, mode, seats on leases begin ${add('old', '-')} ${add('new', '+')} end`).execute(db)
    await sql
      .raw(`insert into seat_counts (license_id, plain, stations) select license_id, sum(${plain('old').replaceAll('old.', '')}), sum(${station('old').replaceAll('old.', '')}) from leases group by license_id`)
      .execute(db)
  },
}
