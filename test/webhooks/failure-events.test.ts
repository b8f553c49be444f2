import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { migrateToLatest } from '../../src/db/migrate.ts'
import type { EventType } from '../../src/domain/events.ts'
import { NOTIFIER_CONSUMER, notifierHandler } from '../../src/notifier/handler.ts'
import { appendEvent } from '../../src/outbox/writer.ts'
import { checkEventTypes, createEndpoint } from '../../src/webhooks/endpoints.ts'
import { SecretBox } from '../../src/webhooks/secrets.ts'
import { authorizedPayment } from '../../support/payments.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'

test('payment.capture_failed and payment.refund_failed are webhook event types merchants may subscribe to', () => {
  assert.deepEqual(checkEventTypes(['payment.capture_failed', 'payment.refund_failed']), [
    'payment.capture_failed',
    'payment.refund_failed',
  ])
  assert.throws(() => checkEventTypes(['payment.nope']), /payment\.capture_failed.*payment\.refund_failed/)
})

for (const dialect of dialects) {
  test(`${dialect}: the notifier records a failure event for the endpoints subscribed to it, with the failed status and the reason`, {
    timeout: 60_000,
  }, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const { db } = database.open(2)
    await migrateToLatest(db, dialect)
    const box = new SecretBox(undefined)
    const now = Date.now()
    const endpoint = async (eventTypes: Parameters<typeof checkEventTypes>[0]) =>
      (
        await createEndpoint(
          db,
          box,
          {
            merchantId: 'm',
            url: 'http://127.0.0.1:9/hook',
            eventTypes: checkEventTypes(eventTypes),
            enabled: true,
          },
          now,
        )
      ).row.id
    const failures = await endpoint(['payment.capture_failed', 'payment.refund_failed'])
    // Subscribed to the successes only: gets none of the failures.
    await endpoint(['payment.captured', 'payment.refunded'])
    let recorded = 0
    const handle = notifierHandler({ db, recorded: (count) => (recorded += count), now: () => now })

    const cases: [EventType, string, string][] = [
      ['PAYMENT_CAPTURE_FAILED', 'payment.capture_failed', 'CAPTURE_FAILED'],
      ['PAYMENT_REFUND_FAILED', 'payment.refund_failed', 'REFUND_FAILED'],
    ]
    for (const [type, webhookType, status] of cases) {
      const paymentId = randomUUID()
      await db
        .insertInto('payments')
        .values(authorizedPayment(paymentId, 'm', 1052, now))
        .execute()
      const data = { amount: 1052, currency: 'KRW', reason: 'declined: insufficient_funds' }
      const record = await db
        .transaction()
        .execute((trx) => appendEvent(trx, dialect, { type, paymentId, merchantId: 'm', data }, now))
      assert.equal(await handle(record.payload), 'recorded')
      assert.equal(await handle(record.payload), 'duplicate')
      const rows = await db
        .selectFrom('webhook_deliveries')
        .select(['endpoint_id', 'event_type', 'body', 'state'])
        .where('payment_id', '=', paymentId)
        .execute()
      assert.deepEqual(
        rows.map((row) => [row.endpoint_id, row.event_type, row.state]),
        [[failures, webhookType, 'PENDING']],
        'only the endpoint subscribed to the failure',
      )
      const body = JSON.parse(rows[0]?.body ?? '{}')
      assert.equal(body.type, webhookType)
      assert.deepEqual(body.data.payment, { id: paymentId, merchantId: 'm', status, ...data })
      const marked = await db
        .selectFrom('processed_events')
        .select('event_id')
        .where('consumer', '=', NOTIFIER_CONSUMER)
        .where('event_id', '=', record.eventId)
        .execute()
      assert.equal(marked.length, 1)
    }
    assert.equal(recorded, 2)
  })
}
