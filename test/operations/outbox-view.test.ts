import assert from 'node:assert/strict'
import { test } from 'node:test'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { outboxView } from '../../src/operations/outbox-view.ts'
import { countDead, listDead } from '../../src/outbox/status.ts'
import { OutboxStore } from '../../src/outbox/store.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'
import { seedEvents } from '../helpers/outbox.ts'

// The outbox view's database reads on every dialect: leases per relay, unleased buckets, and
// the dead letters a page at a time with their envelope and headers.
for (const dialect of dialects) {
  test(`${dialect}: the outbox view shows each relay's live leases, and dead letters page with envelope and headers`, {
    timeout: 60_000,
  }, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const { db } = database.open(2)
    await migrateToLatest(db, dialect)
    const now = Date.now()
    const { eventIds } = await seedEvents(db, {
      dialect,
      payments: 3,
      perPayment: 1,
      topic: 'payment.authorized',
    })
    await db
      .insertInto('relay_instances')
      .values([
        { id: 'relay-a', heartbeat_at: now - 1500, breaker_state: 'closed' },
        { id: 'relay-b', heartbeat_at: now, breaker_state: 'open' },
      ])
      .execute()
    const lease = (owner: string, buckets: number[], expiresAt: number) =>
      db
        .updateTable('outbox_leases')
        .set({ owner, expires_at: expiresAt })
        .where('bucket', 'in', buckets)
        .execute()
    await lease('relay-a', [0, 1, 2], now + 4000)
    await lease('relay-b', [10], now + 9000)
    // Expired: held by nobody any more.
    await lease('relay-b', [11], now - 1)

    const rows = await db.selectFrom('outbox_pending').select('id').orderBy('id').execute()
    const store = new OutboxStore(db)
    for (const row of rows.slice(0, 2)) await store.markDead(row, 20, 'refused', now)

    const view = await outboxView(db, undefined, () => now)
    assert.equal(view.pending, 1)
    assert.equal(view.dead, 2)
    assert.deepEqual(
      view.relays.map((r) => [
        r.id,
        r.breaker,
        r.buckets,
        r.leaseExpiresInSeconds,
        r.lastHeartbeatSecondsAgo,
      ]),
      [
        ['relay-a', 'closed', [0, 1, 2], 4, 1.5],
        ['relay-b', 'open', [10], 9, 0],
      ],
    )
    assert.deepEqual([view.buckets, view.unleasedBuckets], [64, 60])
    assert.deepEqual([view.publishedPerSecond, view.publishedTotal], [null, null], 'no scrapes: no rate')

    assert.equal(await countDead(db), 2)
    const [first] = await listDead(db, 1, 0)
    const [second] = await listDead(db, 1, 1)
    assert.deepEqual([first?.event_id, second?.event_id], eventIds.slice(0, 2))
    assert.deepEqual(await listDead(db, 1, 2), [])
    assert.equal(JSON.parse(first?.payload ?? '{}').eventId, eventIds[0])
    assert.equal(JSON.parse(first?.headers ?? '{}')['event-id'], eventIds[0])
    assert.equal(Number(first?.dead_at), now)
  })
}
