import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import type { Kysely } from 'kysely'
import type { Database } from '../../src/db/schema.ts'
import { startAcquirer } from '../../support/processes.ts'
import { type ApiFixture, type HttpResult, markCaptured, startApi } from '../helpers/api.ts'
import { dialects } from '../helpers/databases.ts'

// Issue 13 builds the answers of authorize, capture and refund from the values the transaction
// wrote instead of re-reading the payment: these tests hold the answers to what a read finds.
const approving = await startAcquirer({ ACQUIRER_AUTH_LATENCY_MS: '0-0', ACQUIRER_AUTH_FAILURE_RATE: '0' })
after(() => approving.stop())

/** The answer, byte for byte as JSON, must be the read of the payment without its timeline. */
async function assertAnswerIsTheRow(api: ApiFixture, answer: HttpResult): Promise<void> {
  const read = await api.call('GET', `/api/payments/${answer.body.paymentId}`)
  assert.equal(read.status, 200)
  const { events: _events, ...row } = read.body
  assert.equal(JSON.stringify(answer.body), JSON.stringify(row))
}

/** The payment's last_sequence is its newest event's, and its events are numbered 1, 2, … */
async function assertSequences(db: Kysely<Database>, paymentId: string, count: number): Promise<void> {
  const payment = await db
    .selectFrom('payments')
    .select('last_sequence')
    .where('id', '=', paymentId)
    .executeTakeFirstOrThrow()
  assert.equal(payment.last_sequence, count)
  for (const table of ['outbox_events', 'payment_events'] as const) {
    const events = await db
      .selectFrom(table)
      .select('sequence')
      .where('payment_id', '=', paymentId)
      .orderBy('sequence')
      .execute()
    assert.deepEqual(
      events.map((event) => event.sequence),
      Array.from({ length: count }, (_, i) => i + 1),
      table,
    )
  }
}

for (const dialect of dialects) {
  describe(dialect, () => {
    test('authorize, capture and refund answer exactly what a read of the payment then shows', {
      timeout: 120_000,
    }, async (t) => {
      const api = await startApi(t, dialect, approving.url)
      if (api === undefined) return
      const authorized = await api.call('POST', '/api/payments/authorize', {
        body: { merchantId: 'merchant-a', amount: 12_345, currency: 'KRW', idempotencyKey: 'as-written-1' },
      })
      assert.equal(authorized.status, 201)
      assert.equal(authorized.body.status, 'AUTHORIZED')
      await assertAnswerIsTheRow(api, authorized)
      const { paymentId } = authorized.body
      await assertSequences(api.db, paymentId, 1)

      const captured = await api.call('POST', `/api/payments/capture/${paymentId}`, {
        body: { merchantId: 'merchant-a', amount: 10_000, idempotencyKey: 'as-written-cap' },
      })
      assert.equal(captured.status, 202)
      assert.equal(captured.body.status, 'CAPTURE_REQUESTED')
      await assertAnswerIsTheRow(api, captured)
      await assertSequences(api.db, paymentId, 2)

      await markCaptured(api.db, paymentId, 10_000)
      const refunded = await api.call('POST', `/api/payments/refund/${paymentId}`, {
        body: { merchantId: 'merchant-a', amount: 2500, reason: 'as written' },
      })
      assert.equal(refunded.status, 202)
      assert.equal(refunded.body.status, 'REFUND_REQUESTED')
      await assertAnswerIsTheRow(api, refunded)
      await assertSequences(api.db, paymentId, 3)

      // The stored answers are the answers given.
      const stored = await api.db
        .selectFrom('idempotency_records')
        .select(['idempotency_key', 'state', 'response_body'])
        .orderBy('idempotency_key')
        .execute()
      assert.deepEqual(stored, [
        {
          idempotency_key: 'as-written-1',
          state: 'COMPLETED',
          response_body: JSON.stringify(authorized.body),
        },
        {
          idempotency_key: 'as-written-cap',
          state: 'COMPLETED',
          response_body: JSON.stringify(captured.body),
        },
      ])
    })

    test('a declined authorize answers exactly what a read of the payment then shows, with no event', {
      timeout: 120_000,
    }, async (t) => {
      const api = await startApi(t, dialect, approving.url)
      if (api === undefined) return
      const declined = await api.call('POST', '/api/payments/authorize', {
        body: { merchantId: 'merchant-a', amount: 1051, currency: 'USD', idempotencyKey: 'as-written-2' },
      })
      assert.equal(declined.status, 201)
      assert.equal(declined.body.status, 'AUTH_FAILED')
      assert.match(declined.body.message, /^declined: /)
      await assertAnswerIsTheRow(api, declined)
      // The simulator declines amounts ending in 51 (src/acquirer/simulator.ts).
      await assertSequences(api.db, declined.body.paymentId, 0)
    })
  })
}
