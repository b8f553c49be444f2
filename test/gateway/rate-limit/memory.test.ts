import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MemoryBucketStore } from '../../../src/gateway/rate-limit/memory.ts'

const spec = { limit: 3, windowMs: 1000 }

test('a bucket allows its burst, then refuses and says when the next token comes', async () => {
  let now = 0
  const store = new MemoryBucketStore({ now: () => now })
  const decisions = []
  for (let i = 0; i < 4; i++) decisions.push(await store.take('k', spec))
  assert.deepEqual(
    decisions.map((d) => [d.allowed, d.remaining]),
    [
      [true, 2],
      [true, 1],
      [true, 0],
      [false, 0],
    ],
  )
  assert.equal(decisions[3]?.retryAfterMs, 334, 'one token every 333.3 ms')
  assert.equal(decisions[2]?.resetMs, 1000, 'empty bucket refills in the whole window')
  now = 334
  assert.equal((await store.take('k', spec)).allowed, true)
  assert.equal((await store.take('k', spec)).allowed, false)
  now = 10_000
  assert.equal((await store.take('k', spec)).remaining, 2, 'a long pause refills to the limit, no further')
})

test('buckets are independent per key', async () => {
  const store = new MemoryBucketStore({ now: () => 0 })
  for (let i = 0; i < 3; i++) await store.take('a', spec)
  assert.equal((await store.take('a', spec)).allowed, false)
  assert.equal((await store.take('b', spec)).allowed, true)
})

test('the number of buckets is bounded: the least recently used goes first', async () => {
  const store = new MemoryBucketStore({ now: () => 0, maxKeys: 2 })
  await store.take('a', spec)
  await store.take('b', spec)
  await store.take('a', spec)
  await store.take('c', spec)
  assert.equal(store.size, 2)
  // 'b' was dropped; 'a', used after it, kept its count.
  assert.equal((await store.take('a', spec)).remaining, 0)
  assert.equal((await store.take('b', spec)).remaining, 2, 'a dropped bucket starts full')
  assert.equal(store.size, 2)
})
