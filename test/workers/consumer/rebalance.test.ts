import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { RecordHandler } from '../../../src/workers/consumer/index.ts'
import {
  consumerFixture,
  endOffsets,
  HandlerWatch,
  interleaved,
  parse,
  seededRandom,
  startConsumer,
} from '../../helpers/consumer.ts'
import { until } from '../../helpers/until.ts'

test('two consumers share a group; when one closes its partitions continue on the other, and no key ever runs on both', {
  timeout: 180_000,
}, async (t) => {
  const random = seededRandom(t)
  const kafka = await consumerFixture(t, interleaved(60, 40))
  if (kafka === undefined) return
  const { brokers, topic, group } = kafka
  const ends = await endOffsets(brokers, topic, 6)
  const total = [...ends.values()].reduce((sum, end) => sum + Number(end), 0)
  assert.equal(total, 2400)

  // One watch over both consumers (one handler per key at a time, group-wide), one per consumer.
  const group$ = new HandlerWatch()
  const watches = { a: new HandlerWatch(), b: new HandlerWatch() }
  const handler =
    (name: 'a' | 'b'): RecordHandler =>
    async (record, signal) => {
      const { key, sequence } = parse(record.value)
      group$.begin(key, sequence)
      watches[name].begin(key, sequence)
      try {
        await sleep(10 + random() * 20, undefined, { signal })
        group$.finished.add(`${record.partition}:${record.offset}`)
        watches[name].finished.add(`${record.partition}:${record.offset}`)
      } finally {
        group$.end(key)
        watches[name].end(key)
      }
    }
  const options = { brokers: brokers.split(','), groupId: group, topics: [topic], concurrency: 8 }
  const a = startConsumer(t, { ...options, name: 'a', handler: handler('a') })
  await a.start()
  await until('the first consumer to be under way', () => watches.a.finished.size >= 200)
  assert.equal(a.status().partitions.length, 6)

  const b = startConsumer(t, { ...options, name: 'b', handler: handler('b') })
  await b.start()
  await until('the second consumer to get partitions and work', () => watches.b.finished.size >= 100)
  const owned = (c: typeof a) => c.status().partitions.filter((p) => p.status === 'active').length
  await until('the partitions to be split', () => owned(a) + owned(b) === 6 && owned(a) > 0)
  assert.ok(group$.finished.size < total, 'the split happened mid-stream')

  await a.close()
  await until('the second consumer to own every partition', () => owned(b) === 6)
  await until('every record to be handled', () => group$.finished.size === total)
  await b.close()

  assert.deepEqual(group$.problems, [], 'a key never ran on both consumers at once')
  // Graceful hand-overs commit everything finished before the partitions move: no record runs
  // twice, and each key's records run in order across both consumers.
  assert.deepEqual(group$.outOfOrder(), [])
  const all = Array.from({ length: 40 }, (_, i) => i + 1)
  for (const [key, sequences] of group$.started) assert.deepEqual(sequences, all, key)
  assert.ok(watches.a.finished.size > 0 && watches.b.finished.size > 0)
})
