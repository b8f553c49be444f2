import assert from 'node:assert/strict'
import { test } from 'node:test'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { RetentionSweeper } from '../../src/db/retention.ts'
import {
  authorizationAttemptsRetention,
  idempotencyRetention,
  processedEventsRetention,
} from '../../src/db/retention-tasks.ts'
import { quietLogger } from '../../support/logger.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'

const HOUR = 3_600_000

for (const dialect of dialects) {
  test(`${dialect}: retention deletes expired idempotency keys, dedupe marks and resolved attempts in batches, and nothing still in use`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const { db } = database.open()
    await migrateToLatest(db, dialect)
    const now = Date.now()
    const old = now - 48 * HOUR
    const young = now - HOUR
    const key = (n: number, state: string, at: number) => ({
      merchant_id: 'm',
      idempotency_key: `k-${n}`,
      request_hash: 'h',
      state,
      response_status: state === 'COMPLETED' ? 201 : null,
      response_body: state === 'COMPLETED' ? '{}' : null,
      payment_id: null,
      created_at: at,
      updated_at: at,
    })
    await db
      .insertInto('idempotency_records')
      .values([
        ...Array.from({ length: 5 }, (_, n) => key(n, 'COMPLETED', old)),
        key(10, 'IN_PROGRESS', old),
        key(11, 'COMPLETED', young),
      ])
      .execute()
    await db
      .insertInto('processed_events')
      .values([
        ...Array.from({ length: 5 }, (_, n) => ({
          consumer: 'ledger',
          event_id: `e-${n}`,
          processed_at: old,
        })),
        { consumer: 'ledger', event_id: 'e-young', processed_at: young },
      ])
      .execute()
    const attempt = (id: string, state: string, at: number) => ({
      payment_id: id,
      merchant_id: 'm',
      idempotency_key: id,
      amount: 100,
      currency: 'USD',
      state,
      created_at: at,
      updated_at: at,
    })
    await db
      .insertInto('authorization_attempts')
      .values([
        attempt('a-done', 'DONE', old),
        attempt('a-abandoned', 'ABANDONED', old),
        attempt('a-pending', 'PENDING', old),
        attempt('a-young', 'DONE', young),
      ])
      .execute()

    const sweeper = new RetentionSweeper({
      tasks: [
        idempotencyRetention(db, 24 * HOUR),
        processedEventsRetention(db, 24 * HOUR),
        authorizationAttemptsRetention(db, 24 * HOUR),
      ],
      logger: quietLogger(),
      batch: 2,
      pauseMs: 0,
    })
    assert.deepEqual(Object.fromEntries(await sweeper.sweep()), {
      idempotency_records: 5,
      processed_events: 5,
      authorization_attempts: 2,
    })
    const keys = await db
      .selectFrom('idempotency_records')
      .select('idempotency_key')
      .orderBy('idempotency_key')
      .execute()
    assert.deepEqual(
      keys.map((row) => row.idempotency_key),
      ['k-10', 'k-11'],
    )
    const marks = await db.selectFrom('processed_events').select('event_id').execute()
    assert.deepEqual(
      marks.map((row) => row.event_id),
      ['e-young'],
    )
    const attempts = await db
      .selectFrom('authorization_attempts')
      .select('payment_id')
      .orderBy('payment_id')
      .execute()
    assert.deepEqual(
      attempts.map((row) => row.payment_id),
      ['a-pending', 'a-young'],
    )
    assert.deepEqual(Object.fromEntries(await sweeper.sweep()), {
      idempotency_records: 0,
      processed_events: 0,
      authorization_attempts: 0,
    })
  })
}

test('a failing retention task does not stop the others', async () => {
  const pruned: string[] = []
  const sweeper = new RetentionSweeper({
    tasks: [
      {
        name: 'broken',
        retentionMs: 1,
        prune: async () => {
          throw new Error('table gone')
        },
      },
      {
        name: 'fine',
        retentionMs: 1,
        prune: async () => {
          pruned.push('fine')
          return { deleted: 3, done: true, cursor: 0 }
        },
      },
    ],
    logger: quietLogger(),
  })
  assert.deepEqual(Object.fromEntries(await sweeper.sweep()), { broken: 0, fine: 3 })
  assert.deepEqual(pruned, ['fine'])
})
