import type { Kysely } from 'kysely'

/**
 * What the authorize recovery sweep knows about each attempt, so that it abandons one only on
 * evidence and one bad attempt cannot hold up the others. All times are the database's clock.
 * unknown_since: when the acquirer first said it holds nothing under the reference (a second
 * "unknown" more than the acquirer timeout later abandons the attempt). next_check_at: the
 * sweep leaves the attempt alone until then (the backoff after a failed check). failures and
 * last_error: the failed checks in a row and the latest reason, for operators.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // One column per statement: SQLite adds only one at a time.
  const table = () => db.schema.alterTable('authorization_attempts')
  await table().addColumn('unknown_since', 'bigint').execute()
  await table()
    .addColumn('next_check_at', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute()
  await table()
    .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()
  await table().addColumn('last_error', 'varchar(500)').execute()
}
