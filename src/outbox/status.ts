import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'

export interface OutboxStatus {
  pending: number
  oldestPendingAgeSeconds: number
  dead: number
  pendingByType: Record<string, number>
  relays: { id: string; breaker: string; lastHeartbeatSecondsAgo: number }[]
}

/** The backlog as operators see it (`payrail outbox status`, the admin endpoint). */
export async function outboxStatus(db: Kysely<Database>, now = Date.now()): Promise<OutboxStatus> {
  const backlog = await outboxBacklog(db, now)
  // The queues hold only unpublished rows: published rows, the millions, are never read.
  const byType = await db
    .selectFrom((eb) =>
      eb
        .selectFrom('outbox_pending')
        .select('id')
        .unionAll(eb.selectFrom('outbox_retries').select('id'))
        .as('q'),
    )
    .innerJoin('outbox_events as e', 'e.id', 'q.id')
    .select(['e.event_type', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('e.event_type')
    .execute()
  const dead = await countDead(db)
  const relays = await db.selectFrom('relay_instances').selectAll().orderBy('id').execute()
  return {
    ...backlog,
    dead,
    pendingByType: Object.fromEntries(byType.map((row) => [row.event_type, Number(row.n)])),
    relays: relays.map((relay) => ({
      id: relay.id,
      breaker: relay.breaker_state,
      lastHeartbeatSecondsAgo: Math.round((now - Number(relay.heartbeat_at)) / 100) / 10,
    })),
  }
}

/** The backlog's size and age, for the relay's gauges: two counts and two lookups by key. */
export async function outboxBacklog(
  db: Kysely<Database>,
  now = Date.now(),
): Promise<{ pending: number; oldestPendingAgeSeconds: number }> {
  const row = await db
    .selectNoFrom((eb) => [
      eb.selectFrom('outbox_pending').select(eb.fn.countAll<number>().as('n')).as('pending'),
      eb.selectFrom('outbox_retries').select(eb.fn.countAll<number>().as('n')).as('retry'),
      eb
        .selectFrom('outbox_pending')
        .select((inner) => inner.fn.min('outbox_pending.id').as('id'))
        .as('firstPending'),
      eb
        .selectFrom('outbox_retries')
        .select((inner) => inner.fn.min('outbox_retries.id').as('id'))
        .as('firstRetry'),
    ])
    .executeTakeFirstOrThrow()
  // Ids follow creation time: the oldest unpublished row is the lowest id in either queue.
  const first = [row.firstPending, row.firstRetry].filter((id) => id !== null).map(Number)
  let oldestPendingAgeSeconds = 0
  if (first.length > 0) {
    const oldest = await db
      .selectFrom('outbox_events')
      .select('created_at')
      .where('id', '=', Math.min(...first))
      .executeTakeFirst()
    if (oldest !== undefined) oldestPendingAgeSeconds = Math.max(0, (now - Number(oldest.created_at)) / 1000)
  }
  return { pending: Number(row.pending) + Number(row.retry), oldestPendingAgeSeconds }
}

/** How many events are dead. */
export async function countDead(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('outbox_dead')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

/** Dead events, oldest first, `limit` from `offset`, with their envelope (`payload`) and headers as stored (JSON text). */
export async function listDead(db: Kysely<Database>, limit = 100, offset = 0) {
  return db
    .selectFrom('outbox_dead as d')
    .innerJoin('outbox_events as e', 'e.id', 'd.id')
    .select([
      'e.event_id',
      'e.payment_id',
      'e.event_type',
      'e.topic',
      'd.attempts',
      'd.last_error',
      'e.created_at',
      'd.dead_at',
      'e.payload',
      'e.headers',
    ])
    .orderBy('d.id')
    .limit(limit)
    .offset(offset)
    .execute()
}

/**
 * Puts dead events back in line with fresh attempts; returns how many. Each moves from
 * outbox_dead to outbox_pending in one transaction, so it is in exactly one of them throughout.
 */
export async function replayDead(db: Kysely<Database>, which: { eventId: string } | 'all'): Promise<number> {
  return db.transaction().execute(async (trx) => {
    let select = trx
      .selectFrom('outbox_dead as d')
      .innerJoin('outbox_events as e', 'e.id', 'd.id')
      .select(['e.id', 'e.bucket'])
    if (which !== 'all') select = select.where('e.event_id', '=', which.eventId)
    const rows = await select.orderBy('e.id').execute()
    for (let i = 0; i < rows.length; i += 1000) {
      const part = rows.slice(i, i + 1000).map((row) => ({ id: Number(row.id), bucket: row.bucket }))
      await trx.insertInto('outbox_pending').values(part).execute()
      await trx
        .deleteFrom('outbox_dead')
        .where(
          'id',
          'in',
          part.map((row) => row.id),
        )
        .execute()
    }
    return rows.length
  })
}
