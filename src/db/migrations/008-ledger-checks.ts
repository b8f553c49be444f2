import type { Kysely } from 'kysely'
import type { DialectName } from '../database.ts'

/**
 * ledger_checks: the result of each `payrail ledger check` (CLI or POST /api/admin/ledger/check),
 * so the dashboard shows the last one without running a check that reads every payment. `report`
 * holds the counts and the first offenders as JSON (bounded: 50 of each kind). Rows are few (one
 * per check); payrail keeps the last 100.
 */
export async function up(db: Kysely<unknown>, _dialect: DialectName): Promise<void> {
  await db.schema
    .createTable('ledger_checks')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('checked_at', 'bigint', (c) => c.notNull())
    .addColumn('source', 'varchar(16)', (c) => c.notNull())
    .addColumn('clean', 'integer', (c) => c.notNull())
    .addColumn('report', 'text', (c) => c.notNull())
    .execute()
  await db.schema
    .createIndex('ledger_checks_checked_at')
    .on('ledger_checks')
    .columns(['checked_at'])
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('ledger_checks').execute()
}
