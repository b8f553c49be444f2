import assert from 'node:assert/strict'
import { test } from 'node:test'
import { errorCatalog, hasErrorCode, PayrailError } from '../../src/domain/errors.ts'

test('a catalog error carries its code, status and retryability', () => {
  const error = new PayrailError('KAFKA_UNAVAILABLE', 'down', { details: { brokers: '127.0.0.1:9092' } })
  assert.equal(error.code, 'KAFKA_UNAVAILABLE')
  assert.equal(error.status, 503)
  assert.equal(error.retryable, true)
  assert.deepEqual(error.details, { brokers: '127.0.0.1:9092' })
})

test('errors match on code, also for plain objects from elsewhere', () => {
  assert.ok(hasErrorCode({ code: 'NOT_FOUND' }, 'NOT_FOUND'))
  assert.ok(!hasErrorCode(new Error('x'), 'NOT_FOUND'))
  assert.ok(!hasErrorCode(null, 'NOT_FOUND'))
})

test('every catalog entry has an HTTP error status and a title', () => {
  for (const [code, entry] of Object.entries(errorCatalog)) {
    assert.ok(entry.status >= 400 && entry.status < 600, code)
    assert.ok(entry.title.length > 0, code)
  }
})
