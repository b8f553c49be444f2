import { type Kysely, type RawBuilder, sql } from 'kysely'
import type { DialectName } from './database.ts'

/**
 * The database server's clock in epoch milliseconds, as an SQL expression, so that ages compare
 * against one clock whichever host wrote or reads a row (two api hosts whose clocks differ by a
 * minute would otherwise judge the same attempt a minute apart).
 */
export function databaseNowMs(dialect: DialectName): RawBuilder<number> {
  switch (dialect) {
    case 'sqlite':
      // julianday('now') carries milliseconds; unixepoch('subsec') needs SQLite 3.42.
      return sql<number>`cast((julianday('now') - 2440587.5) * 86400000 as integer)`
    case 'mysql':
      // Independent of the session's time zone, unlike unix_timestamp(now(3)).
      return sql<number>`(timestampdiff(microsecond, '1970-01-01 00:00:00', utc_timestamp(6)) div 1000)`
    case 'postgres':
      return sql<number>`floor(extract(epoch from clock_timestamp()) * 1000)::bigint`
  }
}

/** Reads the database server's clock once, in epoch milliseconds. */
// biome-ignore lint/suspicious/noExplicitAny: any schema; the query touches no table
export async function readDatabaseNow(db: Kysely<any>, dialect: DialectName): Promise<number> {
  const row = await sql<{ now: number | string }>`select ${databaseNowMs(dialect)} as now`.execute(db)
  return Number(row.rows[0]?.now)
}
