import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { listDead, replayDead } from '../../src/outbox/status.ts'
import { toPendingEvent } from '../../src/outbox/store.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'
import {
  firstDeliveries,
  outboxRows,
  outboxStateCounts,
  outOfOrder,
  readTopic,
  readTopicToEnd,
  seedEvents,
  setTopicConfig,
  startRelay,
  testTopic,
} from '../helpers/outbox.ts'
import { requireService } from '../helpers/services.ts'
import { until } from '../helpers/until.ts'

async function setup(t: import('node:test').TestContext, dialect: (typeof dialects)[number]) {
  const brokers = await requireService(t, 'kafka')
  if (brokers === undefined) return undefined
  const database = await throwawayDatabase(t, dialect)
  if (database === undefined) return undefined
  const { db } = database.open(8)
  await migrateToLatest(db, dialect)
  return { brokers, db, database }
}

const pendingCount = async (db: import('kysely').Kysely<import('../../src/db/schema.ts').Database>) => {
  const counts = await outboxStateCounts(db)
  return counts.PENDING + counts.RETRY
}

for (const dialect of dialects) {
  describe(dialect, () => {
    test('every outbox row becomes exactly one Kafka record, in sequence order per payment', async (t) => {
      const env = await setup(t, dialect)
      if (env === undefined) return
      const topic = await testTopic(t, env.brokers)
      const { eventIds } = await seedEvents(env.db, { dialect, payments: 40, perPayment: 8, topic })
      startRelay(env.database, env.db, env.brokers, { batchSize: 100 })
      await until('the outbox to drain', async () => (await pendingCount(env.db)) === 0)

      const records = await readTopicToEnd(env.brokers, topic)
      assert.equal(records.length, eventIds.length, 'no record missing, none duplicated')
      assert.deepEqual(new Set(records.map((r) => r.eventId)), new Set(eventIds))
      assert.deepEqual(outOfOrder(records), [])
      assert.ok((await outboxRows(env.db)).every((row) => row.state === 'PUBLISHED'))
      assert.equal(records[0]?.headers.get('event-type'), 'PAYMENT_AUTHORIZED')
    })

    test('a record the broker refuses holds back only its payment, which resumes in order once accepted', async (t) => {
      const env = await setup(t, dialect)
      if (env === undefined) return
      const topic = await testTopic(t, env.brokers, [{ name: 'max.message.bytes', value: '3000' }])
      // Payment 0's third event is too large for the topic until the test raises the limit.
      const { paymentIds, eventIds } = await seedEvents(env.db, {
        dialect,
        payments: 10,
        perPayment: 5,
        topic,
        padding: (p, s) => (p === 0 && s === 3 ? 8000 : 0),
      })
      startRelay(env.database, env.db, env.brokers, { retryIntervalMs: 200, maxRetries: 1000 })
      await until('the other payments to drain', async () => (await pendingCount(env.db)) === 3)
      const held = (await outboxRows(env.db))
        .filter((row) => row.state === 'PENDING' || row.state === 'RETRY')
        .sort((a, b) => a.sequence - b.sequence)
      assert.deepEqual(
        held.map((row) => [row.paymentId, row.sequence, row.state]),
        [
          [paymentIds[0], 3, 'RETRY'],
          [paymentIds[0], 4, 'PENDING'],
          [paymentIds[0], 5, 'PENDING'],
        ],
      )
      assert.ok((held[0]?.attempts ?? 0) >= 1, 'the refused record counted an attempt')
      assert.equal(held[1]?.attempts, 0, 'the held-back ones did not')

      await setTopicConfig(env.brokers, topic, 'max.message.bytes', '1000000')
      await until('the held payment to drain', async () => (await pendingCount(env.db)) === 0)
      // The refused send was resent one event at a time, so events the broker had already taken
      // from it arrive twice (at least once); a consumer that dedupes by eventId sees each once, in order.
      const records = firstDeliveries(await readTopicToEnd(env.brokers, topic))
      assert.deepEqual(new Set(records.map((r) => r.eventId)), new Set(eventIds))
      assert.deepEqual(outOfOrder(records), [])
    })

    test('after its retries a poison event goes to payment.dlq with headers, its payment moves on, and replay republishes it', async (t) => {
      const env = await setup(t, dialect)
      if (env === undefined) return
      const topic = await testTopic(t, env.brokers, [{ name: 'max.message.bytes', value: '3000' }])
      const { eventIds } = await seedEvents(env.db, {
        dialect,
        payments: 3,
        perPayment: 3,
        topic,
        padding: (p, s) => (p === 1 && s === 2 ? 8000 : 0),
      })
      const poison = eventIds[3 + 1] as string // second round, payment 1
      startRelay(env.database, env.db, env.brokers, { retryIntervalMs: 20, maxRetries: 3 })
      await until('the outbox to settle', async () => (await pendingCount(env.db)) === 0)

      const dead = await listDead(env.db)
      assert.deepEqual(
        dead.map((row) => [row.event_id, row.attempts]),
        [[poison, 3]],
      )
      assert.match(dead[0]?.last_error ?? '', /./)
      const dlq = (await readTopicToEnd(env.brokers, 'payment.dlq')).filter((r) => r.eventId === poison)
      assert.equal(dlq.length, 1)
      assert.equal(dlq[0]?.headers.get('original-topic'), topic)
      assert.equal(dlq[0]?.headers.get('attempts'), '3')
      assert.ok((dlq[0]?.headers.get('error-message') ?? '').length > 0)
      const delivered = firstDeliveries(await readTopicToEnd(env.brokers, topic))
      assert.equal(delivered.length, 8, 'every event but the poison one, including its payment’s later event')

      await setTopicConfig(env.brokers, topic, 'max.message.bytes', '1000000')
      assert.equal(await replayDead(env.db, { eventId: poison }), 1)
      await until('the replayed event', async () => (await pendingCount(env.db)) === 0)
      const all = await readTopicToEnd(env.brokers, topic)
      assert.ok(all.some((r) => r.eventId === poison))
      assert.deepEqual(await listDead(env.db), [])
    })

    test('two relays split the buckets; when one stops, the other takes them over and publishes the rest', async (t) => {
      const env = await setup(t, dialect)
      if (env === undefined) return
      const topic = await testTopic(t, env.brokers)
      const a = startRelay(env.database, env.db, env.brokers)
      const b = startRelay(env.database, env.db, env.brokers)
      await until('an even split', async () => {
        const owners = await env.db.selectFrom('outbox_leases').select('owner').execute()
        const counts = new Map<string | null, number>()
        for (const row of owners) counts.set(row.owner, (counts.get(row.owner) ?? 0) + 1)
        return counts.size === 2 && [...counts.values()].every((n) => n === 32)
      })
      await a.stop()
      const { eventIds } = await seedEvents(env.db, { dialect, payments: 30, perPayment: 4, topic })
      await until('b to publish everything', async () => (await pendingCount(env.db)) === 0)
      const owners = new Set(
        (await env.db.selectFrom('outbox_leases').select('owner').execute()).map((row) => row.owner),
      )
      assert.equal(owners.size, 1, 'one relay holds every bucket')
      const records = await readTopic(env.brokers, topic, eventIds.length, 15_000)
      assert.equal(records.length, eventIds.length)
      assert.deepEqual(outOfOrder(records), [])
      await b.stop()
    })
  })
}

test('the fast path publishes handed-off records without waiting for a poll, and leaves gaps to the poll', async (t) => {
  const env = await setup(t, 'sqlite')
  if (env === undefined) return
  const topic = await testTopic(t, env.brokers)
  const { relay } = startRelay(env.database, env.db, env.brokers, { pollIntervalMs: 60_000 })
  await until(
    'leases',
    async () =>
      (await env.db.selectFrom('outbox_leases').select('owner').where('owner', 'is not', null).execute())
        .length === 64,
  )
  const { eventIds } = await seedEvents(env.db, { dialect: 'sqlite', payments: 1, perPayment: 1, topic })
  const row = await env.db.selectFrom('outbox_events').selectAll().executeTakeFirstOrThrow()
  const record = toPendingEvent(row)
  const started = Date.now()
  relay.commitHandOff().handOff([record])
  await until('the handed-off record', async () => (await pendingCount(env.db)) === 0, { timeoutMs: 5000 })
  assert.ok(Date.now() - started < 5000, 'well before the 60 s poll')
  const records = await readTopic(env.brokers, topic, 1, 5000)
  assert.deepEqual(
    records.map((r) => r.eventId),
    eventIds,
  )
})
