import { type Kysely, sql } from 'kysely'

/** The relay's key space: outbox rows carry their bucket; instances lease buckets. */
export const OUTBOX_BUCKETS = 64

/**
 * outbox_events.bucket: which lease covers the row (a hash of the payment id, so one payment's
 * events share a bucket and one relay at a time publishes them). outbox_leases: one row per
 * bucket, with a fencing token that grows with every change of owner. relay_instances: live
 * relays, so each can compute its fair share of buckets.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('outbox_events')
    .addColumn('bucket', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()
  // The relay's one working index. Publishing a row changes its state, and every index holding
  // `state` must then move the row's entry: one such index instead of five roughly halved the
  // database's work per event. It serves the backlog scan in id order (bucket filtered inside
  // the index), the few RETRY and DEAD rows, and cleanup's walk over PUBLISHED rows by id.
  await db.schema
    .createIndex('outbox_events_state_id_bucket')
    .on('outbox_events')
    .columns(['state', 'id', 'bucket'])
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
