import type { Kysely } from 'kysely'

/**
 * Indexes the retention sweeps walk (db/retention-tasks.ts): without them every batch would scan
 * its whole table for the oldest expired rows. authorization_attempts has (state, created_at)
 * since migration 002.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('idempotency_records_state_updated')
    .on('idempotency_records')
    .columns(['state', 'updated_at'])
    .execute()
  await db.schema
    .createIndex('processed_events_processed_at')
    .on('processed_events')
    .column('processed_at')
    .execute()
}
