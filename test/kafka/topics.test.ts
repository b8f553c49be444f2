import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { EVENT_TYPES } from '../../src/domain/events.ts'
import { createAdmin } from '../../src/kafka/connection.ts'
import {
  ensureTopics,
  PAYMENT_TOPICS,
  payrailTopics,
  TOPICS,
  topicOf,
  topicRetentionsOn,
} from '../../src/kafka/topics.ts'
import { requireService } from '../helpers/services.ts'

test('the topics and partition counts of DESIGN.md', () => {
  assert.deepEqual(
    payrailTopics.map((topic) => [topic.name, topic.partitions]),
    [
      ['payment.authorized', 6],
      ['payment.capture-requested', 6],
      ['payment.captured', 6],
      ['payment.refund-requested', 6],
      ['payment.refunded', 6],
      ['payment.dlq', 3],
    ],
  )
  assert.deepEqual(TOPICS.captured.eventTypes, ['PAYMENT_CAPTURED', 'PAYMENT_CAPTURE_FAILED'])
  assert.deepEqual(TOPICS.dlq.eventTypes, [])
  assert.deepEqual(
    PAYMENT_TOPICS,
    payrailTopics.map((topic) => topic.name).filter((name) => name !== 'payment.dlq'),
  )
})

test('every event type has exactly one topic, taken from TOPICS; a failure rides its outcome topic', () => {
  assert.deepEqual(Object.keys(topicOf).sort(), [...EVENT_TYPES].sort())
  assert.equal(topicOf.PAYMENT_REFUND_REQUESTED, 'payment.refund-requested')
  assert.equal(topicOf.PAYMENT_CAPTURE_FAILED, 'payment.captured')
  assert.equal(topicOf.PAYMENT_REFUND_FAILED, 'payment.refunded')
  const listed = Object.values(TOPICS).flatMap((topic) => [...topic.eventTypes])
  assert.equal(listed.length, EVENT_TYPES.length, 'no event type is listed on two topics')
})

test('ensure creates missing topics, grows small ones, never lowers large ones, and is idempotent', async (t) => {
  const brokers = await requireService(t, 'kafka')
  if (brokers === undefined) return
  const admin = createAdmin({ brokers: brokers.split(','), clientId: 'payrail-test', retries: 3 })
  const prefix = `payrail-test-topics-${randomBytes(4).toString('hex')}`
  const specs = [
    { name: `${prefix}.new`, partitions: 6 },
    { name: `${prefix}.small`, partitions: 6 },
    { name: `${prefix}.large`, partitions: 3 },
  ]
  t.after(async () => {
    await admin.deleteTopics({ topics: specs.map((spec) => spec.name) })
    await admin.close()
  })
  await admin.createTopics({ topics: [`${prefix}.small`], partitions: 2, replicas: 1 })
  await admin.createTopics({ topics: [`${prefix}.large`], partitions: 5, replicas: 1 })

  const first = await ensureTopics(admin, specs)
  const single = { replicas: 1, wantedReplicas: 1, minInsync: 1, wantedMinInsync: 1 }
  assert.deepEqual(
    first.map((action) => action.replication),
    [single, single, single],
    'one broker: one replica, min.insync.replicas 1',
  )
  assert.deepEqual(
    first.map(({ replication: _, ...partitions }) => partitions),
    [
      { topic: `${prefix}.new`, action: 'created', partitions: 6 },
      { topic: `${prefix}.small`, action: 'grown', from: 2, partitions: 6 },
      { topic: `${prefix}.large`, action: 'kept-larger', partitions: 5, wanted: 3 },
    ],
  )
  const metadata = await admin.metadata({ topics: specs.map((spec) => spec.name), forceUpdate: true })
  assert.equal(metadata.topics.get(`${prefix}.new`)?.partitionsCount, 6)
  assert.equal(metadata.topics.get(`${prefix}.small`)?.partitionsCount, 6)
  assert.equal(metadata.topics.get(`${prefix}.large`)?.partitionsCount, 5)

  const second = await ensureTopics(admin, specs)
  assert.deepEqual(
    second.map((action) => action.action),
    ['unchanged', 'unchanged', 'kept-larger'],
  )
})

test('ensure run by two clients at once leaves each topic created once', async (t) => {
  const brokers = await requireService(t, 'kafka')
  if (brokers === undefined) return
  const a = createAdmin({ brokers: brokers.split(','), clientId: 'payrail-test-a', retries: 3 })
  const b = createAdmin({ brokers: brokers.split(','), clientId: 'payrail-test-b', retries: 3 })
  const specs = [{ name: `payrail-test-race-${randomBytes(4).toString('hex')}`, partitions: 4 }]
  t.after(async () => {
    await a.deleteTopics({ topics: specs.map((spec) => spec.name) })
    await a.close()
    await b.close()
  })
  await Promise.all([ensureTopics(a, specs), ensureTopics(b, specs)])
  const metadata = await a.metadata({ topics: [specs[0]?.name ?? ''], forceUpdate: true })
  assert.equal(metadata.topics.get(specs[0]?.name ?? '')?.partitionsCount, 4)
})

test('topics payrail creates keep records for the retention asked; existing ones keep theirs', async (t) => {
  const brokers = await requireService(t, 'kafka')
  if (brokers === undefined) return
  const options = { brokers: brokers.split(','), clientId: 'payrail-test', retries: 3 }
  const admin = createAdmin(options)
  const prefix = `payrail-test-retention-${randomBytes(4).toString('hex')}`
  const specs = [
    { name: `${prefix}.new`, partitions: 1 },
    { name: `${prefix}.old`, partitions: 1 },
  ]
  t.after(async () => {
    await admin.deleteTopics({ topics: specs.map((spec) => spec.name) })
    await admin.close()
  })
  await admin.createTopics({
    topics: [`${prefix}.old`],
    partitions: 1,
    replicas: 1,
    configs: [{ name: 'retention.ms', value: '-1' }],
  })
  await ensureTopics(admin, specs, 86_400_000)
  const retentions = await topicRetentionsOn(
    options,
    specs.map((spec) => spec.name),
  )
  assert.equal(retentions.get(`${prefix}.new`), 86_400_000)
  assert.equal(retentions.get(`${prefix}.old`), Number.POSITIVE_INFINITY, 'unlimited, and left as it was')
})
