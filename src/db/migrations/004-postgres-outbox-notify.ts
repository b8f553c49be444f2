import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../database.ts'

/** The channel on which PostgreSQL announces new outbox rows (see outbox/postgres-wakeup.ts). */
export const OUTBOX_CHANNEL = 'payrail_outbox'

/**
 * On PostgreSQL, every statement that inserts outbox rows sends a NOTIFY, delivered when its
 * transaction commits (and merged with others of the same transaction), so a relay in another
 * process polls at once instead of at its next interval. A trigger rather than code in the
 * writer: every writer, present or future, notifies. The other dialects have no such channel.
 */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  if (dialect !== 'postgres') return
  await sql
    .raw(`create or replace function payrail_outbox_notify() returns trigger language plpgsql as $$
begin
  perform pg_notify('${OUTBOX_CHANNEL}', '');
  return null;
end
$$`)
    .execute(db)
  await sql
    .raw(`create trigger outbox_events_notify after insert on outbox_events
for each statement execute procedure payrail_outbox_notify()`)
    .execute(db)
}
