import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'

export interface OutboxStatus {
  pending: number
  oldestPendingAgeSeconds: number
  dead: number
  pendingByType: Record<string, number>
  relays: { id: string; breaker: string; lastHeartbeatSecondsAgo: number }[]
}

/** The backlog as operators see it (`payrail outbox status`, the relay's gauges). */
export async function outboxStatus(db: Kysely<Database>, now = Date.now()): Promise<OutboxStatus> {
  // Each count is a range of the (state, id, bucket) index: published rows, the millions, are never read.
  const pending = await db
    .selectFrom('outbox_events')
    .select([
      'event_type',
      (eb) => eb.fn.countAll<number>().as('n'),
      (eb) => eb.fn.min('created_at').as('oldest'),
    ])
    .where('state', 'in', ['PENDING', 'RETRY'])
    .groupBy('event_type')
    .execute()
  const dead = await db
    .selectFrom('outbox_events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('state', '=', 'DEAD')
    .executeTakeFirstOrThrow()
  const status: OutboxStatus = {
    pending: 0,
    oldestPendingAgeSeconds: 0,
    dead: Number(dead.n),
    pendingByType: {},
    relays: [],
  }
  let oldest = Number.POSITIVE_INFINITY
  for (const row of pending) {
    status.pending += Number(row.n)
    status.pendingByType[row.event_type] = Number(row.n)
    oldest = Math.min(oldest, Number(row.oldest))
  }
  if (Number.isFinite(oldest)) status.oldestPendingAgeSeconds = Math.max(0, (now - oldest) / 1000)
  const relays = await db.selectFrom('relay_instances').selectAll().orderBy('id').execute()
  status.relays = relays.map((relay) => ({
    id: relay.id,
    breaker: relay.breaker_state,
    lastHeartbeatSecondsAgo: Math.round((now - Number(relay.heartbeat_at)) / 100) / 10,
  }))
  return status
}

/** Dead events, oldest first. */
export async function listDead(db: Kysely<Database>, limit = 100) {
  return db
    .selectFrom('outbox_events')
    .select(['event_id', 'payment_id', 'event_type', 'topic', 'attempts', 'last_error', 'created_at'])
    .where('state', '=', 'DEAD')
    .orderBy('id')
    .limit(limit)
    .execute()
}

/** Puts dead events back in line with fresh attempts; returns how many. */
export async function replayDead(
  db: Kysely<Database>,
  which: { eventId: string } | 'all',
  now = Date.now(),
): Promise<number> {
  let update = db
    .updateTable('outbox_events')
    .set({ state: 'PENDING', attempts: 0, available_at: now, last_error: null })
    .where('state', '=', 'DEAD')
  if (which !== 'all') update = update.where('event_id', '=', which.eventId)
  const result = await update.executeTakeFirst()
  return Number(result.numUpdatedRows)
}
