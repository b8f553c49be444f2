import assert from 'node:assert/strict'
import { test } from 'node:test'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { outboxBacklog, outboxStatus } from '../../src/outbox/status.ts'
import { OutboxStore } from '../../src/outbox/store.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'
import {
  type FixtureRow,
  insertOutboxRows,
  type OutboxState,
  outboxRows,
  outboxStateCounts,
} from '../helpers/outbox.ts'

for (const dialect of dialects) {
  test(`${dialect}: a row's state is the queue holding it; counts, backlog and status agree, and moves keep one queue per row`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const { db } = database.open()
    await migrateToLatest(db, dialect)
    const now = Date.now()
    const row = (n: number, state: OutboxState, ageMs: number): FixtureRow => ({
      event_id: `e-${n}`,
      payment_id: `p-${n}`,
      merchant_id: 'm',
      sequence: 1,
      topic: 'payment.authorized',
      event_type: n % 2 === 0 ? 'PAYMENT_AUTHORIZED' : 'PAYMENT_CAPTURED',
      payload: '{}',
      headers: '{}',
      created_at: now - ageMs,
      state,
    })
    assert.deepEqual(await outboxBacklog(db, now), { pending: 0, oldestPendingAgeSeconds: 0 })
    await insertOutboxRows(db, [
      row(1, 'PUBLISHED', 90_000),
      row(2, 'RETRY', 60_000),
      row(3, 'PENDING', 30_000),
      row(4, 'PENDING', 20_000),
      row(5, 'DEAD', 10_000),
      row(6, 'PUBLISHED', 5_000),
    ])
    assert.deepEqual(await outboxStateCounts(db), { PENDING: 2, RETRY: 1, DEAD: 1, PUBLISHED: 2 })
    // The oldest unpublished row is the refused one, the lowest id in either queue.
    assert.deepEqual(await outboxBacklog(db, now), { pending: 3, oldestPendingAgeSeconds: 60 })
    const status = await outboxStatus(db, now)
    assert.deepEqual([status.pending, status.dead, status.oldestPendingAgeSeconds], [3, 1, 60])
    assert.deepEqual(status.pendingByType, { PAYMENT_AUTHORIZED: 2, PAYMENT_CAPTURED: 1 })

    const store = new OutboxStore(db)
    const ids = new Map(
      (await db.selectFrom('outbox_events').select(['id', 'event_id', 'bucket']).execute()).map(
        (r) => [r.event_id, { id: Number(r.id), bucket: r.bucket }] as const,
      ),
    )
    const event = (eventId: string) => ids.get(eventId) ?? assert.fail(eventId)
    await store.markRetry(event('e-3'), 1, now + 1000, 'too large')
    await store.markRetry(event('e-2'), 2, now + 2000, 'still too large')
    await store.markPublished([{ ...event('e-4'), refused: false }])
    await store.markDead(event('e-2'), 3, 'gave up', now)
    const states = Object.fromEntries((await outboxRows(db)).map((r) => [r.eventId, [r.state, r.attempts]]))
    assert.deepEqual(states, {
      'e-1': ['PUBLISHED', 0],
      'e-2': ['DEAD', 3],
      'e-3': ['RETRY', 1],
      'e-4': ['PUBLISHED', 0],
      'e-5': ['DEAD', 0],
      'e-6': ['PUBLISHED', 0],
    })
    await store.markPublished([{ ...event('e-3'), refused: true }])
    assert.deepEqual(await outboxStateCounts(db), { PENDING: 0, RETRY: 0, DEAD: 2, PUBLISHED: 4 })
    // A relay that lost its bucket may still report a refusal for a row another relay published:
    // the row stays published rather than go out again after its payment's later events.
    await store.markRetry(event('e-4'), 1, now, 'late refusal')
    await store.markDead(event('e-1'), 20, 'late refusal', now)
    assert.deepEqual(await outboxStateCounts(db), { PENDING: 0, RETRY: 0, DEAD: 2, PUBLISHED: 4 })
    assert.deepEqual(await outboxBacklog(db, now), { pending: 0, oldestPendingAgeSeconds: 0 })
  })
}
