import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Registry } from 'prom-client'
import { PayrailError } from '../../../src/domain/errors.ts'
import { javaPartition } from '../../../src/kafka/partitioner.ts'
import { createConsumerMetrics } from '../../../src/workers/consumer/index.ts'
import {
  consumerFixture,
  endOffsets,
  HandlerWatch,
  interleaved,
  parse,
  produce,
  startConsumer,
  testGroup,
} from '../../helpers/consumer.ts'
import { readTopic, testTopic } from '../../helpers/outbox.ts'
import { requireService } from '../../helpers/services.ts'
import { until } from '../../helpers/until.ts'

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const found = (await registry.getSingleMetric(name)?.get())?.values.find((value) =>
    Object.entries(labels).every(([label, wanted]) => String(value.labels[label]) === wanted),
  )
  return found?.value ?? 0
}

test('a poison record goes to the DLQ after maxAttempts with its headers while other keys flow, and its key moves on', {
  timeout: 120_000,
}, async (t) => {
  const kafka = await consumerFixture(t, interleaved(20, 10), 3)
  if (kafka === undefined) return
  const { brokers, topic, group } = kafka
  const dlq = await testTopic(t, brokers, [], 3)
  const registry = new Registry()

  // A logical clock orders what happened.
  let clock = 0
  const calls = new Map<string, number>()
  const finishedAt = new Map<string, number>()
  const startedAt = new Map<string, number>()
  let poisonFirstFailure = 0
  const where = new Map<string, { partition: number; offset: bigint }>()
  const watch = new HandlerWatch()
  const consumer = startConsumer(t, {
    brokers: brokers.split(','),
    groupId: group,
    topics: [topic],
    name: 'poison-test',
    deadLetterTopic: dlq,
    maxAttempts: 4,
    // 50-100, 100-200 and 200-400 ms between the four attempts.
    retryDelayMs: 100,
    retryMaxDelayMs: 1000,
    observer: createConsumerMetrics(registry, 'poison-test'),
    handler: async (record) => {
      const { key, sequence } = parse(record.value)
      const id = `${key}-${sequence}`
      calls.set(id, (calls.get(id) ?? 0) + 1)
      if (!startedAt.has(id)) startedAt.set(id, ++clock)
      where.set(id, { partition: record.partition, offset: record.offset })
      watch.begin(key, sequence)
      try {
        await sleep(1)
        if (id === 'k007-3') {
          if (poisonFirstFailure === 0) poisonFirstFailure = ++clock
          throw new Error('poison: cannot parse')
        }
        if (id === 'k011-5') throw new PayrailError('VALIDATION_FAILED', 'amount missing')
        finishedAt.set(id, ++clock)
      } finally {
        watch.end(key)
      }
    },
  })
  await consumer.start()
  await until(
    'every record to be handled or dead-lettered',
    () => finishedAt.size === 198 && calls.get('k007-10') === 1,
  )
  await until(
    'both dead letters to be counted',
    async () => (await metric(registry, 'payrail_worker_dead_letters_total', {})) === 2,
  )
  await consumer.close()

  assert.equal(calls.get('k007-3'), 4, 'tried maxAttempts times')
  assert.equal(calls.get('k011-5'), 1, 'not retryable: dead-lettered at once')
  assert.deepEqual(watch.problems, [])
  for (let k = 0; k < 20; k++) {
    const key = `k${String(k).padStart(3, '0')}`
    const firstStarts = Array.from({ length: 10 }, (_, i) => startedAt.get(`${key}-${i + 1}`) as number)
    assert.deepEqual(
      firstStarts,
      [...firstStarts].sort((a, b) => a - b),
      `${key} in order`,
    )
  }
  // The key moved on, after the poison record was given up; the other keys did not wait for it.
  const poisonDone = startedAt.get('k007-4') as number
  assert.ok(poisonDone > poisonFirstFailure)
  const othersMeanwhile = [...finishedAt].filter(
    ([id, at]) => !id.startsWith('k007-') && at > poisonFirstFailure && at < poisonDone,
  )
  assert.ok(othersMeanwhile.length > 0, 'other keys were handled while the poison record was retried')

  const ends = await endOffsets(brokers, dlq, 3)
  assert.equal(
    [...ends.values()].reduce((sum, end) => sum + end, 0n),
    2n,
    'exactly two dead letters',
  )
  const letters = await readTopic(brokers, dlq, 2)
  const poison = letters.find((letter) => letter.key === 'k007')
  const invalid = letters.find((letter) => letter.key === 'k011')
  assert.ok(poison !== undefined && invalid !== undefined)
  const origin = where.get('k007-3')
  assert.deepEqual(Object.fromEntries(poison.headers), {
    'event-id': 'k007-3',
    'original-topic': topic,
    'original-partition': String(origin?.partition),
    'original-offset': String(origin?.offset),
    'consumer-group': group,
    'error-code': 'INTERNAL',
    'error-message': 'poison: cannot parse',
    attempts: '4',
    'failed-by': 'poison-test',
  })
  assert.equal(poison.eventId, 'k007-3', 'the original value')
  assert.equal(poison.sequence, 3)
  assert.equal(poison.partition, javaPartition('k007', 3), 'keyed like every payrail record')
  assert.equal(invalid.headers.get('error-code'), 'VALIDATION_FAILED')
  assert.equal(invalid.headers.get('error-message'), 'amount missing')
  assert.equal(invalid.headers.get('attempts'), '1')
  assert.equal(invalid.headers.get('original-offset'), String(where.get('k011-5')?.offset))

  assert.equal(await metric(registry, 'payrail_worker_processed_total', { outcome: 'ok' }), 198)
  assert.equal(await metric(registry, 'payrail_worker_processed_total', { outcome: 'dead_letter' }), 2)
  assert.equal(await metric(registry, 'payrail_worker_retries_total', { reason: 'failure' }), 3)
  assert.equal(await metric(registry, 'payrail_worker_retries_total', { reason: 'outage' }), 0)
})

test('an outage spends no attempts and dead-letters nothing; the records go through, in order, once it ends', {
  timeout: 120_000,
}, async (t) => {
  const brokers = await requireService(t, 'kafka')
  if (brokers === undefined) return
  const topic = await testTopic(t, brokers, [], 3)
  const dlq = await testTopic(t, brokers, [], 3)
  await produce(brokers, topic, interleaved(5, 10))
  const registry = new Registry()

  let outageFailures = 0
  const done = new Map<string, number[]>()
  const watch = new HandlerWatch()
  const consumer = startConsumer(t, {
    brokers: brokers.split(','),
    groupId: testGroup(t, brokers),
    topics: [topic],
    deadLetterTopic: dlq,
    maxAttempts: 2,
    outageDelayMs: 10,
    outageMaxDelayMs: 50,
    observer: createConsumerMetrics(registry, 'outage-test'),
    handler: async (record) => {
      const { key, sequence } = parse(record.value)
      watch.begin(key, sequence)
      try {
        // The acquirer's breaker stays open until the five waiting records failed ~12 times each.
        if (outageFailures < 60) {
          outageFailures++
          throw new PayrailError('ACQUIRER_UNAVAILABLE', 'the settle breaker is open')
        }
        done.set(key, [...(done.get(key) ?? []), sequence])
      } finally {
        watch.end(key)
      }
    },
  })
  await consumer.start()
  await until('every record to go through', () => [...done.values()].flat().length === 50)
  await consumer.close()

  const all = Array.from({ length: 10 }, (_, i) => i + 1)
  assert.equal(done.size, 5)
  for (const [key, sequences] of done) assert.deepEqual(sequences, all, `${key}: once each, in order`)
  assert.deepEqual(watch.problems, [])
  const ends = await endOffsets(brokers, dlq, 3)
  assert.deepEqual([...ends.values()], [0n, 0n, 0n], 'nothing dead-lettered')
  assert.equal(await metric(registry, 'payrail_worker_retries_total', { reason: 'outage' }), 60)
  assert.equal(await metric(registry, 'payrail_worker_retries_total', { reason: 'failure' }), 0)
  assert.equal(await metric(registry, 'payrail_worker_processed_total', { outcome: 'ok' }), 50)
})
