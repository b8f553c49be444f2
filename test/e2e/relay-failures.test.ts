import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Kysely } from 'kysely'
import { ROOT } from '../../src/cli/context.ts'
import type { DialectName } from '../../src/db/database.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import type { Database } from '../../src/db/schema.ts'
import { createAdmin } from '../../src/kafka/connection.ts'
import { startBroker, stopBroker } from '../../src/kafka/local-broker/broker.ts'
import { freePort, type RoleProcess, startRole } from '../../support/processes.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'
import {
  firstDeliveries,
  outboxStateCounts,
  outOfOrder,
  readTopicToEnd,
  seedEvents,
  testTopic,
} from '../helpers/outbox.ts'
import { requireService } from '../helpers/services.ts'
import { until } from '../helpers/until.ts'

/** Rows in these states; 'unpublished' is PENDING and RETRY. */
async function count(db: Kysely<Database>, state: 'PUBLISHED' | 'DEAD' | 'unpublished'): Promise<number> {
  const counts = await outboxStateCounts(db)
  return state === 'unpublished' ? counts.PENDING + counts.RETRY : counts[state]
}

/**
 * A relay process with short leases, so that a killed one's buckets move within seconds.
 * `batchSize` small makes a backlog take many Kafka round trips, so that a kill lands mid-stream
 * even on a fast machine.
 */
async function relay(databaseUrl: string, brokers: string, batchSize = 100): Promise<RoleProcess> {
  const port = await freePort()
  return startRole('relay', port, {
    DATABASE_URL: databaseUrl,
    KAFKA_BROKERS: brokers,
    RELAY_METRICS_PORT: String(port),
    OUTBOX_BATCH_SIZE: String(batchSize),
    OUTBOX_POLL_INTERVAL_MS: '50',
    OUTBOX_LEASE_MS: '3000',
    KAFKA_DELIVERY_TIMEOUT_MS: '1000',
  })
}

for (const dialect of dialects) {
  test(`${dialect}: two relay processes; one killed with SIGKILL mid-stream: the other takes its buckets, nothing is lost, order holds`, async (t) => {
    const brokers = await requireService(t, 'kafka')
    if (brokers === undefined) return
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const { db } = database.open(4)
    await migrateToLatest(db, dialect)
    const topic = await testTopic(t, brokers)
    const a = await relay(database.url, brokers)
    const b = await relay(database.url, brokers)
    database.beforeClose(async () => {
      await a.stop('SIGKILL')
      await b.stop()
    })
    await until('both relays to hold buckets', async () => {
      const owners = await db
        .selectFrom('outbox_leases')
        .select('owner')
        .where('owner', 'is not', null)
        .execute()
      return new Set(owners.map((row) => row.owner)).size === 2
    })

    const { eventIds } = await seedEvents(db, { dialect, payments: 100, perPayment: 20, topic })
    await until('some events to be published', async () => (await count(db, 'PUBLISHED')) > 200, {
      timeoutMs: 30_000,
    })
    assert.equal(await a.stop('SIGKILL'), null, 'killed, not exited')
    await until('every event to be published', async () => (await count(db, 'unpublished')) === 0)
    // The survivor may have published everything before the dead relay's leases ran out (its
    // buckets can be empty by then); it takes them over within the lease plus the grace period.
    // Both held buckets, and a dead relay takes none: one owner of all 64 is the survivor.
    const owners = async () =>
      (await db.selectFrom('outbox_leases').select('owner').execute()).map((row) => row.owner)
    await until(
      'the survivor to hold every bucket',
      async () => {
        const all = await owners()
        return new Set(all).size === 1 && all[0] !== null
      },
      { timeoutMs: 30_000 },
    )

    const records = await readTopicToEnd(brokers, topic)
    const first = firstDeliveries(records)
    assert.deepEqual(new Set(first.map((r) => r.eventId)), new Set(eventIds), 'every event reached Kafka')
    assert.deepEqual(outOfOrder(first), [], 'per payment, in sequence order')
    t.diagnostic(`duplicates after the kill: ${records.length - first.length} of ${eventIds.length}`)
  })

  test(`${dialect}: the only relay killed with SIGKILL mid-batch and restarted: nothing is lost, order holds`, async (t) => {
    const brokers = await requireService(t, 'kafka')
    if (brokers === undefined) return
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const { db } = database.open(4)
    await migrateToLatest(db, dialect)
    const topic = await testTopic(t, brokers)
    const { eventIds } = await seedEvents(db, { dialect, payments: 80, perPayment: 50, topic })
    // Batches of 5: the 4,000 events take at least 800 sends, each a Kafka round trip.
    const first = await relay(database.url, brokers, 5)
    database.beforeClose(async () => {
      await first.stop('SIGKILL')
    })
    await until('some events to be published', async () => (await count(db, 'PUBLISHED')) > 50, {
      timeoutMs: 30_000,
      intervalMs: 10,
    })
    assert.equal(await first.stop('SIGKILL'), null, 'killed, not exited')
    const left = await count(db, 'unpublished')
    assert.ok(left > 0, 'killed before the end')
    t.diagnostic(`killed with ${left} of ${eventIds.length} events unpublished`)

    const second = await relay(database.url, brokers)
    database.beforeClose(async () => {
      assert.equal(await second.stop(), 0, 'a clean exit on SIGTERM')
    })
    await until('every event to be published', async () => (await count(db, 'unpublished')) === 0)
    const records = await readTopicToEnd(brokers, topic)
    const delivered = firstDeliveries(records)
    assert.deepEqual(new Set(delivered.map((r) => r.eventId)), new Set(eventIds), 'every event reached Kafka')
    assert.deepEqual(outOfOrder(delivered), [], 'per payment, in sequence order')
    assert.equal(await count(db, 'DEAD'), 0)
    t.diagnostic(`duplicates after the kill: ${records.length - delivered.length} of ${eventIds.length}`)
  })
}

/**
 * One outage for every dialect at once: each database gets its own relay process and writer,
 * all publishing to one broker of this test's own, which is killed for 30 s.
 */
test('Kafka stopped for 30 s under load (every dialect): the breakers open, nothing is lost or dead-lettered, the backlogs drain when it returns', async (t) => {
  await requireService(t, 'kafka')
  // One hook that undoes everything in reverse (relays, broker, its files), registered before
  // the databases so that it runs before they are dropped.
  const undo: (() => Promise<unknown>)[] = []
  t.after(async () => {
    for (const step of undo.reverse()) await step()
  })
  const setups: { dialect: DialectName; db: Kysely<Database>; url: string }[] = []
  for (const dialect of dialects) {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) continue
    const { db } = database.open(4)
    await migrateToLatest(db, dialect)
    setups.push({ dialect, db, url: database.url })
  }
  // A broker of this test's own, so that stopping it disturbs no other test.
  const port = await freePort()
  const stateDir = mkdtempSync(join(tmpdir(), 'payrail-outage-'))
  const broker = { root: ROOT, stateDir, port, controllerPort: await freePort(), say: () => {} }
  undo.push(async () => rmSync(stateDir, { recursive: true, force: true }))
  await startBroker(broker)
  undo.push(() => stopBroker(broker, 10_000, 'SIGKILL'))
  const brokers = `127.0.0.1:${port}`
  const topic = `payrail-test-outage-${Date.now().toString(36)}`
  const admin = createAdmin({ brokers: [brokers], clientId: 'payrail-test', retries: 3 })
  await admin.createTopics({ topics: [topic], partitions: 6, replicas: 1 })
  await admin.close()

  const lanes = []
  for (const setup of setups) {
    const r = await relay(setup.url, brokers)
    undo.push(() => r.stop())
    const lane = { ...setup, relay: r, written: [] as string[], writing: true, writer: Promise.resolve() }
    lane.writer = (async () => {
      while (lane.writing) {
        lane.written.push(
          ...(await seedEvents(lane.db, { dialect: lane.dialect, payments: 5, perPayment: 2, topic }))
            .eventIds,
        )
        await sleep(100)
      }
    })()
    lanes.push(lane)
  }
  const breaker = async (url: string) => {
    const text = await fetch(`${url}/metrics`).then((response) => response.text())
    return Number(/^payrail_outbox_breaker_state\{[^}]*\} (\S+)$/m.exec(text)?.[1] ?? Number.NaN)
  }
  for (const lane of lanes)
    await until(`${lane.dialect} traffic to flow`, async () => (await count(lane.db, 'PUBLISHED')) > 50, {
      timeoutMs: 30_000,
    })

  await stopBroker(broker, 10_000, 'SIGKILL')
  for (const lane of lanes)
    await until(
      `the ${lane.dialect} relay's breaker to open`,
      async () => (await breaker(lane.relay.url)) === 2,
      { timeoutMs: 30_000 },
    )
  await sleep(30_000)
  for (const lane of lanes) {
    assert.equal(await count(lane.db, 'DEAD'), 0, `${lane.dialect}: an outage dead-letters nothing`)
    const refused = await lane.db.selectFrom('outbox_retries').select('id').execute()
    assert.deepEqual(refused, [], `${lane.dialect}: an outage uses up no retries`)
    assert.ok((await count(lane.db, 'unpublished')) > 0, `${lane.dialect}: events wait in the outbox`)
  }

  await startBroker(broker)
  for (const lane of lanes) lane.writing = false
  await Promise.all(lanes.map((lane) => lane.writer))
  for (const lane of lanes) {
    await until(
      `the ${lane.dialect} backlog to drain`,
      async () => (await count(lane.db, 'unpublished')) === 0,
      { timeoutMs: 90_000 },
    )
    await until(`the ${lane.dialect} breaker to close`, async () => (await breaker(lane.relay.url)) === 0, {
      timeoutMs: 30_000,
    })
  }
  const all = lanes.flatMap((lane) => lane.written)
  const first = firstDeliveries(await readTopicToEnd(brokers, topic))
  assert.deepEqual(new Set(first.map((record) => record.eventId)), new Set(all), 'every event reached Kafka')
  assert.deepEqual(outOfOrder(first), [])
  for (const lane of lanes) assert.equal(await count(lane.db, 'DEAD'), 0)
})
