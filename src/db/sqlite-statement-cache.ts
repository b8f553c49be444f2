import type BetterSqlite3 from 'better-sqlite3'
import type { SqliteDatabase, SqliteStatement } from 'kysely'

/**
 * Kysely prepares every query afresh, and on SQLite preparing costs as much as running a small
 * statement (about a tenth of the API's CPU in a profile of bench/api). payrail issues the same
 * few dozen statement texts over and over, so the prepared statements are kept, by SQL text, up to
 * `capacity`; the least recently used goes first. SQLite re-prepares a cached statement by itself
 * when the schema changes under it.
 */
export function withStatementCache(database: BetterSqlite3.Database, capacity = 256): SqliteDatabase {
  const statements = new Map<string, SqliteStatement>()
  return {
    close: () => database.close(),
    prepare(sql: string): SqliteStatement {
      let statement = statements.get(sql)
      if (statement !== undefined) {
        statements.delete(sql)
      } else {
        statement = database.prepare(sql)
        if (statements.size >= capacity) {
          const oldest = statements.keys().next().value
          if (oldest !== undefined) statements.delete(oldest)
        }
      }
      statements.set(sql, statement)
      return statement
    },
  }
}
