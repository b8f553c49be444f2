import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { PostgresWakeup } from '../../src/outbox/postgres-wakeup.ts'
import type { RelayOptions } from '../../src/outbox/relay-options.ts'
import { quietLogger } from '../../support/logger.ts'
import { throwawayDatabase } from '../helpers/databases.ts'
import { readTopic, seedEvents, silentRelayObserver, startRelay, testTopic } from '../helpers/outbox.ts'
import { requireService } from '../helpers/services.ts'
import { until } from '../helpers/until.ts'

/** A relay on a throwaway PostgreSQL database, nudged by a real PostgresWakeup; counts its polls and wake-ups. */
async function wokenRelay(t: TestContext, options: Partial<RelayOptions>) {
  const brokers = await requireService(t, 'kafka')
  if (brokers === undefined) return undefined
  const database = await throwawayDatabase(t, 'postgres')
  if (database === undefined) return undefined
  const { db } = database.open(4)
  await migrateToLatest(db, 'postgres')
  const topic = await testTopic(t, brokers)
  const counts = { scans: 0, wakes: 0 }
  const observer = {
    ...silentRelayObserver,
    scanned: () => {
      counts.scans++
    },
  }
  const { relay } = startRelay(database, db, brokers, { ...options, observer })
  const wakeup = new PostgresWakeup({
    url: database.url,
    logger: quietLogger(),
    onWake: () => {
      counts.wakes++
      relay.nudge()
    },
  })
  await wakeup.start()
  database.beforeClose(() => wakeup.stop())
  return { brokers, db, topic, counts }
}

test('postgres: a commit to the outbox wakes an idle relay at once through LISTEN/NOTIFY', async (t) => {
  const woken = await wokenRelay(t, { pollIntervalMs: 60_000 })
  if (woken === undefined) return
  const { brokers, db, topic, counts } = woken
  // Without a notification the next poll would come a minute later.
  const leased = async () =>
    (await db.selectFrom('outbox_leases').select('owner').where('owner', 'is not', null).execute()).length ===
    64
  await until('the relay leased every bucket', leased)
  // Rows committed before the first poll ends would be found without a notification.
  await until('the relay’s first poll, at start, ended', () => counts.scans >= 1)

  const { eventIds } = await seedEvents(db, { dialect: 'postgres', payments: 3, perPayment: 2, topic })
  const records = await readTopic(brokers, topic, eventIds.length, 10_000)
  assert.deepEqual(new Set(records.map((r) => r.eventId)), new Set(eventIds))
  assert.ok(counts.wakes >= 1, 'woken by a notification')
})

test('postgres: a stream of commits shares polls (minPollGapMs), not one poll and send per notification', async (t) => {
  const gapMs = 300
  const woken = await wokenRelay(t, { pollIntervalMs: 60_000, minPollGapMs: gapMs })
  if (woken === undefined) return
  const { brokers, db, topic, counts } = woken
  await until('the relay’s first poll, at start, ended', () => counts.scans >= 1)
  const before = counts.scans
  const started = Date.now()
  // 40 transactions one after the other: 40 notifications.
  const { eventIds } = await seedEvents(db, { dialect: 'postgres', payments: 40, perPayment: 1, topic })
  const elapsed = Date.now() - started
  const records = await readTopic(brokers, topic, eventIds.length, 10_000)
  assert.deepEqual(new Set(records.map((r) => r.eventId)), new Set(eventIds))
  const polls = counts.scans - before
  assert.ok(counts.wakes >= 2, `notified while committing (${counts.wakes})`)
  assert.ok(
    polls <= Math.ceil(elapsed / gapMs) + 2,
    `${polls} polls for ${counts.wakes} notifications over ${elapsed} ms, at most one per ${gapMs} ms`,
  )
})
