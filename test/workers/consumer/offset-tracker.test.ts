import assert from 'node:assert/strict'
import { test } from 'node:test'
import { OffsetTracker } from '../../../src/workers/consumer/offset-tracker.ts'

test('the position moves only over a run of finished records', () => {
  const tracker = new OffsetTracker(10n)
  assert.equal(tracker.position, 10n, 'nothing taken yet: the committed offset')
  for (const offset of [10n, 11n, 12n, 13n]) assert.ok(tracker.take(offset))
  tracker.finish(12n)
  tracker.finish(13n)
  assert.equal(tracker.position, 10n, '10 and 11 still run')
  tracker.finish(10n)
  assert.equal(tracker.position, 11n)
  tracker.finish(11n)
  assert.equal(tracker.position, 14n, 'all finished: one past the newest')
  assert.equal(tracker.pending, 0)
})

test('offsets may have gaps; the position is the oldest unfinished offset', () => {
  const tracker = new OffsetTracker(0n)
  for (const offset of [0n, 5n, 9n]) tracker.take(offset)
  tracker.finish(0n)
  assert.equal(tracker.position, 5n)
  tracker.finish(9n)
  assert.equal(tracker.position, 5n)
  tracker.finish(5n)
  assert.equal(tracker.position, 10n)
})

test('a redelivered offset is refused, a newer one is taken', () => {
  const tracker = new OffsetTracker(3n)
  assert.equal(tracker.take(2n), false, 'below the committed offset')
  assert.ok(tracker.take(3n))
  assert.ok(tracker.take(4n))
  assert.equal(tracker.take(4n), false, 'the stream rewound after a rebalance')
  assert.equal(tracker.take(3n), false)
  assert.ok(tracker.take(5n))
  assert.equal(tracker.pending, 3)
})

test('without a committed offset the position is unknown until a record is taken', () => {
  const tracker = new OffsetTracker(-1n)
  assert.equal(tracker.position, undefined)
  tracker.take(7n)
  assert.equal(tracker.position, 7n)
  tracker.finish(7n)
  assert.equal(tracker.position, 8n)
})

test('finishing an unknown or already finished offset changes nothing', () => {
  const tracker = new OffsetTracker(0n)
  tracker.take(0n)
  tracker.take(1n)
  tracker.finish(1n)
  tracker.finish(1n)
  tracker.finish(42n)
  assert.equal(tracker.position, 0n)
  assert.ok(tracker.isPending(0n))
  assert.ok(!tracker.isPending(1n))
})

test('the leader epoch committed is that of the last record below the position', () => {
  const tracker = new OffsetTracker(0n)
  tracker.take(0n, 4)
  tracker.take(1n, 5)
  assert.equal(tracker.positionLeaderEpoch, -1)
  tracker.finish(0n)
  assert.equal(tracker.positionLeaderEpoch, 4)
  tracker.finish(1n)
  assert.equal(tracker.positionLeaderEpoch, 5)
})

test('random finishing order: every offset below the position is finished, and all end committed', () => {
  let seed = 12345
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed / 2 ** 31
  }
  const tracker = new OffsetTracker(100n)
  const count = 5000
  const offsets: bigint[] = []
  // Gaps of 1 to 3 between offsets, like a compacted topic.
  let next = 100n
  for (let i = 0; i < count; i++) {
    offsets.push(next)
    assert.ok(tracker.take(next))
    next += BigInt(1 + Math.floor(random() * 3))
  }
  const unfinished = new Set(offsets)
  const order = [...offsets].sort(() => random() - 0.5)
  for (const [step, offset] of order.entries()) {
    tracker.finish(offset)
    unfinished.delete(offset)
    const position = tracker.position as bigint
    const oldestUnfinished = offsets.find((o) => unfinished.has(o))
    if (oldestUnfinished === undefined) assert.equal(position, (offsets.at(-1) as bigint) + 1n)
    else assert.equal(position, oldestUnfinished, `step ${step}`)
  }
  assert.equal(tracker.pending, 0)
})
