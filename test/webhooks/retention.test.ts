import assert from 'node:assert/strict'
import { test } from 'node:test'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { webhookLogRetention } from '../../src/webhooks/retention.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'

for (const dialect of dialects) {
  test(`${dialect}: the log retention prunes old DELIVERED and FAILED deliveries with their attempts, never PENDING or recent ones`, {
    timeout: 60_000,
  }, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const { db } = database.open(2)
    await migrateToLatest(db, dialect)
    const row = (id: string, state: string, updatedAt: number) => ({
      id,
      endpoint_id: 'ep',
      merchant_id: 'm',
      event_id: `e-${id}`,
      event_type: 'payment.captured',
      payment_id: 'p',
      sequence: 1,
      body: '{}',
      state,
      attempts: 1,
      next_attempt_at: 0,
      lease_until: 0,
      retry_from: 0,
      last_status: null,
      last_error: null,
      last_latency_ms: null,
      created_at: 0,
      updated_at: updatedAt,
      delivered_at: null,
    })
    await db
      .insertInto('webhook_deliveries')
      .values([
        row('old-ok', 'DELIVERED', 100),
        row('old-failed', 'FAILED', 100),
        row('old-pending', 'PENDING', 100),
        row('new-ok', 'DELIVERED', 5000),
      ])
      .execute()
    await db
      .insertInto('webhook_attempts')
      .values(
        ['old-ok', 'old-failed', 'old-pending', 'new-ok'].map((id) => ({
          delivery_id: id,
          attempt: 1,
          at: 0,
          status: 204,
          error: null,
          latency_ms: 1,
        })),
      )
      .execute()
    const task = webhookLogRetention(db, 1000)
    assert.deepEqual(await task.prune(1000, 1, 0), { deleted: 1, done: false, cursor: 0 })
    assert.deepEqual(await task.prune(1000, 10, 0), { deleted: 1, done: true, cursor: 0 })
    const left = (await db.selectFrom('webhook_deliveries').select('id').orderBy('id').execute()).map(
      (r) => r.id,
    )
    assert.deepEqual(left, ['new-ok', 'old-pending'])
    const attempts = (
      await db.selectFrom('webhook_attempts').select('delivery_id').orderBy('delivery_id').execute()
    ).map((r) => r.delivery_id)
    assert.deepEqual(attempts, ['new-ok', 'old-pending'])
  })
}
