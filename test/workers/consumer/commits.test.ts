import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  committedOffsets,
  consumerFixture,
  endOffsets,
  HandlerWatch,
  interleaved,
  parse,
  produce,
  seededRandom,
  startConsumer,
  testGroup,
} from '../../helpers/consumer.ts'
import { testTopic } from '../../helpers/outbox.ts'
import { requireService } from '../../helpers/services.ts'
import { until } from '../../helpers/until.ts'

test('a stop mid-stream commits only finished records; the next consumer starts exactly there and nothing is missing', {
  timeout: 180_000,
}, async (t) => {
  const random = seededRandom(t)
  const kafka = await consumerFixture(t, interleaved(60, 50))
  if (kafka === undefined) return
  const { brokers, topic, group } = kafka

  // The first consumer: quick records, except the 20th of five keys, slow enough to still run at
  // the stop; their keys' later records queue behind them (and once they fill the concurrency
  // limit, fetching pauses).
  const first = new HandlerWatch()
  let aborted = 0
  let slowStarted = 0
  const consumerA = startConsumer(t, {
    brokers: brokers.split(','),
    groupId: group,
    topics: [topic],
    concurrency: 32,
    closeTimeoutMs: 300,
    handler: async (record, signal) => {
      const { key, sequence } = parse(record.value)
      first.begin(key, sequence)
      try {
        const slow = sequence === 20 && Number(key.slice(1)) < 5
        if (slow) slowStarted++
        await sleep(slow ? 60_000 : 1 + random() * 5, undefined, { signal })
        first.finished.add(`${record.partition}:${record.offset}`)
      } catch (error) {
        if (signal.aborted) aborted++
        throw error
      } finally {
        first.end(key)
      }
    },
  })
  await consumerA.start()
  await until(
    'slow records to run and many others to finish',
    () => slowStarted > 0 && first.finished.size >= 300,
  )
  await consumerA.close()

  const committed = await committedOffsets(brokers, group, topic)
  const ends = await endOffsets(brokers, topic, 6)
  assert.ok(aborted > 0, 'some records were still running at the stop')
  assert.ok(
    [...ends].some(([partition, end]) => (committed.get(partition) ?? -1n) < end),
    'the stop came mid-stream',
  )
  // The invariant: every record below a partition's committed offset was finished.
  for (const [partition, offset] of committed) {
    for (let o = 0n; o < offset; o++) {
      assert.ok(
        first.finished.has(`${partition}:${o}`),
        `${partition}:${o} is below the commit but unfinished`,
      )
    }
  }

  // A new consumer in the group continues at the committed offsets.
  const second = new HandlerWatch()
  const lowest = new Map<number, bigint>()
  const consumerB = startConsumer(t, {
    brokers: brokers.split(','),
    groupId: group,
    topics: [topic],
    concurrency: 32,
    handler: async (record) => {
      const { key, sequence } = parse(record.value)
      second.begin(key, sequence)
      const low = lowest.get(record.partition)
      if (low === undefined || record.offset < low) lowest.set(record.partition, record.offset)
      await sleep(random() * 3)
      second.finished.add(`${record.partition}:${record.offset}`)
      second.end(key)
    },
  })
  await consumerB.start()
  const missing = () => {
    const gaps: string[] = []
    for (const [partition, end] of ends) {
      for (let o = 0n; o < end; o++) {
        const id = `${partition}:${o}`
        if (!first.finished.has(id) && !second.finished.has(id)) gaps.push(id)
      }
    }
    return gaps
  }
  await until('every record to be handled by one of them', () => missing().length === 0)
  await consumerB.close()
  for (const [partition, end] of ends) {
    const start = committed.get(partition) ?? -1n
    if (start < end) assert.equal(lowest.get(partition), start < 0n ? 0n : start, `partition ${partition}`)
    else assert.equal(lowest.get(partition), undefined, `partition ${partition} had nothing left`)
  }
  assert.deepEqual(first.problems, [])
  assert.deepEqual(second.problems, [])
  assert.deepEqual(first.outOfOrder(), [])
  assert.deepEqual(second.outOfOrder(), [])
})

test('a partition the group never committed gets its start committed at once: the log start, or its end with startFrom latest', {
  timeout: 120_000,
}, async (t) => {
  const brokers = await requireService(t, 'kafka')
  if (brokers === undefined) return
  const topic = await testTopic(t, brokers, [], 2)
  await produce(brokers, topic, interleaved(4, 5))
  const before = await endOffsets(brokers, topic, 2)

  // From the end: the records already there are not handled, later ones are.
  const latestGroup = testGroup(t, brokers)
  const fromEnd: number[] = []
  const latest = startConsumer(t, {
    brokers: brokers.split(','),
    groupId: latestGroup,
    topics: [topic],
    startFrom: 'latest',
    handler: async (record) => {
      fromEnd.push(parse(record.value).sequence)
    },
  })
  await latest.start()
  await until('the end to be committed', async () => {
    const committed = await committedOffsets(brokers, latestGroup, topic)
    return committed.get(0) === before.get(0) && committed.get(1) === before.get(1)
  })
  const later = interleaved(4, 10).filter((record) => record.sequence > 5)
  await produce(brokers, topic, later)
  await until('the later records to be handled', () => fromEnd.length === later.length)
  await latest.close()
  assert.ok(
    fromEnd.every((sequence) => sequence > 5),
    'nothing published before the group existed',
  )

  // From the start: committed at the log start before any record finished.
  const earliestGroup = testGroup(t, brokers)
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  let handled = 0
  const earliest = startConsumer(t, {
    brokers: brokers.split(','),
    groupId: earliestGroup,
    topics: [topic],
    handler: async () => {
      await gate
      handled++
    },
  })
  await earliest.start()
  await until('the log start to be committed', async () => {
    const committed = await committedOffsets(brokers, earliestGroup, topic)
    return committed.get(0) === 0n && committed.get(1) === 0n
  })
  assert.equal(handled, 0)
  release()
  await until('every record to be handled', () => handled === 40)
  await earliest.close()
  assert.deepEqual(await committedOffsets(brokers, earliestGroup, topic), await endOffsets(brokers, topic, 2))
})
