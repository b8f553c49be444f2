import assert from 'node:assert/strict'
import { after, beforeEach, describe, test } from 'node:test'
import { requestFingerprint } from '../../src/api/idempotency.ts'
import { setAcquirerMode, startAcquirer } from '../../support/processes.ts'
import { ADMIN_TOKEN, startApi } from '../helpers/api.ts'
import { dialects } from '../helpers/databases.ts'
import { until } from '../helpers/until.ts'

const acquirer = await startAcquirer()
after(() => acquirer.stop())
beforeEach(() => setAcquirerMode(acquirer.url, 'normal', 0))

const body = (key: string, amount = 2000) => ({ amount, currency: 'USD', idempotencyKey: key })

for (const dialect of dialects) {
  describe(dialect, () => {
    test('a decline is a payment in AUTH_FAILED with no event, and replays like any answer', async (t) => {
      const api = await startApi(t, dialect, acquirer.url)
      if (api === undefined) return
      const declined = await api.call('POST', '/api/payments/authorize', { body: body('d-1', 1051) })
      assert.equal(declined.status, 201)
      assert.equal(declined.body.status, 'AUTH_FAILED')
      assert.equal(declined.body.message, 'declined: insufficient_funds')
      const replay = await api.call('POST', '/api/payments/authorize', { body: body('d-1', 1051) })
      assert.equal(replay.headers.get('idempotent-replayed'), 'true')
      assert.deepEqual(replay.body, declined.body)
      const capture = await api.call('POST', `/api/payments/capture/${declined.body.paymentId}`, { body: {} })
      assert.equal(capture.status, 409)
      const counts = await api.counts()
      assert.equal(counts.payments, 1)
      assert.equal(counts.outbox, 0)
    })

    test('acquirer down: 503 with Retry-After, nothing half-made, and the same key works once it is back', async (t) => {
      const api = await startApi(t, dialect, acquirer.url)
      if (api === undefined) return
      await setAcquirerMode(acquirer.url, 'down')
      const down = await api.call('POST', '/api/payments/authorize', { body: body('down-1') })
      assert.equal(down.status, 503)
      assert.equal(down.body.code, 'ACQUIRER_UNAVAILABLE')
      assert.equal(down.headers.get('retry-after'), '1')
      const counts = await api.counts()
      assert.deepEqual([counts.payments, counts.outbox, counts.idempotency], [0, 0, 0])
      const attempt = await api.db
        .selectFrom('authorization_attempts')
        .select('state')
        .executeTakeFirstOrThrow()
      assert.equal(attempt.state, 'ABANDONED')

      await setAcquirerMode(acquirer.url, 'normal')
      const retry = await api.call('POST', '/api/payments/authorize', { body: body('down-1') })
      assert.equal(retry.status, 201)
      assert.equal(retry.body.status, 'AUTHORIZED')
    })

    test('acquirer timeout: 503, the attempt waits, and the sweep records the approval the acquirer made', async (t) => {
      const api = await startApi(t, dialect, acquirer.url, { authorizeTimeoutMs: 300 })
      if (api === undefined) return
      await setAcquirerMode(acquirer.url, 'slow', 800)
      const slow = await api.call('POST', '/api/payments/authorize', { body: body('slow-1') })
      assert.equal(slow.status, 503)
      assert.equal(slow.body.code, 'ACQUIRER_TIMEOUT')
      const inFlight = await api.call('POST', '/api/payments/authorize', { body: body('slow-1') })
      assert.equal(inFlight.status, 409)
      assert.equal(inFlight.body.code, 'REQUEST_IN_PROGRESS')
      assert.equal((await api.counts()).payments, 0)

      // The acquirer finishes its slow approval: its lookup answers once the approval exists.
      const attempt = await api.db
        .selectFrom('authorization_attempts')
        .select('payment_id')
        .executeTakeFirstOrThrow()
      await until(
        'the acquirer to finish its slow approval',
        async () => {
          const lookup = await fetch(`${acquirer.url}/v1/authorizations/${attempt.payment_id}`)
          if (lookup.status !== 200) return undefined
          return ((await lookup.json()) as { approved?: boolean }).approved === true
        },
        { timeoutMs: 10_000 },
      )
      await setAcquirerMode(acquirer.url, 'normal')
      assert.deepEqual(await api.recovery.resolveStaleAttempts(0), { resolved: 1, pending: 0 })
      const answer = await api.call('POST', '/api/payments/authorize', { body: body('slow-1') })
      assert.equal(answer.status, 201)
      assert.equal(answer.headers.get('idempotent-replayed'), 'true')
      assert.equal(answer.body.status, 'AUTHORIZED')
      const counts = await api.counts()
      assert.deepEqual([counts.payments, counts.outbox], [1, 1])
      assert.deepEqual(
        await api.recovery.resolveStaleAttempts(0),
        { resolved: 0, pending: 0 },
        'resolved once',
      )
    })

    test('an attempt the acquirer never saw is abandoned only after a second unknown, more than the acquirer timeout later', async (t) => {
      const api = await startApi(t, dialect, acquirer.url, { authorizeTimeoutMs: 300 })
      if (api === undefined) return
      // What a process leaves behind when it dies after recording the attempt, before calling out.
      const now = Date.now() - 60_000
      await api.db
        .insertInto('idempotency_records')
        .values({
          merchant_id: 'merchant-a',
          idempotency_key: 'lost-1',
          request_hash: requestFingerprint('authorize', '', { amount: 2000, currency: 'USD' }),
          state: 'IN_PROGRESS',
          response_status: null,
          response_body: null,
          payment_id: '01a20000-0000-7000-8000-000000000001',
          created_at: now,
          updated_at: now,
        })
        .execute()
      await api.db
        .insertInto('authorization_attempts')
        .values({
          payment_id: '01a20000-0000-7000-8000-000000000001',
          merchant_id: 'merchant-a',
          idempotency_key: 'lost-1',
          amount: 2000,
          currency: 'USD',
          state: 'PENDING',
          created_at: now,
          updated_at: now,
        })
        .execute()
      assert.equal((await api.call('POST', '/api/payments/authorize', { body: body('lost-1') })).status, 409)
      assert.deepEqual(await api.recovery.resolveStaleAttempts(30_000), { resolved: 0, pending: 1 })
      const first = await api.db
        .selectFrom('authorization_attempts')
        .select(['state', 'unknown_since', 'next_check_at'])
        .executeTakeFirstOrThrow()
      assert.equal(first.state, 'PENDING', 'one "unknown" is not enough')
      assert.ok(first.unknown_since !== null && first.next_check_at > first.unknown_since + 300)
      assert.equal((await api.call('POST', '/api/payments/authorize', { body: body('lost-1') })).status, 409)
      assert.deepEqual(
        await api.recovery.resolveStaleAttempts(30_000),
        { resolved: 0, pending: 0 },
        'not asked again within the acquirer timeout',
      )
      await until('the second lookup to abandon the attempt', async () => {
        await api.recovery.resolveStaleAttempts(30_000)
        const attempt = await api.db
          .selectFrom('authorization_attempts')
          .select('state')
          .executeTakeFirstOrThrow()
        return attempt.state === 'ABANDONED'
      })
      const retry = await api.call('POST', '/api/payments/authorize', { body: body('lost-1') })
      assert.equal(retry.status, 201)
      assert.equal(retry.headers.get('idempotent-replayed'), null)
      assert.equal((await api.counts()).payments, 1)
    })
  })
}

test('an unreachable acquirer opens the breaker: later calls fail fast with 503 and no rows', async (t) => {
  const own = await startAcquirer()
  const api = await startApi(t, 'sqlite', own.url, { breakerThreshold: 3 })
  if (api === undefined) return
  await own.stop()
  for (let i = 0; i < 3; i++) {
    const refused = await api.call('POST', '/api/payments/authorize', { body: body(`b-${i}`) })
    assert.equal(refused.status, 503)
    assert.match(refused.body.detail, /unreachable \(ECONNREFUSED\)/)
  }
  const fast = await api.call('POST', '/api/payments/authorize', { body: body('b-open') })
  assert.equal(fast.status, 503)
  assert.equal(fast.body.code, 'ACQUIRER_UNAVAILABLE')
  assert.match(fast.body.detail, /circuit breaker is open/)
  const breakers = await api.call('GET', '/api/admin/breakers', { key: ADMIN_TOKEN })
  assert.equal(breakers.body.acquirer.authorize, 'open')
  assert.equal(breakers.body.acquirer.settle, 'closed', 'each operation has its own breaker')
  const counts = await api.counts()
  assert.deepEqual([counts.payments, counts.outbox, counts.idempotency], [0, 0, 0])
  const metrics = await fetch(`${api.url}/metrics`).then((r) => r.text())
  assert.match(metrics, /payrail_acquirer_breaker_state\{operation="authorize",role="api"\} 2/)
})
