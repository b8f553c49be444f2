import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { type Kysely, sql } from 'kysely'
import type { Database } from '../../src/db/schema.ts'
import { startAcquirer } from '../../support/processes.ts'
import { type ApiFixture, type HttpResult, markCaptured, startApi } from '../helpers/api.ts'
import { dialects } from '../helpers/databases.ts'
import { until } from '../helpers/until.ts'

// Issue 13 builds the answers of authorize, capture and refund from the values the transaction
// wrote instead of re-reading the payment: these tests hold the answers to what a read finds.
const approving = await startAcquirer({ ACQUIRER_AUTH_LATENCY_MS: '0-0', ACQUIRER_AUTH_FAILURE_RATE: '0' })
after(() => approving.stop())

/** The answer, byte for byte as JSON, must be the read of the payment without its timeline. */
async function assertAnswerIsTheRow(api: ApiFixture, answer: HttpResult): Promise<void> {
  const read = await api.call('GET', `/api/payments/${answer.body.paymentId}`)
  assert.equal(read.status, 200)
  const { events: _events, ...row } = read.body
  assert.equal(JSON.stringify(answer.body), JSON.stringify(row))
}

/** The payment's last_sequence is its newest event's, and its events are numbered 1, 2, … */
async function assertSequences(db: Kysely<Database>, paymentId: string, count: number): Promise<void> {
  const payment = await db
    .selectFrom('payments')
    .select('last_sequence')
    .where('id', '=', paymentId)
    .executeTakeFirstOrThrow()
  assert.equal(payment.last_sequence, count)
  for (const table of ['outbox_events', 'payment_events'] as const) {
    const events = await db
      .selectFrom(table)
      .select('sequence')
      .where('payment_id', '=', paymentId)
      .orderBy('sequence')
      .execute()
    assert.deepEqual(
      events.map((event) => event.sequence),
      Array.from({ length: count }, (_, i) => i + 1),
      table,
    )
  }
}

/** Statements of this test's database that wait for a row lock (the servers are shared with other runs). */
async function lockWaits(db: Kysely<Database>, dialect: 'mysql' | 'postgres'): Promise<number> {
  const query =
    dialect === 'postgres'
      ? sql<{ waits: number | string }>`select count(*) as waits from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'`
      : // MariaDB lists a primary-key `for update` waiting for its row in state "Statistics",
        // and not as LOCK WAIT in innodb_trx: a locking read still running is one that waits.
        // A prepared statement (DB_MYSQL_PREPARED) runs as command 'Execute'.
        sql<{ waits: number | string }>`select count(*) as waits from information_schema.processlist
          where db = database() and command in ('Query', 'Execute') and info like 'select % for update'`
  const { rows } = await query.execute(db)
  return Number(rows[0]?.waits ?? 0)
}

for (const dialect of dialects) {
  describe(dialect, () => {
    if (dialect !== 'sqlite')
      test('a capture waits for the row lock of a transaction that took a sequence, and takes the next one', {
        timeout: 120_000,
      }, async (t) => {
        const api = await startApi(t, dialect, approving.url)
        if (api === undefined) return
        const { paymentId } = (
          await api.call('POST', '/api/payments/authorize', {
            body: { merchantId: 'merchant-a', amount: 9000, currency: 'KRW', idempotencyKey: 'lock-1' },
          })
        ).body
        // A worker's appendEvent, held open after taking sequence 2 (it locks the row by its update).
        let release = () => {}
        const released = new Promise<void>((resolve) => {
          release = resolve
        })
        let holding = false
        const holder = api.db.transaction().execute(async (trx) => {
          await trx
            .updateTable('payments')
            .set((eb) => ({ last_sequence: eb('last_sequence', '+', 1) }))
            .where('id', '=', paymentId)
            .execute()
          holding = true
          await released
        })
        await until('the holder to take the row lock', () => holding)
        const capture = api.call('POST', `/api/payments/capture/${paymentId}`, {
          body: { merchantId: 'merchant-a' },
        })
        // Without `for update` the capture would read sequence 1 at once and wait only at its update.
        await until(
          'the capture to wait for the row lock',
          async () => (await lockWaits(api.db, dialect)) > 0,
        )
        release()
        await holder
        const captured = await capture
        assert.equal(captured.status, 202, JSON.stringify(captured.body))
        const events = await api.db
          .selectFrom('outbox_events')
          .select(['sequence', 'event_type'])
          .where('payment_id', '=', paymentId)
          .orderBy('sequence')
          .execute()
        assert.deepEqual(events, [
          { sequence: 1, event_type: 'PAYMENT_AUTHORIZED' },
          { sequence: 3, event_type: 'PAYMENT_CAPTURE_REQUESTED' },
        ])
        const row = await api.db
          .selectFrom('payments')
          .select('last_sequence')
          .where('id', '=', paymentId)
          .executeTakeFirstOrThrow()
        assert.equal(row.last_sequence, 3)
        await assertAnswerIsTheRow(api, captured)
      })

    test('authorize, capture and refund answer exactly what a read of the payment then shows', {
      timeout: 120_000,
    }, async (t) => {
      const api = await startApi(t, dialect, approving.url)
      if (api === undefined) return
      const authorized = await api.call('POST', '/api/payments/authorize', {
        body: { merchantId: 'merchant-a', amount: 12_345, currency: 'KRW', idempotencyKey: 'as-written-1' },
      })
      assert.equal(authorized.status, 201)
      assert.equal(authorized.body.status, 'AUTHORIZED')
      await assertAnswerIsTheRow(api, authorized)
      const { paymentId } = authorized.body
      await assertSequences(api.db, paymentId, 1)

      const captured = await api.call('POST', `/api/payments/capture/${paymentId}`, {
        body: { merchantId: 'merchant-a', amount: 10_000, idempotencyKey: 'as-written-cap' },
      })
      assert.equal(captured.status, 202)
      assert.equal(captured.body.status, 'CAPTURE_REQUESTED')
      await assertAnswerIsTheRow(api, captured)
      await assertSequences(api.db, paymentId, 2)

      await markCaptured(api.db, paymentId, 10_000)
      const refunded = await api.call('POST', `/api/payments/refund/${paymentId}`, {
        body: { merchantId: 'merchant-a', amount: 2500, reason: 'as written' },
      })
      assert.equal(refunded.status, 202)
      assert.equal(refunded.body.status, 'REFUND_REQUESTED')
      await assertAnswerIsTheRow(api, refunded)
      await assertSequences(api.db, paymentId, 3)

      // The stored answers are the answers given.
      const stored = await api.db
        .selectFrom('idempotency_records')
        .select(['idempotency_key', 'state', 'response_body'])
        .orderBy('idempotency_key')
        .execute()
      assert.deepEqual(stored, [
        {
          idempotency_key: 'as-written-1',
          state: 'COMPLETED',
          response_body: JSON.stringify(authorized.body),
        },
        {
          idempotency_key: 'as-written-cap',
          state: 'COMPLETED',
          response_body: JSON.stringify(captured.body),
        },
      ])
    })

    test('a declined authorize answers exactly what a read of the payment then shows, with no event', {
      timeout: 120_000,
    }, async (t) => {
      const api = await startApi(t, dialect, approving.url)
      if (api === undefined) return
      const declined = await api.call('POST', '/api/payments/authorize', {
        body: { merchantId: 'merchant-a', amount: 1051, currency: 'USD', idempotencyKey: 'as-written-2' },
      })
      assert.equal(declined.status, 201)
      assert.equal(declined.body.status, 'AUTH_FAILED')
      assert.match(declined.body.message, /^declined: /)
      await assertAnswerIsTheRow(api, declined)
      // The simulator declines amounts ending in 51 (src/acquirer/simulator.ts).
      await assertSequences(api.db, declined.body.paymentId, 0)
    })
  })
}
