import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../database.ts'

/** The relay's key space: outbox rows carry their bucket; instances lease buckets. */
export const OUTBOX_BUCKETS = 64

/**
 * outbox_events.bucket: which lease covers the row (a hash of the payment id, so one payment's
 * events share a bucket and one relay at a time publishes them). outbox_leases: one row per
 * bucket, with a fencing token that grows with every change of owner. relay_instances: live
 * relays, so each can compute its fair share of buckets.
 *
 * Where an outbox row stands is the table that holds its id: outbox_pending (waiting for its
 * first send), outbox_retries (refused by the broker, due again at available_at), outbox_dead
 * (in payment.dlq), or none of them (published). Publishing is then a delete from a two-column
 * table, and the wide event row is written once and never updated: updating a state column on
 * it cost MariaDB four times the CPU per event (the row's undo record and the move of its
 * entry in a state index), and PostgreSQL a new version of the whole row.
 */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  await db.schema
    .alterTable('outbox_events')
    .addColumn('bucket', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()

  // The same integer type as outbox_events.id, without its sequence: the ids are copied.
  const id = sql.raw(dialect === 'sqlite' ? 'integer' : 'bigint')
  await db.schema
    .createTable('outbox_pending')
    .addColumn('id', id, (c) => c.primaryKey())
    .addColumn('bucket', 'integer', (c) => c.notNull())
    .execute()
  await db.schema
    .createTable('outbox_retries')
    .addColumn('id', id, (c) => c.primaryKey())
    .addColumn('bucket', 'integer', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('available_at', 'bigint', (c) => c.notNull())
    .addColumn('last_error', 'varchar(1000)', (c) => c.notNull())
    .execute()
  await db.schema
    .createTable('outbox_dead')
    .addColumn('id', id, (c) => c.primaryKey())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('last_error', 'varchar(1000)', (c) => c.notNull())
    .addColumn('dead_at', 'bigint', (c) => c.notNull())
    .execute()

  await db.schema
    .createTable('outbox_leases')
    .addColumn('bucket', 'integer', (c) => c.primaryKey())
    .addColumn('owner', 'varchar(64)')
    .addColumn('token', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('expires_at', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute()
  const buckets = Array.from({ length: OUTBOX_BUCKETS }, (_, bucket) => ({
    bucket,
    owner: null,
    token: 0,
    expires_at: 0,
  }))
  await (
    db as Kysely<{
      outbox_leases: { bucket: number; owner: string | null; token: number; expires_at: number }
    }>
  )
    .insertInto('outbox_leases')
    .values(buckets)
    .execute()

  await db.schema
    .createTable('relay_instances')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
    .addColumn('breaker_state', 'varchar(16)', (c) => c.notNull().defaultTo(sql`'closed'`))
    .execute()
}
