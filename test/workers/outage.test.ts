import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PayrailError } from '../../src/domain/errors.ts'
import { workerIsOutage } from '../../src/workers/role.ts'

test('the workers wait out an acquirer whose answer leaves the outcome unknown, and a database outage, without spending attempts', () => {
  for (const code of [
    'ACQUIRER_TIMEOUT',
    'ACQUIRER_OUTCOME_UNKNOWN',
    'ACQUIRER_UNAVAILABLE',
    'DATABASE_UNAVAILABLE',
    'DATABASE_CONTENTION',
  ] as const)
    assert.equal(workerIsOutage(new PayrailError(code, 'x')), true, code)
  for (const code of ['EVENT_INVALID', 'EVENT_NOT_APPLICABLE'] as const)
    assert.equal(workerIsOutage(new PayrailError(code, 'x')), false, code)
})
