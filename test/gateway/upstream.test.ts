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
  instance.recordFailure('connect')
  instance.recordFailure('connect')
  instance.recordSuccess()
  instance.recordFailure('connect')
  instance.recordFailure('connect')
  assert.equal(instance.available, true)
  instance.recordFailure('connect')
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
  for (let i = 0; i < 3; i++) instance.recordFailure('connect')
  await until('re-admitted', () => instance.available)
  assert.equal(readmitted, 1)
  instance.recordFailure('connect')
  assert.equal(instance.ejected, true, 'one failure on probation ejects again')
  assert.ok(
    instance.ejectedForMs() > 30,
    `second ejection is longer than the first (${instance.ejectedForMs()} ms left)`,
  )
  await until('re-admitted again', () => instance.available)
  instance.recordSuccess()
  instance.recordFailure('connect')
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

test('a connect timeout right after an answer is overload, not death: it does not count toward ejection', (t) => {
  let now = 1_000_000
  const instance = new Upstream({
    url: 'http://127.0.0.1:9',
    ejectAfterFailures: 2,
    connectTimeoutMs: 1000,
    now: () => now,
  })
  t.after(() => instance.close())
  instance.recordSuccess()
  now += 1500
  for (let i = 0; i < 5; i++) instance.recordFailure('connect-timeout')
  assert.equal(instance.available, true, 'it answered 1.5 s ago: its accept queue is full')
  now += 1000
  instance.recordFailure('connect-timeout')
  instance.recordFailure('connect-timeout')
  assert.equal(instance.ejected, true, 'silent for 2.5 s (over two connect timeouts): counted')
})

test('a refused connection counts at once, however recent the last answer', (t) => {
  const instance = new Upstream({ url: 'http://127.0.0.1:9', ejectAfterFailures: 2 })
  t.after(() => instance.close())
  instance.recordSuccess()
  instance.recordFailure('connect')
  instance.recordFailure('connect')
  assert.equal(instance.ejected, true)
})
