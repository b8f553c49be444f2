import assert from 'node:assert/strict'
import { test } from 'node:test'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { RetentionSweeper } from '../../src/db/retention.ts'
import { outboxRetention } from '../../src/outbox/cleanup.ts'
import { OutboxStore } from '../../src/outbox/store.ts'
import { quietLogger } from '../../support/logger.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'
import { type FixtureRow, insertOutboxRows, type OutboxState } from '../helpers/outbox.ts'

for (const dialect of dialects) {
  test(`${dialect}: cleanup deletes published rows past retention in batches, and no row still in a queue`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const { db } = database.open()
    await migrateToLatest(db, dialect)
    const now = Date.now()
    const hour = 3_600_000
    const row = (n: number, state: OutboxState, createdAt: number): FixtureRow => ({
      event_id: `e-${n}`,
      payment_id: `p-${n}`,
      merchant_id: 'm',
      sequence: 1,
      topic: 't',
      event_type: 'PAYMENT_AUTHORIZED',
      payload: '{}',
      headers: '{}',
      created_at: createdAt,
      state,
    })
    // Old rows still in a queue come first: the walk steps over them.
    await insertOutboxRows(db, [
      row(101, 'PENDING', now - 48 * hour),
      row(102, 'DEAD', now - 48 * hour),
      row(103, 'RETRY', now - 48 * hour),
      ...Array.from({ length: 25 }, (_, n) => row(n, 'PUBLISHED', now - 25 * hour)),
      row(100, 'PUBLISHED', now - hour),
    ])
    const cleanup = new RetentionSweeper({
      tasks: [outboxRetention(new OutboxStore(db), 24 * hour)],
      logger: quietLogger(),
      batch: 10,
    })
    assert.equal((await cleanup.sweep()).get('outbox_events'), 25)
    const left = await db.selectFrom('outbox_events').select('event_id').orderBy('event_id').execute()
    assert.deepEqual(
      left.map((r) => r.event_id),
      ['e-100', 'e-101', 'e-102', 'e-103'],
    )
    assert.equal((await cleanup.sweep()).get('outbox_events'), 0)
  })
}
