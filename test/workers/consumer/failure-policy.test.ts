import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PayrailError } from '../../../src/domain/errors.ts'
import { backoff } from '../../../src/runtime/backoff.ts'
import {
  catalogCode,
  decide,
  defaultIsOutage,
  errorCode,
  type FailurePolicy,
} from '../../../src/workers/consumer/failure-policy.ts'

const policy: FailurePolicy = {
  maxAttempts: 3,
  retryDelayMs: 100,
  retryMaxDelayMs: 1000,
  outageDelayMs: 50,
  outageMaxDelayMs: 500,
  isOutage: defaultIsOutage,
  random: () => 0.5,
}

test('an error without a code is retried until the attempts are used up', () => {
  const error = new Error('boom')
  assert.equal(decide(error, 1, policy), 'retry')
  assert.equal(decide(error, 2, policy), 'retry')
  assert.equal(decide(error, 3, policy), 'dead')
})

test('a catalog error that is not retryable is dead at once, a retryable one is retried', () => {
  assert.equal(decide(new PayrailError('VALIDATION_FAILED', 'bad'), 1, policy), 'dead')
  assert.equal(decide({ code: 'CAPTURE_CONFLICT' }, 1, policy), 'dead', 'matched on the code, not the class')
  assert.equal(decide(new PayrailError('ACQUIRER_TIMEOUT', 'slow'), 1, policy), 'retry')
  assert.equal(decide({ code: 'ECONNRESET' }, 1, policy), 'retry', 'not a catalog code')
})

test('an outage is never counted nor dead, whatever the attempts', () => {
  for (const code of ['ACQUIRER_UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'KAFKA_UNAVAILABLE'] as const) {
    assert.equal(decide(new PayrailError(code, 'down'), 99, policy), 'outage', code)
  }
  assert.equal(decide({ code: 'PLT_KFK_NETWORK' }, 99, policy), 'outage', 'a Kafka network error')
  const custom = { ...policy, isOutage: (e: unknown) => (e as Error).message === 'db down' }
  assert.equal(decide(new Error('db down'), 99, custom), 'outage')
  assert.equal(decide(new PayrailError('ACQUIRER_UNAVAILABLE', 'x'), 3, custom), 'dead', 'the caller decides')
})

test('backoff doubles per attempt up to the cap, with jitter in [half, full)', () => {
  const mid = () => 0.5
  assert.equal(backoff(1, 100, 1000, mid), 75)
  assert.equal(backoff(2, 100, 1000, mid), 150)
  assert.equal(backoff(3, 100, 1000, mid), 300)
  assert.equal(backoff(10, 100, 1000, mid), 750)
  assert.equal(backoff(1000, 100, 1000, mid), 750, 'no overflow for long outages')
  assert.equal(
    backoff(1, 100, 1000, () => 0),
    50,
  )
  assert.ok(backoff(1, 100, 1000, () => 0.999999) <= 100)
})

test('codes for the dead-letter headers', () => {
  assert.equal(catalogCode(new PayrailError('NOT_FOUND', 'x')), 'NOT_FOUND')
  assert.equal(catalogCode({ code: 'toString' }), undefined, 'only own catalog entries')
  assert.equal(errorCode(new PayrailError('NOT_FOUND', 'x')), 'NOT_FOUND')
  assert.equal(errorCode({ code: 'ERR_SOMETHING' }), 'ERR_SOMETHING')
  assert.equal(errorCode(new Error('x')), 'INTERNAL')
  assert.equal(errorCode('a string'), 'INTERNAL')
})
