import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { startAcquirer } from '../../support/processes.ts'
import { type ApiFixture, type HttpResult, markCaptured, startApi } from '../helpers/api.ts'
import { dialects } from '../helpers/databases.ts'

// Capture and refund write their idempotency record once, COMPLETED, at the end of their one
// transaction (issue 13). A concurrent request with the same key then meets the change first
// (the row lock, then a state that refuses it): it must still be answered from the record.
const acquirer = await startAcquirer({ ACQUIRER_AUTH_LATENCY_MS: '0-0', ACQUIRER_AUTH_FAILURE_RATE: '0' })
after(() => acquirer.stop())

const SIMULTANEOUS = 20

function assertOneDidTheWork(responses: HttpResult[], status: string): void {
  const statuses = responses.map((r) => `${r.status} ${r.body.code ?? r.body.status}`)
  assert.ok(
    responses.every((r) => r.status === 202),
    `every one answered 202: ${statuses.join(', ')}`,
  )
  const fresh = responses.filter((r) => r.headers.get('idempotent-replayed') === null)
  assert.equal(fresh.length, 1, 'exactly one request did the work')
  assert.equal(fresh[0]?.body.status, status)
  for (const response of responses) assert.deepEqual(response.body, fresh[0]?.body)
}

async function keyedOnce(api: ApiFixture, paymentId: string, eventType: string): Promise<void> {
  const events = await api.db
    .selectFrom('outbox_events')
    .select('event_type')
    .where('payment_id', '=', paymentId)
    .where('event_type', '=', eventType)
    .execute()
  assert.equal(events.length, 1, `one ${eventType}`)
}

for (const dialect of dialects) {
  describe(dialect, () => {
    test(`${SIMULTANEOUS} simultaneous captures, then refunds, with one key each: one change, the rest replay it`, {
      timeout: 120_000,
    }, async (t) => {
      const api = await startApi(t, dialect, acquirer.url)
      if (api === undefined) return
      const { paymentId } = (
        await api.call('POST', '/api/payments/authorize', {
          body: { merchantId: 'merchant-a', amount: 20_000, currency: 'KRW', idempotencyKey: 'keyed-auth' },
        })
      ).body
      const capture = { merchantId: 'merchant-a', amount: 15_000, idempotencyKey: 'keyed-cap' }
      const captures = await Promise.all(
        Array.from({ length: SIMULTANEOUS }, () =>
          api.call('POST', `/api/payments/capture/${paymentId}`, { body: capture }),
        ),
      )
      assertOneDidTheWork(captures, 'CAPTURE_REQUESTED')
      await keyedOnce(api, paymentId, 'PAYMENT_CAPTURE_REQUESTED')

      await markCaptured(api.db, paymentId, 15_000)
      const refund = { merchantId: 'merchant-a', amount: 5000, reason: 'keyed', idempotencyKey: 'keyed-ref' }
      const refunds = await Promise.all(
        Array.from({ length: SIMULTANEOUS }, () =>
          api.call('POST', `/api/payments/refund/${paymentId}`, { body: refund }),
        ),
      )
      assertOneDidTheWork(refunds, 'REFUND_REQUESTED')
      await keyedOnce(api, paymentId, 'PAYMENT_REFUND_REQUESTED')

      // The same key with another body is refused as reused, even where the change itself
      // would be refused too (the payment is no longer AUTHORIZED).
      const reused = await api.call('POST', `/api/payments/capture/${paymentId}`, {
        body: { ...capture, amount: 1000 },
      })
      assert.equal(reused.status, 422)
      assert.equal(reused.body.code, 'IDEMPOTENCY_KEY_REUSED')
      // A new key on a refused change gets the refusal and leaves no record.
      const refused = await api.call('POST', `/api/payments/capture/${paymentId}`, {
        body: { ...capture, idempotencyKey: 'keyed-cap-2' },
      })
      assert.equal(refused.status, 409)
      assert.equal(refused.body.code, 'CAPTURE_CONFLICT')
      const records = await api.db
        .selectFrom('idempotency_records')
        .select(['idempotency_key', 'state'])
        .orderBy('idempotency_key')
        .execute()
      assert.deepEqual(records, [
        { idempotency_key: 'keyed-auth', state: 'COMPLETED' },
        { idempotency_key: 'keyed-cap', state: 'COMPLETED' },
        { idempotency_key: 'keyed-ref', state: 'COMPLETED' },
      ])
    })
  })
}
