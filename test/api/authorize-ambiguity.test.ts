import assert from 'node:assert/strict'
import { after, beforeEach, describe, test } from 'node:test'
import {
  acquirerLedger,
  resetAcquirerLedger,
  setAcquirerMode,
  startAcquirer,
} from '../../support/processes.ts'
import { startApi } from '../helpers/api.ts'
import { dialects } from '../helpers/databases.ts'
import { until } from '../helpers/until.ts'

// The real simulator process in each mode that leaves the outcome of an authorize unknown: it
// authorized, and payrail could not tell. One acquirer authorization per idempotency key, always.
const acquirer = await startAcquirer()
after(() => acquirer.stop())
beforeEach(async () => {
  await setAcquirerMode(acquirer.url, 'normal', 0)
  await resetAcquirerLedger(acquirer.url)
})

const body = (key: string) => ({ amount: 2000, currency: 'USD', idempotencyKey: key })

const ambiguities = [
  { mode: 'error-after-processing', slowExtraMs: 0, code: 'ACQUIRER_OUTCOME_UNKNOWN' },
  { mode: 'reset-after-processing', slowExtraMs: 0, code: 'ACQUIRER_OUTCOME_UNKNOWN' },
  { mode: 'slow', slowExtraMs: 700, code: 'ACQUIRER_TIMEOUT' },
] as const

for (const dialect of dialects) {
  describe(dialect, () => {
    for (const { mode, slowExtraMs, code } of ambiguities) {
      test(`${mode}: the attempt stays under its reference, retries answer 409 until the sweep records the approval`, async (t) => {
        const api = await startApi(t, dialect, acquirer.url, { authorizeTimeoutMs: 300 })
        if (api === undefined) return
        await setAcquirerMode(acquirer.url, mode, slowExtraMs)
        const key = `amb-${mode}`
        const first = await api.call('POST', '/api/payments/authorize', { body: body(key) })
        assert.equal(first.status, 503)
        assert.equal(first.body.code, code)
        assert.ok(first.headers.get('retry-after'))

        // Retries with the same key, in the same mode, never reach the acquirer again.
        for (let i = 0; i < 3; i++) {
          const retry = await api.call('POST', '/api/payments/authorize', { body: body(key) })
          assert.equal(retry.status, 409)
          assert.equal(retry.body.code, 'REQUEST_IN_PROGRESS')
          assert.equal(retry.headers.get('retry-after'), '1')
        }
        const attempt = await api.db
          .selectFrom('authorization_attempts')
          .select(['payment_id', 'state'])
          .executeTakeFirstOrThrow()
        assert.equal(attempt.state, 'PENDING')
        assert.equal((await api.counts()).attempts, 1, 'no second attempt, so no second reference')

        // The slow approval finishes at the acquirer (its lookup then answers).
        await until('the acquirer to hold the approval', async () => {
          const lookup = await fetch(`${acquirer.url}/v1/authorizations/${attempt.payment_id}`)
          return lookup.status === 200
        })
        await setAcquirerMode(acquirer.url, 'normal')
        assert.deepEqual(await api.recovery.resolveStaleAttempts(0), { resolved: 1, pending: 0 })

        const answer = await api.call('POST', '/api/payments/authorize', { body: body(key) })
        assert.equal(answer.status, 201)
        assert.equal(answer.headers.get('idempotent-replayed'), 'true')
        assert.equal(answer.body.paymentId, attempt.payment_id, 'the sweep asked about the same reference')
        assert.equal(answer.body.status, 'AUTHORIZED')
        assert.deepEqual(await acquirerLedger(acquirer.url), {
          [attempt.payment_id]: { authorized: 1, approved: true, voided: false, settled: 0, refunded: 0 },
        })
        const counts = await api.counts()
        assert.deepEqual([counts.payments, counts.outbox], [1, 1])
      })
    }

    test('the sweep judges age by the database clock: a host clock an hour ahead does not make a fresh attempt stale', async (t) => {
      const api = await startApi(t, dialect, acquirer.url, {
        authorizeTimeoutMs: 300,
        recoveryNow: () => Date.now() + 3_600_000,
      })
      if (api === undefined) return
      await setAcquirerMode(acquirer.url, 'error-after-processing')
      assert.equal((await api.call('POST', '/api/payments/authorize', { body: body('clock-1') })).status, 503)
      await setAcquirerMode(acquirer.url, 'normal')
      assert.deepEqual(await api.recovery.resolveStaleAttempts(30_000), { resolved: 0, pending: 0 })
      // The same pass with an age the database's clock has passed does resolve it: the pass ran.
      await until('the attempt to be older than 50 ms', async () => {
        const { resolved } = await api.recovery.resolveStaleAttempts(50)
        return resolved === 1
      })
      assert.equal((await api.counts()).payments, 1)
    })
  })
}
