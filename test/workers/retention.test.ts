import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ensureTopicsOn, TOPICS, topicRetentionsOn } from '../../src/kafka/topics.ts'
import { freePort } from '../../support/processes.ts'
import { runCli } from '../helpers/cli.ts'
import { throwawayDatabase } from '../helpers/databases.ts'
import { requireService } from '../helpers/services.ts'

const DAY = 86_400_000

test('a worker refuses to start when a topic it dedupes keeps records longer than PROCESSED_EVENTS_RETENTION', async (t) => {
  const brokers = await requireService(t, 'kafka')
  if (brokers === undefined) return
  const database = await throwawayDatabase(t, 'sqlite')
  if (database === undefined) return
  const admin = { brokers: brokers.split(','), clientId: 'payrail-test' }
  await ensureTopicsOn(admin)
  const kept = (await topicRetentionsOn(admin, [TOPICS.captured.name])).get(TOPICS.captured.name) ?? 0
  assert.ok(
    kept >= 60_000,
    `payment.captured keeps ${kept} ms on this broker; the test needs at least a minute`,
  )
  // Shorter than the topic keeps its records, and still longer than KAFKA_TOPIC_RETENTION.
  const processed = kept === Number.POSITIVE_INFINITY ? 30 * DAY : Math.floor(kept / 2)
  const result = await runCli(['worker', 'ledger'], {
    DATABASE_URL: database.url,
    KAFKA_BROKERS: brokers,
    WORKER_METRICS_PORT: String(await freePort()),
    KAFKA_TOPIC_RETENTION: `${Math.floor(processed / 2)}ms`,
    PROCESSED_EVENTS_RETENTION: `${processed}ms`,
  })
  assert.equal(result.code, 2, result.stderr)
  assert.match(
    result.stderr,
    new RegExp(
      `PROCESSED_EVENTS_RETENTION \\(${processed} ms\\) must exceed the retention.ms of the topics it dedupes: payment.captured keeps ${kept === Number.POSITIVE_INFINITY ? 'Infinity' : kept} ms`,
    ),
  )
})
