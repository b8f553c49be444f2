import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Registry } from 'prom-client'
import { lagSeconds } from '../../../src/workers/consumer/lag-seconds.ts'
import { createConsumerMetrics } from '../../../src/workers/consumer/metrics.ts'
import { OffsetTracker } from '../../../src/workers/consumer/offset-tracker.ts'
import { seededRandom } from '../../helpers/consumer.ts'

test('lag in seconds: the oldest unfinished record, else the newest fetched, and 0 when nothing is behind', () => {
  const now = 1_000_000
  assert.equal(lagSeconds(0, now - 5_000, now - 1_000, now), 0, 'caught up: 0 whatever was fetched')
  assert.equal(lagSeconds(3, now - 5_000, now - 1_000, now), 5)
  assert.equal(lagSeconds(3, undefined, now - 1_000, now), 1, 'records behind, none fetched yet')
  assert.equal(lagSeconds(3, undefined, undefined, now), 0, 'nothing fetched since the partition came')
  assert.equal(lagSeconds(3, now + 2_000, undefined, now), 0, 'a producer clock ahead never reads negative')
})

test('the tracker knows the timestamp of the oldest record not finished and committed (random finish order and commits)', (t) => {
  const random = seededRandom(t)
  for (const [count, exact] of [
    [120, true],
    [3_000, false],
  ] as const) {
    const start = 1_000n
    const tracker = new OffsetTracker(start)
    const stamps: number[] = []
    let stamp = 1_700_000_000_000
    for (let i = 0; i < count; i++) {
      stamp += Math.floor(random() * 50)
      stamps.push(stamp)
      assert.ok(tracker.take(start + BigInt(i), 0, stamp))
    }
    assert.equal(tracker.newestTimestamp, stamps[count - 1])
    const open = Array.from({ length: count }, (_, i) => i)
    let committed = start
    while (open.length > 0) {
      const [index] = open.splice(Math.floor(random() * open.length), 1) as [number]
      tracker.finish(start + BigInt(index))
      if (random() < 0.1) committed = tracker.position as bigint
      const got = tracker.oldestUncommittedTimestamp(committed)
      const expected = stamps[Number(committed - start)]
      if (expected === undefined) assert.equal(got, undefined, 'everything finished and committed')
      else if (exact) assert.equal(got, expected, `committed ${committed}`)
      // Past MAX_FINISHED_RUNS runs are merged under the older timestamp: never younger than the truth.
      else assert.ok(got !== undefined && got <= expected, `committed ${committed}: ${got} > ${expected}`)
    }
    assert.equal(tracker.oldestUncommittedTimestamp(tracker.position), undefined)
  }
})

test('payrail_worker_lag_seconds sits beside the records gauge and leaves with the partition', async () => {
  const registry = new Registry()
  const observer = createConsumerMetrics(registry, 'ledger')
  observer.lag('payment.captured', 1, 12, 4.5)
  observer.lag('payment.captured', 2, 0, 0)
  observer.lag('payment.captured', 3, 7, 1)
  observer.lag('payment.captured', 3, null)
  const text = await registry.metrics()
  assert.match(
    text,
    /payrail_worker_lag_seconds\{handler="ledger",topic="payment.captured",partition="1"\} 4.5/,
  )
  assert.match(
    text,
    /payrail_worker_lag_seconds\{handler="ledger",topic="payment.captured",partition="2"\} 0/,
  )
  assert.doesNotMatch(text, /partition="3"/)
})
