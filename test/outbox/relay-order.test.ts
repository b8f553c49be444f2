import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Kysely } from 'kysely'
import { migrateToLatest } from '../../src/db/migrate.ts'
import type { Database } from '../../src/db/schema.ts'
import { bucketOf } from '../../src/outbox/buckets.ts'
import { LeaseManager } from '../../src/outbox/leases.ts'
import { OutboxRelay } from '../../src/outbox/relay.ts'
import { OutboxStore, type PendingEvent } from '../../src/outbox/store.ts'
import { quietLogger } from '../../support/logger.ts'
import { throwawayDatabase } from '../helpers/databases.ts'
import { until } from '../helpers/until.ts'

function row(id: number, paymentId: string, sequence: number) {
  return {
    id,
    event_id: `e-${id}`,
    payment_id: paymentId,
    merchant_id: 'm',
    sequence,
    topic: 't',
    event_type: 'PAYMENT_AUTHORIZED',
    payload: '{}',
    headers: '{}',
    created_at: Date.now(),
    bucket: bucketOf(paymentId),
  }
}

/** Commits outbox rows with the ids given, queued as the writer queues them. */
async function commitRows(db: Kysely<Database>, rows: ReturnType<typeof row>[]): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('outbox_events').values(rows).execute()
    await trx
      .insertInto('outbox_pending')
      .values(rows.map((r) => ({ id: r.id, bucket: r.bucket })))
      .execute()
  })
}

/**
 * A relay over `db` in batches of two whose publisher records every batch and holds the first
 * send until `releaseFirst()`. `polls()` counts the polls that have read pending ids.
 */
function relayWithHeldFirstSend(db: Kysely<Database>, leases: LeaseManager, pollIntervalMs: number) {
  const sent: PendingEvent[][] = []
  let releaseFirst: () => void = () => {}
  const firstSend = new Promise<void>((resolve) => {
    releaseFirst = resolve
  })
  const store = new OutboxStore(db)
  let polls = 0
  const fetchPendingIds = store.fetchPendingIds.bind(store)
  store.fetchPendingIds = async (...args) => {
    const ids = await fetchPendingIds(...args)
    polls++
    return ids
  }
  const relay = new OutboxRelay({
    store,
    publisher: {
      send: async (events) => {
        sent.push(events)
        if (sent.length === 1) await firstSend
      },
      sendDead: async () => {},
    },
    leases,
    logger: quietLogger(),
    batchSize: 2,
    pollIntervalMs,
  })
  return {
    relay,
    sent,
    releaseFirst: () => releaseFirst(),
    polls: () => polls,
  }
}

/**
 * A payment's first event can commit after the poll's cursor has passed its id, and its second
 * event then commits above the cursor. The relay must not send the second before the first.
 * The publisher here only records batches; the first send waits until the late rows are in.
 */
test('an event committed below the cursor is never overtaken by its payment’s next event', async (t) => {
  const database = await throwawayDatabase(t, 'sqlite')
  if (database === undefined) return
  const { db } = database.open()
  await migrateToLatest(db, 'sqlite')
  await commitRows(db, [row(1, 'a', 1), row(2, 'b', 1), row(3, 'c', 1), row(5, 'd', 1)])

  const { relay, sent, releaseFirst, polls } = relayWithHeldFirstSend(
    db,
    new LeaseManager({ db, leaseMs: 9000 }),
    50,
  )
  relay.start()
  database.beforeClose(() => relay.stop())

  // The first batch (ids 1, 2) is in flight; the second (3, 5) is claimed behind it, cursor at 5.
  await until('the second batch claimed', () => polls() >= 2, { timeoutMs: 10_000 })
  await commitRows(db, [row(4, 'q', 1), row(6, 'q', 2)])
  releaseFirst()
  await until('six events sent', () => sent.flat().length >= 6, { timeoutMs: 10_000 })

  const order = sent.flat().map((event) => `${event.paymentId}${event.sequence}`)
  assert.deepEqual(new Set(order), new Set(['a1', 'b1', 'c1', 'd1', 'q1', 'q2']))
  assert.ok(order.indexOf('q1') < order.indexOf('q2'), `q's events in order: ${order.join(' ')}`)
  assert.deepEqual(
    sent[0]?.map((event) => event.id),
    [1, 2],
  )
  assert.deepEqual(
    sent[1]?.map((event) => event.id),
    [3, 5],
  )
})

/**
 * Batches are claimed ahead of the send in flight, so they may go out seconds after their
 * claim. A batch whose lease no longer outlasts a whole send must not go out: another relay
 * takes an expired bucket over after the grace time. The lease clock here jumps while the
 * first send waits for Kafka.
 */
test('a batch claimed ahead is not sent once its lease no longer covers a send', async (t) => {
  const database = await throwawayDatabase(t, 'sqlite')
  if (database === undefined) return
  const { db } = database.open()
  await migrateToLatest(db, 'sqlite')
  await commitRows(
    db,
    [1, 2, 3, 4, 5, 6].map((id) => row(id, `p${id}`, 1)),
  )

  let leaseClockOffset = 0
  const { relay, sent, releaseFirst, polls } = relayWithHeldFirstSend(
    db,
    new LeaseManager({ db, leaseMs: 9000, now: () => Date.now() + leaseClockOffset }),
    20,
  )
  relay.start()
  database.beforeClose(() => relay.stop())

  // Batch 1 (ids 1, 2) is in flight; batches 2 and 3 are claimed behind it.
  await until('two batches claimed ahead', () => polls() >= 3, { timeoutMs: 10_000 })
  assert.equal(polls(), 3, 'two batches were claimed ahead of the first send, and no more')
  // Seven seconds later, the leases (9 s) no longer outlast a send (3 s).
  leaseClockOffset = 7000
  releaseFirst()
  // The relay took up the batches claimed ahead, dropped them, and polled twice since: each
  // had its chance to go out.
  await until('two polls after the first send', () => polls() >= 5, { timeoutMs: 10_000 })
  assert.deepEqual(
    sent.map((batch) => batch.map((event) => event.id)),
    [[1, 2]],
    'nothing claimed ahead went out on a lease about to expire',
  )

  // Renewed, the leases cover sends again: the rest goes out, once each.
  leaseClockOffset = 0
  await until('the rest sent', () => sent.flat().length >= 6, { timeoutMs: 10_000 })
  assert.deepEqual(
    sent
      .flat()
      .map((event) => event.id)
      .sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 6],
  )
})

/**
 * A new pass can read rows as pending just before this relay's mark deletes them, and read their
 * events after the mark let go of them. Those rows were published: they must not go out again.
 * Here a nudge starts the new pass at once, and its read of the events waits until the first
 * batch's mark has finished. Two guards stop the second send, and either alone passes this
 * test: the pass skips ids marked published since it began, and a payment whose event was taken
 * already is asked for its lowest pending sequence, which no longer exists.
 */
test('rows marked published while a new pass reads them are not sent again', async (t) => {
  const database = await throwawayDatabase(t, 'sqlite')
  if (database === undefined) return
  const { db } = database.open()
  await migrateToLatest(db, 'sqlite')
  await commitRows(db, [row(1, 'a', 1), row(2, 'b', 1)])

  const store = new OutboxStore(db)
  let openMark: () => void = () => {}
  const markMayStart = new Promise<void>((resolve) => {
    openMark = resolve
  })
  let markFinished: () => void = () => {}
  const marked = new Promise<void>((resolve) => {
    markFinished = resolve
  })
  const markPublished = store.markPublished.bind(store)
  store.markPublished = async (events) => {
    await markMayStart
    await markPublished(events)
    markFinished()
  }
  let polls = 0
  let pollsAtSecondRead: number | undefined
  const fetchPendingIds = store.fetchPendingIds.bind(store)
  store.fetchPendingIds = async (...args) => {
    polls++
    return fetchPendingIds(...args)
  }
  let reads = 0
  const fetchEvents = store.fetchEvents.bind(store)
  store.fetchEvents = async (ids) => {
    if (++reads !== 2) return fetchEvents(ids)
    openMark()
    await marked
    // The relay lets go of the marked rows in the mark's promise chain, all microtasks: they
    // have run before the next turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve))
    const events = await fetchEvents(ids)
    pollsAtSecondRead = polls
    return events
  }
  const sent: PendingEvent[][] = []
  const relay: OutboxRelay = new OutboxRelay({
    store,
    publisher: {
      send: async (events) => {
        sent.push(events)
        relay.nudge() // as a notification of new rows would
      },
      sendDead: async () => {},
    },
    leases: new LeaseManager({ db, leaseMs: 9000 }),
    logger: quietLogger(),
    batchSize: 3,
    pollIntervalMs: 20,
    // The requested poll right behind the send, before the mark, is the race under test.
    minPollGapMs: 0,
  })
  relay.start()
  database.beforeClose(async () => {
    openMark()
    await relay.stop()
  })

  await until(
    'a second pass read the rows while they were being marked',
    () => pollsAtSecondRead !== undefined,
    {
      timeoutMs: 10_000,
    },
  )
  assert.equal(reads, 2)
  // The second pass's batch was not full, so the relay polls again only once it has dealt
  // with that batch: sent it, or not.
  await until('a poll after the second pass', () => polls > (pollsAtSecondRead ?? Number.POSITIVE_INFINITY), {
    timeoutMs: 10_000,
  })
  assert.deepEqual(
    sent.flat().map((event) => event.id),
    [1, 2],
  )
})
