import assert from 'node:assert/strict'
import { test } from 'node:test'
import { hasErrorCode } from '../../../src/domain/errors.ts'
import { ClientKeys, RateLimiter } from '../../../src/gateway/rate-limit/limiter.ts'
import { MemoryBucketStore } from '../../../src/gateway/rate-limit/memory.ts'

test('a bucket belongs to a hash of the API key, never the key itself; without a key, to the client address', () => {
  const keys = new ClientKeys()
  const owner = keys.of('Bearer prk_live_secret', '127.0.0.1')
  assert.match(owner, /^key:[\w-]{32}$/)
  assert.ok(!owner.includes('secret'))
  assert.equal(
    keys.of('Bearer prk_live_secret', '10.0.0.9'),
    owner,
    'the same key from anywhere is one owner',
  )
  assert.notEqual(keys.of('Bearer prk_other', '127.0.0.1'), owner)
  assert.equal(keys.of(undefined, '127.0.0.7'), 'ip:127.0.0.7')
  assert.equal(keys.of('Basic abc', '127.0.0.7'), 'ip:127.0.0.7')
})

test('the hash cache is bounded and gives the same answers after it starts over', () => {
  const keys = new ClientKeys(2)
  const first = keys.of('Bearer a', 'x')
  keys.of('Bearer b', 'x')
  keys.of('Bearer c', 'x')
  assert.equal(keys.of('Bearer a', 'x'), first)
})

test('each operation has its own bucket and limit', async () => {
  const limiter = new RateLimiter({
    store: new MemoryBucketStore(),
    limits: {
      authorize: { limit: 1, windowMs: 60_000 },
      capture: { limit: 1, windowMs: 60_000 },
      refund: { limit: 1, windowMs: 60_000 },
      read: { limit: 5, windowMs: 1000 },
    },
  })
  for (const operation of ['authorize', 'capture', 'refund'] as const) {
    await limiter.check(operation, 'key:a')
    await assert.rejects(limiter.check(operation, 'key:a'), (error) =>
      hasErrorCode(error, 'RATE_LIMIT_EXCEEDED'),
    )
  }
  assert.deepEqual(await limiter.check('read', 'key:a'), {
    'ratelimit-policy': '"read";q=5;w=1',
    ratelimit: '"read";r=4;t=1',
  })
})
