import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  type ConsumerObserver,
  type KeyedConsumer,
  noopObserver,
} from '../../../src/workers/consumer/index.ts'
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

test('10,000 records over 100 keys with random handler delays: each key in order, every record handled, all committed', {
  timeout: 180_000,
}, async (t) => {
  const random = seededRandom(t)
  const kafka = await consumerFixture(t, interleaved(100, 100))
  if (kafka === undefined) return
  const { brokers, topic, group } = kafka

  const watch = new HandlerWatch()
  const perPartition = new Map<number, number>()
  let maxWithinPartition = 0
  const lags = new Map<number, number | null>()
  const lagSeconds = new Map<number, number | undefined>()
  let oldestBehindSeconds = 0
  const observer: ConsumerObserver = {
    ...noopObserver,
    lag: (_topic, partition, n, seconds) => {
      lags.set(partition, n)
      lagSeconds.set(partition, seconds)
      if (n !== null && n > 0) oldestBehindSeconds = Math.max(oldestBehindSeconds, seconds ?? 0)
    },
  }
  const consumer = startConsumer(t, {
    brokers: brokers.split(','),
    groupId: group,
    topics: [topic],
    concurrency: 64,
    observer,
    handler: async (record) => {
      const { key, sequence } = parse(record.value)
      if (key !== record.key) watch.problems.push(`record key ${record.key} carries ${key}`)
      watch.begin(key, sequence)
      const running = (perPartition.get(record.partition) ?? 0) + 1
      perPartition.set(record.partition, running)
      maxWithinPartition = Math.max(maxWithinPartition, running)
      await sleep(random() * 4)
      perPartition.set(record.partition, (perPartition.get(record.partition) ?? 1) - 1)
      watch.finished.add(`${record.partition}:${record.offset}`)
      watch.end(key)
    },
  })
  await consumer.start()
  await until('every record to be handled', () => watch.finished.size === 10_000, { timeoutMs: 120_000 })
  await until(
    'the lag of every partition to reach 0',
    () => lags.size === 6 && [...lags.values()].every((n) => n === 0),
  )
  assert.deepEqual([...lagSeconds.values()], [0, 0, 0, 0, 0, 0], 'caught up: 0 seconds behind')
  t.diagnostic(`oldest record behind, while records were: ${oldestBehindSeconds.toFixed(3)} s`)
  await consumer.close()

  assert.deepEqual(watch.problems, [], 'never two records of one key at once')
  assert.deepEqual(watch.outOfOrder(), [])
  assert.equal(watch.started.size, 100)
  const all = Array.from({ length: 100 }, (_, i) => i + 1)
  for (const [key, sequences] of watch.started)
    assert.deepEqual(sequences, all, `${key}: each record once, in order`)
  assert.ok(watch.maxInFlight <= 64, `at most 64 at once, saw ${watch.maxInFlight}`)
  assert.ok(maxWithinPartition > 1, 'records of one partition ran in parallel')
  assert.deepEqual(
    await committedOffsets(brokers, group, topic),
    await endOffsets(brokers, topic, 6),
    'everything handled is committed',
  )
})

test('at most `concurrency` records run or wait at once, and the limit is used', {
  timeout: 120_000,
}, async (t) => {
  const random = seededRandom(t)
  const brokers = await requireService(t, 'kafka')
  if (brokers === undefined) return
  const topic = await testTopic(t, brokers, [], 2)
  await produce(brokers, topic, interleaved(50, 6))
  const watch = new HandlerWatch()
  const overLimit: string[] = []
  let consumer: KeyedConsumer | undefined
  consumer = startConsumer(t, {
    brokers: brokers.split(','),
    groupId: testGroup(t, brokers),
    topics: [topic],
    concurrency: 5,
    handler: async (record) => {
      const { key, sequence } = parse(record.value)
      watch.begin(key, sequence)
      const status = consumer?.status()
      if (status !== undefined && status.inFlight + status.queued > 5)
        overLimit.push(`${status.inFlight} in flight + ${status.queued} queued`)
      await sleep(5 + random() * 10)
      watch.finished.add(`${record.partition}:${record.offset}`)
      watch.end(key)
    },
  })
  await consumer.start()
  await until('every record to be handled', () => watch.finished.size === 300)
  await consumer.close()
  assert.deepEqual(overLimit, [])
  assert.equal(watch.maxInFlight, 5, 'never more than 5 handlers at once, and 5 were reached')
  assert.deepEqual(watch.problems, [])
  assert.deepEqual(watch.outOfOrder(), [])
})

test('fetching stops while the limit is reached and resumes below it', { timeout: 120_000 }, async (t) => {
  const kafka = await consumerFixture(t, interleaved(30, 10), 2)
  if (kafka === undefined) return
  const { brokers, topic, group } = kafka
  // Every fetch request the group's consumer sends, as the library reports it.
  let fetches = 0
  const onFetch = (message: unknown) => {
    if ((message as { client?: { groupId?: string } }).client?.groupId === group) fetches++
  }
  subscribe('tracing:plt:kafka:consumer:fetches:start', onFetch)
  t.after(() => unsubscribe('tracing:plt:kafka:consumer:fetches:start', onFetch))

  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  const watch = new HandlerWatch()
  const consumer = startConsumer(t, {
    brokers: brokers.split(','),
    groupId: group,
    topics: [topic],
    concurrency: 5,
    handler: async (record) => {
      const { key, sequence } = parse(record.value)
      watch.begin(key, sequence)
      await gate
      watch.finished.add(`${record.partition}:${record.offset}`)
      watch.end(key)
    },
  })
  await consumer.start()
  await until('the limit to be reached', () => watch.inFlight === 5)
  const atLimit = fetches
  await sleep(1500)
  assert.equal(
    fetches,
    atLimit,
    'no fetch while the limit is reached (the broker would answer within 500 ms)',
  )
  assert.equal(watch.inFlight, 5)
  release()
  await until('every record to be handled', () => watch.finished.size === 300)
  await until('fetching to resume', () => fetches > atLimit)
  await consumer.close()
  assert.equal(watch.maxInFlight, 5)
  assert.deepEqual(watch.outOfOrder(), [])
})
