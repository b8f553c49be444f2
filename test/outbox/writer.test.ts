import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import type { Kysely } from 'kysely'
import { migrateToLatest } from '../../src/db/migrate.ts'
import type { Database } from '../../src/db/schema.ts'
import { bucketOf } from '../../src/outbox/buckets.ts'
import { appendEvent } from '../../src/outbox/writer.ts'
import { authorizedPayment } from '../../support/payments.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'

async function rowsOf(db: Kysely<Database>, eventId: string) {
  const outbox = await db.selectFrom('outbox_events').selectAll().where('event_id', '=', eventId).execute()
  const timeline = await db.selectFrom('payment_events').selectAll().where('event_id', '=', eventId).execute()
  const pending = await db
    .selectFrom('outbox_pending')
    .selectAll()
    .where('id', 'in', outbox.length > 0 ? outbox.map((row) => row.id) : [-1])
    .execute()
  return { outbox, timeline, pending }
}

// PostgreSQL writes an event in one statement, the others in three (src/outbox/writer.ts):
// the rows must be the same either way, and commit or roll back with the caller's transaction.
for (const dialect of dialects) {
  test(`${dialect}: appendEvent writes the outbox, timeline and queue rows it reports, in the caller's transaction`, {
    timeout: 60_000,
  }, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const { db } = database.open(2)
    await migrateToLatest(db, dialect)
    const paymentId = randomUUID()
    const now = Date.now()
    await db
      .insertInto('payments')
      .values(authorizedPayment(paymentId, 'm', 1000, now))
      .execute()
    const event = {
      type: 'PAYMENT_CAPTURE_REQUESTED' as const,
      paymentId,
      merchantId: 'm',
      data: { amount: 400 },
    }

    const written = await db.transaction().execute((trx) => appendEvent(trx, dialect, event, now))
    const { outbox, timeline, pending } = await rowsOf(db, written.eventId)
    assert.equal(outbox.length, 1)
    const row = outbox[0]
    assert.ok(row !== undefined)
    assert.equal(Number(row.id), written.id)
    assert.equal(written.bucket, bucketOf(paymentId))
    assert.deepEqual(
      {
        payment_id: row.payment_id,
        merchant_id: row.merchant_id,
        sequence: Number(row.sequence),
        topic: row.topic,
        event_type: row.event_type,
        payload: row.payload,
        headers: JSON.parse(row.headers),
        created_at: Number(row.created_at),
        bucket: Number(row.bucket),
      },
      {
        payment_id: paymentId,
        merchant_id: 'm',
        sequence: written.sequence,
        topic: written.topic,
        event_type: event.type,
        payload: written.payload,
        headers: written.headers,
        created_at: now,
        bucket: written.bucket,
      },
    )
    assert.deepEqual(
      timeline.map((entry) => ({
        payment_id: entry.payment_id,
        sequence: Number(entry.sequence),
        event_type: entry.event_type,
        occurred_at: Number(entry.occurred_at),
        data: JSON.parse(entry.data),
      })),
      [
        {
          payment_id: paymentId,
          sequence: written.sequence,
          event_type: event.type,
          occurred_at: now,
          data: event.data,
        },
      ],
    )
    assert.deepEqual(
      pending.map((queued) => ({ id: Number(queued.id), bucket: Number(queued.bucket) })),
      [{ id: written.id, bucket: written.bucket }],
    )

    // A transaction that fails after the write leaves none of the three rows.
    let rolledBack: string | undefined
    await assert.rejects(
      db.transaction().execute(async (trx) => {
        rolledBack = (await appendEvent(trx, dialect, event, now)).eventId
        throw new Error('abort after the write')
      }),
      /abort after the write/,
    )
    assert.ok(rolledBack !== undefined)
    assert.deepEqual(await rowsOf(db, rolledBack), { outbox: [], timeline: [], pending: [] })
  })
}
