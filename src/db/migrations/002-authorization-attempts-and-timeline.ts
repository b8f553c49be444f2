import type { Kysely } from 'kysely'

/**
 * authorization_attempts: an authorize is recorded before the acquirer is called, so that a crash
 * between the acquirer's answer and the commit leaves a row the recovery sweep resolves.
 * payment_events: each payment's timeline, kept after the outbox rows are cleaned up.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('authorization_attempts')
    .addColumn('payment_id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('merchant_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('idempotency_key', 'varchar(128)', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'varchar(3)', (c) => c.notNull())
    .addColumn('state', 'varchar(16)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute()
  await db.schema
    .createIndex('authorization_attempts_state_created')
    .on('authorization_attempts')
    .columns(['state', 'created_at'])
    .execute()

  await db.schema
    .createTable('payment_events')
    .addColumn('event_id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('payment_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('sequence', 'integer', (c) => c.notNull())
    .addColumn('event_type', 'varchar(64)', (c) => c.notNull())
    .addColumn('occurred_at', 'bigint', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addUniqueConstraint('payment_events_payment_sequence', ['payment_id', 'sequence'])
    .execute()
}
