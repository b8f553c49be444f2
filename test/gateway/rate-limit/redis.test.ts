import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { type TestContext, test } from 'node:test'
import { Redis } from 'ioredis'
import { hasErrorCode } from '../../../src/domain/errors.ts'
import { RateLimiter } from '../../../src/gateway/rate-limit/limiter.ts'
import { RedisBucketStore } from '../../../src/gateway/rate-limit/redis.ts'
import { freePort } from '../../../support/processes.ts'
import { requireService } from '../../helpers/services.ts'

/** A store on the test Redis under a key prefix of its own, whose keys are deleted afterwards. */
async function store(t: TestContext, url: string, prefix = `payrail-test:${randomUUID()}:`) {
  const created = new RedisBucketStore({ url, prefix, timeoutMs: 1000 })
  const admin = new Redis(url)
  assert.ok(await created.connected(5000), 'connected to the test Redis')
  t.after(async () => {
    const keys = await admin.keys(`${prefix}*`)
    if (keys.length > 0) await admin.del(...keys)
    await admin.quit()
    await created.close()
  })
  return { store: created, prefix, admin }
}

const limits = { authorize: { limit: 2, windowMs: 60_000 }, capture: null, refund: null, read: null }

test('Redis buckets: a burst, then 429 with Retry-After and RateLimit headers', async (t) => {
  const url = await requireService(t, 'redis')
  if (url === undefined) return
  const { store: bucketStore, prefix, admin } = await store(t, url)
  const limited: string[] = []
  const limiter = new RateLimiter({
    store: bucketStore,
    limits,
    onLimited: (operation) => limited.push(operation),
  })
  assert.deepEqual(await limiter.check('authorize', 'key:a'), {
    'ratelimit-policy': '"authorize";q=2;w=60',
    ratelimit: '"authorize";r=1;t=30',
  })
  await limiter.check('authorize', 'key:a')
  await assert.rejects(limiter.check('authorize', 'key:a'), (error) => {
    assert.ok(hasErrorCode(error, 'RATE_LIMIT_EXCEEDED'))
    const details = (error as { details: { retryAfterSeconds: number; headers: Record<string, string> } })
      .details
    assert.equal(details.retryAfterSeconds, 30)
    assert.equal(details.headers.ratelimit, '"authorize";r=0;t=30')
    return true
  })
  assert.deepEqual(limited, ['authorize'])
  assert.equal(await limiter.check('capture', 'key:a'), undefined, 'an operation whose limit is off')
  assert.ok(await limiter.check('authorize', 'key:b'), 'another key has its own bucket')
  const ttl = await admin.pttl(`${prefix}authorize:key:a`)
  assert.ok(ttl > 0 && ttl <= 61_000, `the bucket expires once it would be full again (pttl ${ttl})`)
})

test('Redis buckets are shared: two gateways draw on one bucket', async (t) => {
  const url = await requireService(t, 'redis')
  if (url === undefined) return
  const prefix = `payrail-test:${randomUUID()}:`
  const one = new RateLimiter({ store: (await store(t, url, prefix)).store, limits })
  const two = new RateLimiter({ store: (await store(t, url, prefix)).store, limits })
  await one.check('authorize', 'key:shared')
  await two.check('authorize', 'key:shared')
  await assert.rejects(one.check('authorize', 'key:shared'), (error) =>
    hasErrorCode(error, 'RATE_LIMIT_EXCEEDED'),
  )
  await assert.rejects(two.check('authorize', 'key:shared'), (error) =>
    hasErrorCode(error, 'RATE_LIMIT_EXCEEDED'),
  )
})

test('Redis down, failing open: requests pass and the failure is reported with policy open', async (t) => {
  const port = await freePort()
  const bucketStore = new RedisBucketStore({ url: `redis://127.0.0.1:${port}`, timeoutMs: 50 })
  t.after(() => bucketStore.close())
  const failures: string[] = []
  const limiter = new RateLimiter({
    store: bucketStore,
    limits,
    onStoreFailure: 'open',
    onStoreError: (policy) => failures.push(policy),
  })
  assert.equal(await limiter.check('authorize', 'key:a'), undefined)
  assert.deepEqual(failures, ['open'])
  await assert.rejects(bucketStore.ping())
})

test('Redis down, failing closed: 503 RATE_LIMITER_UNAVAILABLE with a Retry-After, reported with policy closed', async (t) => {
  const port = await freePort()
  const bucketStore = new RedisBucketStore({ url: `redis://127.0.0.1:${port}`, timeoutMs: 50 })
  t.after(() => bucketStore.close())
  const failures: string[] = []
  const limiter = new RateLimiter({
    store: bucketStore,
    limits,
    onStoreFailure: 'closed',
    onStoreError: (policy) => failures.push(policy),
  })
  await assert.rejects(limiter.check('authorize', 'key:a'), (error) => {
    assert.ok(hasErrorCode(error, 'RATE_LIMITER_UNAVAILABLE'))
    assert.equal((error as { status: number }).status, 503)
    assert.equal((error as { details: { retryAfterSeconds: number } }).details.retryAfterSeconds, 1)
    return true
  })
  assert.deepEqual(failures, ['closed'])
})

test('a Redis that accepts but never answers fails within the timeout, under the policy', async (t) => {
  const silent = createServer(() => {})
  silent.listen(0, '127.0.0.1')
  await once(silent, 'listening')
  t.after(() => {
    silent.close()
  })
  const port = (silent.address() as { port: number }).port
  const bucketStore = new RedisBucketStore({ url: `redis://127.0.0.1:${port}`, timeoutMs: 50 })
  t.after(() => bucketStore.close())
  const failures: string[] = []
  const limiter = new RateLimiter({
    store: bucketStore,
    limits,
    onStoreFailure: 'open',
    onStoreError: (p) => failures.push(p),
  })
  assert.equal(await limiter.check('authorize', 'key:a'), undefined)
  assert.deepEqual(failures, ['open'])
})
