import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { startAcquirer } from '../../support/processes.ts'
import { startApi } from '../helpers/api.ts'
import { dialects } from '../helpers/databases.ts'

const acquirer = await startAcquirer()
after(() => acquirer.stop())

for (const dialect of dialects) {
  test(`${dialect}: a failure after the payment write rolls back payment, outbox and idempotency record together`, async (t) => {
    const api = await startApi(t, dialect, acquirer.url)
    if (api === undefined) return
    const authorized = await api.call('POST', '/api/payments/authorize', {
      body: { amount: 700, currency: 'EUR', idempotencyKey: 'a-1' },
    })
    assert.equal(authorized.status, 201)
    const before = await api.counts()

    // Inject the failure in the last write of each transaction: the timeline insert that follows
    // the payment row and the outbox row.
    await api.db.schema.alterTable('payment_events').renameTo('payment_events_hidden').execute()
    try {
      const capture = await api.call('POST', `/api/payments/capture/${authorized.body.paymentId}`, {
        body: { idempotencyKey: 'c-1' },
      })
      assert.equal(capture.status, 500)
      assert.equal(capture.body.code, 'INTERNAL')
      const authorize = await api.call('POST', '/api/payments/authorize', {
        body: { amount: 800, currency: 'EUR', idempotencyKey: 'a-2' },
      })
      assert.equal(authorize.status, 500)
    } finally {
      await api.db.schema.alterTable('payment_events_hidden').renameTo('payment_events').execute()
    }

    const after = await api.counts()
    assert.equal(after.payments, before.payments, 'no payment row from the failed authorize')
    assert.equal(after.outbox, before.outbox, 'no outbox row from either')
    assert.equal(after.ledger, before.ledger)
    const payment = await api.db
      .selectFrom('payments')
      .selectAll()
      .where('id', '=', authorized.body.paymentId)
      .executeTakeFirstOrThrow()
    assert.equal(payment.status, 'AUTHORIZED', 'the capture changed nothing')
    assert.equal(payment.last_sequence, 1)
    const captureKey = await api.db
      .selectFrom('idempotency_records')
      .selectAll()
      .where('idempotency_key', '=', 'c-1')
      .execute()
    assert.deepEqual(captureKey, [], 'the capture key is free for a retry')
    // The authorize attempt itself was committed before the acquirer call; it stays for the sweep.
    const attempt = await api.db
      .selectFrom('authorization_attempts')
      .select('state')
      .where('idempotency_key', '=', 'a-2')
      .executeTakeFirstOrThrow()
    assert.equal(attempt.state, 'PENDING')
    assert.match(api.logs(), /request failed/)

    // Once the fault is gone, the capture goes through and the sweep finishes the authorize.
    const retry = await api.call('POST', `/api/payments/capture/${authorized.body.paymentId}`, {
      body: { idempotencyKey: 'c-1' },
    })
    assert.equal(retry.status, 202)
    assert.deepEqual(await api.recovery.resolveStaleAttempts(0), { resolved: 1, pending: 0 })
    const finished = await api.call('POST', '/api/payments/authorize', {
      body: { amount: 800, currency: 'EUR', idempotencyKey: 'a-2' },
    })
    assert.equal(finished.status, 201)
    assert.equal(finished.body.status, 'AUTHORIZED')
  })
}
