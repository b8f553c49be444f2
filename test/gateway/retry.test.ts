import assert from 'node:assert/strict'
import { test } from 'node:test'
import { hasErrorCode } from '../../src/domain/errors.ts'
import { hasIdempotencyKey, RetryBudget, RetryPolicy, retryReason } from '../../src/gateway/retry.ts'

const json = { 'content-type': 'application/json' }

test('a request that was never sent may always go again, whatever its method', () => {
  assert.equal(retryReason('POST', false, {}, Buffer.from('{}')), 'not-sent')
})

test('a sent request goes again only when repeating it is harmless', () => {
  assert.equal(retryReason('GET', true, {}, undefined), 'idempotent')
  assert.equal(retryReason('PUT', true, {}, undefined), 'idempotent')
  assert.equal(retryReason('DELETE', true, {}, undefined), 'idempotent')
  assert.equal(retryReason('POST', true, { 'idempotency-key': 'k-1' }, undefined), 'idempotency-key')
  assert.equal(
    retryReason('POST', true, json, Buffer.from('{"amount":1,"idempotencyKey":"k-2"}')),
    'idempotency-key',
  )
  assert.equal(retryReason('POST', true, json, Buffer.from('{"amount":1}')), undefined)
  assert.equal(retryReason('POST', true, {}, undefined), undefined)
  assert.equal(retryReason('PATCH', true, {}, undefined), undefined)
})

test('only a real key counts: blank, non-string, nested or non-JSON does not', () => {
  assert.equal(hasIdempotencyKey({ 'idempotency-key': '  ' }, undefined), false)
  assert.equal(hasIdempotencyKey(json, Buffer.from('{"idempotencyKey":""}')), false)
  assert.equal(hasIdempotencyKey(json, Buffer.from('{"idempotencyKey":42}')), false)
  assert.equal(hasIdempotencyKey(json, Buffer.from('{"data":{"idempotencyKey":"k"}}')), false)
  assert.equal(hasIdempotencyKey(json, Buffer.from('{"idempotencyKey":"k"')), false, 'malformed JSON')
  assert.equal(
    hasIdempotencyKey({ 'content-type': 'text/plain' }, Buffer.from('{"idempotencyKey":"k"}')),
    false,
  )
})

test('the budget allows retries of at most the ratio of recent requests, plus the minimum', () => {
  const budget = new RetryBudget(0.2, 0, 10_000)
  const now = 1_000_000
  for (let i = 0; i < 100; i++) budget.recordRequest(now)
  let allowed = 0
  for (let i = 0; i < 50; i++) if (budget.tryRetry(now)) allowed++
  assert.equal(allowed, 20, '20 % of 100 requests')

  const withMin = new RetryBudget(0.2, 3, 10_000)
  let quiet = 0
  for (let i = 0; i < 10; i++) if (withMin.tryRetry(now)) quiet++
  assert.equal(quiet, 3, 'a quiet gateway still has its minimum')
})

test('the budget slides: after the window, old requests and retries no longer count', () => {
  const budget = new RetryBudget(0.5, 0, 1000)
  const start = 5_000_000
  for (let i = 0; i < 10; i++) budget.recordRequest(start)
  for (let i = 0; i < 5; i++) assert.ok(budget.tryRetry(start))
  assert.equal(budget.tryRetry(start), false)
  assert.equal(budget.tryRetry(start + 1500), false, 'the requests left the window too')
  for (let i = 0; i < 4; i++) budget.recordRequest(start + 1500)
  assert.equal(budget.tryRetry(start + 1500), true)
  assert.equal(budget.tryRetry(start + 1500), true)
  assert.equal(budget.tryRetry(start + 1500), false)
})

test('pauses stay between the first and the largest pause and are jittered', () => {
  const policy = new RetryPolicy({ backoffMs: { min: 10, max: 200 } })
  const seen = new Set<number>()
  for (let run = 0; run < 20; run++) {
    const pauses = policy.pauses()
    for (let retry = 0; retry < 5; retry++) {
      const pause = pauses.next()
      assert.ok(pause >= 0 && pause <= 200, `pause ${pause} within 0..200`)
      seen.add(Math.round(pause))
    }
  }
  assert.ok(seen.size > 5, 'pauses vary between requests (jitter)')
})

test('bad options stop start-up with CONFIG_INVALID', () => {
  for (const options of [
    { maxAttempts: 0 },
    { maxAttempts: 11 },
    { budgetRatio: 1.5 },
    { budgetMin: -1 },
    { backoffMs: { min: 50, max: 10 } },
  ]) {
    assert.throws(
      () => new RetryPolicy(options),
      (error) => hasErrorCode(error, 'CONFIG_INVALID'),
      JSON.stringify(options),
    )
  }
})
