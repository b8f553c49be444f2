import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import { hasErrorCode } from '../../src/domain/errors.ts'
import type { Upstream } from '../../src/gateway/upstream.ts'
import { UpstreamPool } from '../../src/gateway/upstream-pool.ts'

// No request is sent in these tests: the pool's undici Pools connect only when dispatched to.
function pool(
  t: TestContext,
  instances: number,
  maxConnections = 10,
  acquireTimeoutMs = 50,
  limits: { maxEjectedPercent?: number; panicThresholdPercent?: number } = {},
) {
  const created = new UpstreamPool({
    name: 'api',
    urls: Array.from({ length: instances }, (_, i) => `http://127.0.0.${i + 1}:8081`),
    instance: { maxConnections, ejectAfterFailures: 1, ejectMs: 60_000 },
    acquire: { timeoutMs: acquireTimeoutMs, maxWaiters: 10 },
    ...limits,
  })
  t.after(() => created.close())
  return created
}

test('requests go to the instance with the fewest in flight', async (t) => {
  const upstreams = pool(t, 3)
  const [a, b, c] = upstreams.instances as [Upstream, Upstream, Upstream]
  a.inFlight = 5
  b.inFlight = 2
  c.inFlight = 4
  const chosen = await upstreams.acquire()
  assert.equal(chosen, b)
  assert.equal(b.inFlight, 3)
  upstreams.release(chosen)
  assert.equal(b.inFlight, 2)
})

test('ties are shared round-robin, so idle instances all get work', async (t) => {
  const upstreams = pool(t, 3)
  const picked = new Set<Upstream>()
  for (let i = 0; i < 3; i++) {
    const chosen = await upstreams.acquire()
    picked.add(chosen)
    upstreams.release(chosen)
  }
  assert.equal(picked.size, 3)
})

test('an instance never gets more requests than connections; the next request waits for a release', async (t) => {
  const upstreams = pool(t, 1, 2, 5000)
  const [only] = upstreams.instances as [Upstream]
  await upstreams.acquire()
  await upstreams.acquire()
  let third: Upstream | undefined
  const waiting = upstreams.acquire().then((chosen) => {
    third = chosen
  })
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(third, undefined)
  assert.equal(upstreams.waiting, 1)
  upstreams.release(only)
  await waiting
  assert.equal(third, only)
  assert.equal(only.inFlight, 2)
})

test('a full pool answers UPSTREAM_ACQUIRE_TIMEOUT after the acquire timeout', async (t) => {
  const upstreams = pool(t, 1, 1)
  await upstreams.acquire()
  await assert.rejects(upstreams.acquire(), (error) => hasErrorCode(error, 'UPSTREAM_ACQUIRE_TIMEOUT'))
})

test('a retry prefers an instance it has not tried, but takes a tried one rather than none', async (t) => {
  const upstreams = pool(t, 2)
  const [a, b] = upstreams.instances as [Upstream, Upstream]
  b.inFlight = 3
  assert.equal(await upstreams.acquire(new Set([a])), b, 'b although busier')
  const onlyA = pool(t, 1)
  const [solo] = onlyA.instances as [Upstream]
  assert.equal(await onlyA.acquire(new Set([solo])), solo)
})

test('ejected instances get no requests; with panic mode off and none left the answer is NO_HEALTHY_UPSTREAM with a Retry-After', async (t) => {
  const upstreams = pool(t, 2, 10, 50, { panicThresholdPercent: 0 })
  const [a, b] = upstreams.instances as [Upstream, Upstream]
  a.recordFailure('connect')
  assert.equal(a.ejected, true)
  for (let i = 0; i < 3; i++) {
    const chosen = await upstreams.acquire()
    assert.equal(chosen, b)
    upstreams.release(chosen)
  }
  b.recordCheck(false, '/readyz answered 503')
  await assert.rejects(upstreams.acquire(), (error) => {
    assert.ok(hasErrorCode(error, 'NO_HEALTHY_UPSTREAM'))
    assert.ok(((error as { details: { retryAfterSeconds: number } }).details.retryAfterSeconds ?? 0) >= 1)
    return true
  })
})

test('waiters are told at once when the last available instance goes away (panic mode off)', async (t) => {
  const upstreams = pool(t, 1, 1, 5000, { panicThresholdPercent: 0 })
  const [only] = upstreams.instances as [Upstream]
  await upstreams.acquire()
  const waiting = upstreams.acquire()
  only.recordCheck(false, '/readyz answered 503')
  await assert.rejects(waiting, (error) => hasErrorCode(error, 'NO_HEALTHY_UPSTREAM'))
})

test('the last available instance is never ejected, however often it fails', async (t) => {
  const upstreams = pool(t, 2)
  const [a, b] = upstreams.instances as [Upstream, Upstream]
  a.recordFailure('connect')
  for (let i = 0; i < 10; i++) b.recordFailure('reset')
  assert.deepEqual([a.ejected, b.ejected, b.available], [true, false, true])
  const solo = pool(t, 1)
  const [only] = solo.instances as [Upstream]
  for (let i = 0; i < 10; i++) only.recordFailure('connect')
  assert.equal(only.available, true)
  assert.equal(await solo.acquire(), only)
})

test('no more than maxEjectedPercent of the instances are ejected at once', async (t) => {
  const upstreams = pool(t, 4, 10, 50, { maxEjectedPercent: 50 })
  for (const instance of upstreams.instances) instance.recordFailure('connect')
  assert.deepEqual(
    upstreams.instances.map((instance) => instance.ejected),
    [true, true, false, false],
  )
  const none = pool(t, 3, 10, 50, { maxEjectedPercent: 0 })
  for (const instance of none.instances) instance.recordFailure('connect')
  assert.deepEqual(
    none.instances.map((instance) => instance.ejected),
    [false, false, false],
  )
})

test('below the panic threshold every instance takes requests, healthy or not', async (t) => {
  const upstreams = pool(t, 2)
  const [a, b] = upstreams.instances as [Upstream, Upstream]
  a.recordCheck(false, '/readyz answered 503')
  assert.equal(upstreams.panicking, false, 'one of two available is not below 50 %')
  for (let i = 0; i < 2; i++) {
    const chosen = await upstreams.acquire()
    assert.equal(chosen, b)
    upstreams.release(chosen)
  }
  b.recordCheck(false, '/readyz answered 503')
  assert.equal(upstreams.panicking, true)
  const picked = new Set<Upstream>()
  for (let i = 0; i < 4; i++) {
    const chosen = await upstreams.acquire()
    picked.add(chosen)
    upstreams.release(chosen)
  }
  assert.deepEqual(picked, new Set([a, b]), 'requests go to both, not NO_HEALTHY_UPSTREAM')
})

test('a waiter is served by panic mode when the last available instance goes away', async (t) => {
  const upstreams = pool(t, 2, 1, 5000)
  const [a, b] = upstreams.instances as [Upstream, Upstream]
  a.recordCheck(false, '/readyz answered 503')
  assert.equal(await upstreams.acquire(), b)
  const waiting = upstreams.acquire()
  b.recordCheck(false, '/readyz answered 503')
  assert.equal(await waiting, a, 'a is free, and in panic mode it takes requests')
})

test('pool limits out of range are refused', () => {
  assert.throws(
    () => new UpstreamPool({ name: 'api', urls: ['http://127.0.0.1:1'], maxEjectedPercent: 150 }),
    (error) =>
      hasErrorCode(error, 'CONFIG_INVALID') && /upstreamPool.maxEjectedPercent=150/.test(String(error)),
  )
})

test('a pool needs at least one URL', () => {
  assert.throws(
    () => new UpstreamPool({ name: 'api', urls: [] }),
    (error) => hasErrorCode(error, 'CONFIG_INVALID'),
  )
})
