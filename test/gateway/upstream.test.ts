import assert from 'node:assert/strict'
import { test } from 'node:test'
import { hasErrorCode } from '../../src/domain/errors.ts'
import { Upstream } from '../../src/gateway/upstream.ts'
import { until } from '../helpers/until.ts'

function upstream(t: import('node:test').TestContext, ejectMs = 30) {
  const instance = new Upstream({ url: 'http://127.0.0.1:9', ejectAfterFailures: 3, ejectMs })
  t.after(() => instance.close())
  return instance
}

test('consecutive failures eject an instance; a success in between resets the count', (t) => {
  const instance = upstream(t)
  instance.recordFailure()
  instance.recordFailure()
  instance.recordSuccess()
  instance.recordFailure()
  instance.recordFailure()
  assert.equal(instance.available, true)
  instance.recordFailure()
  assert.equal(instance.available, false)
  assert.equal(instance.ejected, true)
  assert.ok(instance.ejectedForMs() > 0)
})

test('an ejected instance is re-admitted after its period, on probation: one failure ejects it for twice as long', async (t) => {
  const instance = upstream(t)
  const changes: boolean[] = []
  let readmitted = 0
  instance.onHealthChange = (healthy) => changes.push(healthy)
  instance.onAvailable = () => readmitted++
  for (let i = 0; i < 3; i++) instance.recordFailure()
  await until('re-admitted', () => instance.available)
  assert.equal(readmitted, 1)
  instance.recordFailure()
  assert.equal(instance.ejected, true, 'one failure on probation ejects again')
  assert.ok(
    instance.ejectedForMs() > 30,
    `second ejection is longer than the first (${instance.ejectedForMs()} ms left)`,
  )
  await until('re-admitted again', () => instance.available)
  instance.recordSuccess()
  instance.recordFailure()
  assert.equal(instance.available, true, 'after a success on probation the count starts over')
  assert.deepEqual(changes, [false, true, false, true])
})

test('an active check that fails takes the instance out until a check passes', (t) => {
  const instance = upstream(t)
  let readmitted = 0
  instance.onAvailable = () => readmitted++
  instance.recordCheck(false, '/readyz answered 503')
  assert.equal(instance.available, false)
  assert.equal(instance.ejected, false)
  instance.recordCheck(true, 'ready again')
  assert.equal(instance.available, true)
  assert.equal(readmitted, 1)
})

test('bad options stop start-up with CONFIG_INVALID', () => {
  for (const options of [
    { url: 'ftp://x' },
    { url: 'not a url' },
    { url: 'http://x', maxConnections: 0 },
    { url: 'http://x', connectTimeoutMs: 0 },
    { url: 'http://x', ejectAfterFailures: 0 },
  ]) {
    assert.throws(
      () => new Upstream(options),
      (error) => hasErrorCode(error, 'CONFIG_INVALID'),
      JSON.stringify(options),
    )
  }
})
