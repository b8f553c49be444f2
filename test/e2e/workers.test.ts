import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Producer, stringSerializers } from '@platformatic/kafka'
import type { Kysely } from 'kysely'
import { issueApiKey } from '../../src/db/merchants.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import type { Database } from '../../src/db/schema.ts'
import {
  freePort,
  type RoleProcess,
  setAcquirerMode,
  startAcquirer,
  startRole,
} from '../../support/processes.ts'
import { runCli } from '../helpers/cli.ts'
import { dialects, type ThrowawayDatabase, throwawayDatabase } from '../helpers/databases.ts'
import { privateBroker } from '../helpers/kafka.ts'
import { readTopic, readTopicToEnd } from '../helpers/outbox.ts'
import { requireService } from '../helpers/services.ts'
import { until } from '../helpers/until.ts'

interface Platform {
  db: Kysely<Database>
  database: ThrowawayDatabase
  brokers: string
  key: string
  acquirer: RoleProcess
  api: RoleProcess
  worker: (env?: Record<string, string>) => Promise<RoleProcess>
}

/**
 * acquirer, api (with its embedded relay) and workers as real processes over a throwaway
 * database and a broker of the test's own. Everything stops before the database is dropped.
 */
async function platform(
  t: import('node:test').TestContext,
  dialect: (typeof dialects)[number],
  acquirerEnv: Record<string, string>,
): Promise<Platform | undefined> {
  if ((await requireService(t, 'kafka')) === undefined) return undefined
  const database = await throwawayDatabase(t, dialect)
  if (database === undefined) return undefined
  const { db } = database.open(4)
  await migrateToLatest(db, dialect)
  const { key } = await issueApiKey(db, 'm-workers')
  const brokers = await privateBroker(database)
  const acquirer = await startAcquirer(acquirerEnv)
  database.beforeClose(async () => {
    await acquirer.stop()
  })
  const common = { DATABASE_URL: database.url, KAFKA_BROKERS: brokers, ACQUIRER_URL: acquirer.url }
  const apiPort = await freePort()
  const api = await startRole('api', apiPort, {
    ...common,
    API_PORT: String(apiPort),
    API_EMBEDDED_RELAY: 'true',
    OUTBOX_POLL_INTERVAL_MS: '50',
  })
  database.beforeClose(async () => {
    await api.stop()
  })
  const worker = async (env: Record<string, string> = {}) => {
    const port = await freePort()
    const process = await startRole('worker', port, { ...common, WORKER_METRICS_PORT: String(port), ...env })
    database.beforeClose(async () => {
      await process.stop('SIGKILL')
    })
    return process
  }
  return { db, database, brokers, key, acquirer, api, worker }
}

async function call(
  p: Platform,
  path: string,
  body: unknown,
): Promise<{ status: number; body: { paymentId: string } & Record<string, unknown> }> {
  const response = await fetch(`${p.api.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${p.key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return {
    status: response.status,
    body: (await response.json()) as { paymentId: string } & Record<string, unknown>,
  }
}

/** Authorizes and captures `count` payments; amounts ending in 52 are declined at settlement. */
async function authorizeAndCapture(p: Platform, count: number, declined = 0): Promise<string[]> {
  const ids: string[] = []
  for (let n = 0; n < count; n++) {
    const amount = n < declined ? 1052 + 100 * n : 1000 + 100 * n
    const authorized = await call(p, '/api/payments/authorize', {
      amount,
      currency: 'KRW',
      idempotencyKey: `w-${n}`,
    })
    assert.equal(authorized.status, 201, JSON.stringify(authorized.body))
    ids.push(authorized.body.paymentId)
  }
  for (const id of ids) assert.equal((await call(p, `/api/payments/capture/${id}`, {})).status, 202)
  return ids
}

async function statuses(db: Kysely<Database>): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('payments')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute()
  return Object.fromEntries(rows.map((row) => [row.status, Number(row.n)]))
}

async function count(db: Kysely<Database>, table: 'ledger_entries' | 'processed_events', consumer?: string) {
  let query = db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n'))
  if (consumer !== undefined) query = query.where('consumer' as never, '=', consumer as never)
  return Number((await query.executeTakeFirstOrThrow()).n)
}

for (const dialect of dialects) {
  test(`${dialect}: settlement, refund and ledger across processes; a worker killed with SIGKILL mid-stream and restarted applies nothing twice and misses nothing`, async (t) => {
    const p = await platform(t, dialect, {
      ACQUIRER_SETTLE_LATENCY_MS: '100-300',
      // Processor errors on 5 % of settlements and refunds: retried, never dead-lettered.
      ACQUIRER_SETTLE_FAILURE_RATE: '0.05',
    })
    if (p === undefined) return
    // A small concurrency, so that the kill lands while settlements are still running.
    const first = await p.worker({ WORKER_CONCURRENCY: '8' })
    const ids = await authorizeAndCapture(p, 120, 2)
    await until('some settlements', async () => ((await statuses(p.db)).CAPTURED ?? 0) >= 20)
    assert.equal(await first.stop('SIGKILL'), null)
    assert.ok(((await statuses(p.db)).CAPTURE_REQUESTED ?? 0) > 0, 'killed mid-stream')

    await p.worker({ WORKER_CONCURRENCY: '8' })
    await until('every capture settled', async () => (await statuses(p.db)).CAPTURE_REQUESTED === undefined)
    assert.deepEqual(await statuses(p.db), { CAPTURED: 118, CAPTURE_FAILED: 2 })

    const refunded = ids.slice(2, 52)
    for (const id of refunded)
      assert.equal((await call(p, `/api/payments/refund/${id}`, { amount: 100, reason: 'e2e' })).status, 202)
    await until('every refund done', async () => (await statuses(p.db)).REFUND_REQUESTED === undefined)
    assert.deepEqual(await statuses(p.db), { CAPTURED: 68, CAPTURE_FAILED: 2, PARTIAL_REFUNDED: 50 })
    // The ledger also marks the 2 PAYMENT_CAPTURE_FAILED processed, posting nothing for them.
    await until(
      'the ledger to catch up',
      async () =>
        (await count(p.db, 'ledger_entries')) === 118 + 50 &&
        (await count(p.db, 'processed_events', 'ledger')) === 118 + 50 + 2,
    )

    assert.equal(await count(p.db, 'processed_events', 'settlement'), 120)
    assert.equal(await count(p.db, 'processed_events', 'refund'), 50)
    assert.equal(await count(p.db, 'ledger_entries'), 168)
    const check = await runCli(['ledger', 'check'], { DATABASE_URL: p.database.url })
    assert.equal(check.code, 0, check.stdout + check.stderr)
    assert.match(check.stdout, /ledger balances: 120 payments, 168 entries, 0 offenders/)
    assert.deepEqual(await readTopicToEnd(p.brokers, 'payment.dlq'), [], 'nothing dead-lettered')
  })
}

for (const dialect of dialects) {
  test(`${dialect}: two workers share the groups; one stopped mid-stream, the other takes its partitions and finishes the work`, async (t) => {
    const p = await platform(t, dialect, { ACQUIRER_SETTLE_LATENCY_MS: '100-200' })
    if (p === undefined) return
    const started = Date.now()
    const phase = (name: string) =>
      t.diagnostic(`${name} after ${((Date.now() - started) / 1000).toFixed(1)} s`)
    const a = await p.worker({ WORKER_CONCURRENCY: '4' })
    await p.worker({ WORKER_CONCURRENCY: '4' })
    phase('workers up')
    await authorizeAndCapture(p, 80)
    phase('captures requested')
    await until('some settlements', async () => ((await statuses(p.db)).CAPTURED ?? 0) >= 10)
    phase('10 settled')
    assert.equal(await a.stop('SIGTERM'), 0, `a clean stop:\n${a.output()}`)
    phase('a stopped')
    await until('every capture settled', async () => (await statuses(p.db)).CAPTURE_REQUESTED === undefined)
    phase('all settled')
    await until('the ledger to catch up', async () => (await count(p.db, 'ledger_entries')) === 80)
    phase('ledger done')
    assert.deepEqual(await statuses(p.db), { CAPTURED: 80 })
    assert.equal(await count(p.db, 'processed_events', 'settlement'), 80)
    assert.match(a.output(), /worker stopped/)
  })

  test(`${dialect}: acquirer down: the settle breaker opens, captures wait and are not dead-lettered; a poison record goes to payment.dlq with its headers`, async (t) => {
    const p = await platform(t, dialect, { ACQUIRER_SETTLE_LATENCY_MS: '0-5' })
    if (p === undefined) return
    const worker = await p.worker()
    const breaker = async () => {
      const text = await fetch(`${worker.url}/metrics`).then((response) => response.text())
      return Number(/^payrail_acquirer_breaker_state\{[^}]*operation="settle"[^}]*\} (\S+)$/m.exec(text)?.[1])
    }
    const ids: string[] = []
    for (let n = 0; n < 10; n++) {
      const authorized = await call(p, '/api/payments/authorize', {
        amount: 5000,
        currency: 'KRW',
        idempotencyKey: `d-${n}`,
      })
      ids.push(authorized.body.paymentId)
    }
    await setAcquirerMode(p.acquirer.url, 'down')
    for (const id of ids) assert.equal((await call(p, `/api/payments/capture/${id}`, {})).status, 202)
    await until('the settle breaker to open', async () => (await breaker()) === 2, { timeoutMs: 30_000 })
    await sleep(3000)
    assert.equal((await statuses(p.db)).CAPTURE_REQUESTED, 10, 'the captures wait')

    const producer = new Producer({
      clientId: 'payrail-test',
      bootstrapBrokers: [p.brokers],
      serializers: stringSerializers,
    })
    await producer.send({
      messages: [{ topic: 'payment.capture-requested', key: 'poison', value: 'not an envelope' }],
    })
    await producer.close()
    const [dead] = await readTopic(p.brokers, 'payment.dlq', 1, 20_000)
    assert.equal(dead?.key, 'poison', 'the poison record, not an outage, is dead-lettered')
    assert.equal(dead?.headers.get('original-topic'), 'payment.capture-requested')
    assert.equal(dead?.headers.get('consumer-group'), 'payrail-settlement')
    assert.equal(dead?.headers.get('error-code'), 'EVENT_INVALID')
    assert.equal(dead?.headers.get('attempts'), '1')
    assert.ok(dead?.headers.has('original-offset') && dead?.headers.has('original-partition'))

    await setAcquirerMode(p.acquirer.url, 'normal')
    await until('every capture settled', async () => (await statuses(p.db)).CAPTURED === 10)
    const all = await readTopicToEnd(p.brokers, 'payment.dlq')
    assert.equal(all.length, 1, 'only the poison record is in payment.dlq')
  })
}
