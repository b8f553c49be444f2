import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Registry } from 'prom-client'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { createRelayMetrics } from '../../src/outbox/metrics.ts'
import { throwawayDatabase } from '../helpers/databases.ts'
import { sample } from '../helpers/gateway.ts'
import { outboxStateCounts, seedEvents, startRelay, testTopic } from '../helpers/outbox.ts'
import { requireService } from '../helpers/services.ts'
import { until } from '../helpers/until.ts'

test('payrail_outbox_last_publish_timestamp_seconds is the time of the last send Kafka acknowledged', async (t) => {
  const brokers = await requireService(t, 'kafka')
  if (brokers === undefined) return
  const database = await throwawayDatabase(t, 'sqlite')
  if (database === undefined) return
  const { db } = database.open(4)
  await migrateToLatest(db, 'sqlite')
  const registry = new Registry()
  const metrics = createRelayMetrics(registry)
  const lastPublish = async () =>
    sample(await registry.metrics(), 'payrail_outbox_last_publish_timestamp_seconds')
  assert.equal(await lastPublish(), 0, 'nothing sent yet')

  const topic = await testTopic(t, brokers)
  const before = Date.now() / 1000
  await seedEvents(db, { dialect: 'sqlite', payments: 5, perPayment: 2, topic })
  startRelay(database, db, brokers, { observer: metrics.observer })
  await until('the outbox to drain', async () => {
    const counts = await outboxStateCounts(db)
    return counts.PENDING + counts.RETRY === 0
  })
  const after = Date.now() / 1000
  const published = await lastPublish()
  assert.ok(published >= before && published <= after, `${published} within [${before}, ${after}]`)
})
