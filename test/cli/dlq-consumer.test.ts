import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type TestContext, test } from 'node:test'
import { openDatabase } from '../../src/db/database.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { KafkaDeadLetterSink } from '../../src/workers/consumer/dead-letter.ts'
import { authorizedPayment } from '../../support/payments.ts'
import { runCli } from '../helpers/cli.ts'
import { readTopic, testTopic } from '../helpers/outbox.ts'
import { requireService } from '../helpers/services.ts'

/** A migrated SQLite database of the test's own. */
async function scratchDatabase(t: TestContext) {
  const url = `sqlite:${join(mkdtempSync(join(tmpdir(), 'payrail-cdlq-')), 'p.db')}`
  const handle = openDatabase({ url })
  t.after(() => handle.close())
  await migrateToLatest(handle.db, handle.dialect)
  return { url, db: handle.db }
}

/**
 * Dead-letters, through the workers' own sink to the broker's payment.dlq, a settlement record
 * of `topic` (the test's own, so that a replay lands there and nowhere else) for `paymentId`.
 */
async function deadLetter(
  brokers: string,
  topic: string,
  paymentId: string,
  offset: bigint,
  eventId = randomUUID(),
) {
  const value = JSON.stringify({ eventId, paymentId, type: 'PAYMENT_CAPTURE_REQUESTED' })
  const sink = new KafkaDeadLetterSink({
    brokers: brokers.split(','),
    clientId: 'payrail-test',
    topic: 'payment.dlq',
  })
  await sink.send({
    record: {
      topic,
      partition: 0,
      offset,
      timestamp: BigInt(Date.now()),
      key: paymentId,
      value,
      headers: new Map(),
    },
    raw: {
      key: Buffer.from(paymentId),
      value: Buffer.from(value),
      headers: [[Buffer.from('event-id'), Buffer.from(eventId)]],
    },
    groupId: 'payrail-settlement',
    consumer: 'settlement',
    errorCode: 'INTERNAL',
    errorMessage: 'boom',
    attempts: 10,
  })
  await sink.close()
  return { eventId, value }
}

/**
 * A worker's dead letter, sent by the workers' own sink to the broker's payment.dlq, for a
 * record of a topic of this test's own, so that its replay lands there and nowhere else.
 */
test("dlq list shows a worker's dead letter with its headers; dlq replay <partition>:<offset> puts it back on its topic; once applied it says so", async (t) => {
  const brokers = await requireService(t, 'kafka')
  if (brokers === undefined) return
  const topic = await testTopic(t, brokers, [], 1)
  const letterEventId = randomUUID()
  const { url, db } = await scratchDatabase(t)
  const { eventId, value } = await deadLetter(brokers, topic, `p-${letterEventId}`, 41n, letterEventId)

  const env = { DATABASE_URL: url, KAFKA_BROKERS: brokers }
  const list = await runCli(['dlq', 'list', '--limit', '100000'], env)
  assert.equal(list.code, 0, list.stderr)
  const line = list.stdout.split('\n').find((l) => l.includes(eventId))
  assert.ok(line !== undefined, `listed:\n${list.stdout}`)
  assert.match(
    line,
    new RegExp(`^(\\d+:\\d+)  settlement ${topic}@0:41  event ${eventId}  attempts 10  INTERNAL boom$`),
  )
  const id = (/^(\d+:\d+)/.exec(line) as RegExpExecArray)[1] as string

  const replay = await runCli(['dlq', 'replay', id], env)
  assert.equal(replay.code, 0, replay.stderr)
  assert.match(replay.stdout, /replayed 1 event$/m)
  const [back] = await readTopic(brokers, topic, 1, 20_000)
  assert.equal(back?.value, value, 'the same value, on its original topic')
  assert.equal(back?.key, `p-${eventId}`)
  assert.equal(back?.headers.get('event-id'), eventId, "the record's own headers")
  assert.match(back?.headers.get('replayed-from') ?? '', new RegExp(`^payment\\.dlq:${id}$`))
  assert.equal(back?.headers.has('error-code'), false, 'no dead-letter headers')

  // The handler applied it (as it would on the replay): the list says so.
  await db
    .insertInto('processed_events')
    .values({ consumer: 'settlement', event_id: eventId, processed_at: Date.now() })
    .execute()
  const after = await runCli(['dlq', 'list', '--limit', '100000'], env)
  assert.match(after.stdout.split('\n').find((l) => l.includes(eventId)) ?? '', /\(applied since\)$/)

  const missing = await runCli(['dlq', 'replay', '999:0'], env)
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /NOT_FOUND|no dead event 999:0/)
})

test('dlq list with Kafka unreachable still lists the relay dead events and says what it could not read', async () => {
  const url = `sqlite:${join(mkdtempSync(join(tmpdir(), 'payrail-cdlq-')), 'p.db')}`
  const list = await runCli(['dlq', 'list'], { DATABASE_URL: url, KAFKA_BROKERS: '127.0.0.1:1' })
  assert.equal(list.code, 0, list.stderr)
  assert.match(list.stdout, /^no dead events$/m)
  assert.match(list.stderr, /the workers' dead letters are not listed: payment\.dlq could not be read/)
})

test('dlq replay --all puts back the dead letters of payments this database holds, and no other deployment’s', async (t) => {
  const brokers = await requireService(t, 'kafka')
  if (brokers === undefined) return
  const topic = await testTopic(t, brokers, [], 1)
  const { url, db } = await scratchDatabase(t)
  const ours = randomUUID()
  await db
    .insertInto('payments')
    .values(authorizedPayment(ours, 'm', 1000, Date.now()))
    .execute()
  await deadLetter(brokers, topic, ours, 7n)
  await deadLetter(brokers, topic, randomUUID(), 8n)

  const replay = await runCli(['dlq', 'replay', '--all'], { DATABASE_URL: url, KAFKA_BROKERS: brokers })
  assert.equal(replay.code, 0, replay.stderr)
  assert.match(replay.stdout, /replayed 1 event$/m)
  const back = await readTopic(brokers, topic, 1, 20_000)
  assert.deepEqual(
    back.map((record) => record.key),
    [ours],
  )
})
