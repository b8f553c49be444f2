import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Kysely } from 'kysely'
import { issueApiKey } from '../../src/db/merchants.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import type { Database } from '../../src/db/schema.ts'
import { freePort, startAcquirer, startRole } from '../../support/processes.ts'
import { runCli } from '../helpers/cli.ts'
import { privateBroker } from '../helpers/kafka.ts'
import { readTopicToEnd } from '../helpers/outbox.ts'
import { privateDatabase } from '../helpers/private-database.ts'
import { requireService } from '../helpers/services.ts'
import { until } from '../helpers/until.ts'

/** Small waits, so that "longer than every attempt would take" is seconds, not minutes. */
const WORKER_ENV = {
  WORKER_CONCURRENCY: '4',
  WORKER_MAX_ATTEMPTS: '3',
  WORKER_RETRY_DELAY_MS: '50',
  WORKER_RETRY_MAX_DELAY_MS: '200',
  WORKER_OUTAGE_DELAY_MS: '100',
  WORKER_OUTAGE_MAX_DELAY_MS: '500',
}
/** The longest three attempts can wait in between: 50 + 100 + 200 ms, the backoff's caps. */
const ALL_ATTEMPTS_MS = 350
const DOWN_MS = 8000

async function statuses(db: Kysely<Database>): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('payments')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute()
  return Object.fromEntries(rows.map((row) => [row.status, Number(row.n)]))
}

async function metric(url: string, name: string, labels: RegExp = /.*/): Promise<number> {
  const text = await fetch(`${url}/metrics`).then((response) => response.text())
  let total = 0
  for (const line of text.split('\n')) {
    const match = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line)
    if (match?.[1] === name && labels.test(match[2] ?? '')) total += Number(match[3])
  }
  return total
}

for (const dialect of ['mysql', 'postgres'] as const) {
  test(`${dialect}: the database killed with SIGKILL while captures and refunds are in flight, down longer than every attempt would take, then back: every payment reaches its final state, one ledger row each, nothing dead-lettered`, async (t) => {
    if ((await requireService(t, 'kafka')) === undefined) return
    const server = await privateDatabase(t, dialect)
    if (server === undefined) return
    const { db } = server.open(4)
    await migrateToLatest(db, dialect)
    const { key } = await issueApiKey(db, 'm-outage')
    const brokers = await privateBroker(server)
    // Settlements of 1–2 s at 4 in flight per handler: the kill lands while many still run.
    const acquirer = await startAcquirer({ ACQUIRER_SETTLE_LATENCY_MS: '1000-2000' })
    server.beforeClose(async () => {
      await acquirer.stop()
    })
    const common = {
      DATABASE_URL: server.url,
      KAFKA_BROKERS: brokers,
      ACQUIRER_URL: acquirer.url,
      LOG_LEVEL: 'warn',
    }
    const apiPort = await freePort()
    const api = await startRole('api', apiPort, {
      ...common,
      API_PORT: String(apiPort),
      API_EMBEDDED_RELAY: 'true',
      OUTBOX_POLL_INTERVAL_MS: '50',
    })
    server.beforeClose(async () => {
      await api.stop('SIGKILL')
    })
    const workerPort = await freePort()
    const worker = await startRole('worker', workerPort, {
      ...common,
      ...WORKER_ENV,
      WORKER_METRICS_PORT: String(workerPort),
    })
    server.beforeClose(async () => {
      await worker.stop('SIGKILL')
    })
    const call = async (path: string, body: unknown) => {
      const response = await fetch(`${api.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      return { status: response.status, body: (await response.json()) as { paymentId: string } }
    }

    const ids: string[] = []
    for (let n = 0; n < 24; n++) {
      const authorized = await call('/api/payments/authorize', {
        amount: 10_000 + n,
        currency: 'KRW',
        idempotencyKey: `o-${n}`,
      })
      assert.equal(authorized.status, 201, JSON.stringify(authorized.body))
      ids.push(authorized.body.paymentId)
    }
    const [early, late] = [ids.slice(0, 12), ids.slice(12)]
    for (const id of early) assert.equal((await call(`/api/payments/capture/${id}`, {})).status, 202)
    await until('the first captures settled', async () => (await statuses(db)).CAPTURED === 12, {
      timeoutMs: 120_000,
    })
    const requestedAt = Date.now()
    for (const id of late) assert.equal((await call(`/api/payments/capture/${id}`, {})).status, 202)
    for (const id of early)
      assert.equal((await call(`/api/payments/refund/${id}`, { amount: 100, reason: 'outage' })).status, 202)
    t.diagnostic(`requests took ${Date.now() - requestedAt} ms: ${JSON.stringify(await statuses(db))}`)
    let seen: Record<string, number> = {}
    await until('captures and refunds to be in flight', async () => {
      seen = await statuses(db)
      // Some of each done, and more of each still waiting than run at once: some are mid-call.
      return (
        (seen.CAPTURED ?? 0) >= 1 &&
        (seen.PARTIAL_REFUNDED ?? 0) >= 1 &&
        (seen.CAPTURE_REQUESTED ?? 0) >= 5 &&
        (seen.REFUND_REQUESTED ?? 0) >= 5
      )
    }).catch((error: unknown) => {
      throw new Error(
        `${String(error)}; statuses ${JSON.stringify(seen)}\n${worker.output()}\n${api.output()}`,
      )
    })
    const before = await statuses(db)
    t.diagnostic(`at the kill: ${JSON.stringify(before)}`)

    const outagesBefore = await metric(worker.url, 'payrail_worker_retries_total', /reason="outage"/)
    await server.kill()
    const downAt = Date.now()
    // The database is gone: handlers fail, and they must wait rather than use attempts up.
    await until(
      'the workers to meet the outage',
      async () =>
        (await metric(worker.url, 'payrail_worker_retries_total', /reason="outage"/)) > outagesBefore + 8,
      { timeoutMs: DOWN_MS },
    )
    await until('the outage to last', () => Date.now() - downAt >= DOWN_MS, { intervalMs: 100 })
    assert.ok(DOWN_MS > 10 * ALL_ATTEMPTS_MS, 'down far longer than every attempt would take')
    assert.equal(
      await metric(worker.url, 'payrail_worker_dead_letters_total'),
      0,
      'nothing dead-lettered while down',
    )
    assert.equal(worker.child.exitCode, null, `the worker outlived the outage:\n${worker.output()}`)
    await server.start()
    t.diagnostic(`down ${Date.now() - downAt} ms`)

    await until(
      'every capture and refund to finish',
      async () => {
        const now = await statuses(db).catch(() => ({}) as Record<string, number>)
        return now.CAPTURED === 12 && now.PARTIAL_REFUNDED === 12
      },
      { timeoutMs: 120_000 },
    )
    const entries = async () => db.selectFrom('ledger_entries').select(['payment_id', 'event_id']).execute()
    await until('the ledger to catch up', async () => (await entries()).length >= 36, { timeoutMs: 60_000 })
    const ledger = await entries()
    assert.equal(ledger.length, 36, 'one row per capture (24) and per refund (12)')
    assert.equal(new Set(ledger.map((row) => row.event_id)).size, 36, 'no event posted twice')
    for (const id of early) assert.equal(ledger.filter((row) => row.payment_id === id).length, 2)
    for (const id of late) assert.equal(ledger.filter((row) => row.payment_id === id).length, 1)
    const check = await runCli(['ledger', 'check'], { DATABASE_URL: server.url })
    assert.equal(check.code, 0, check.stdout + check.stderr)

    assert.equal(await metric(worker.url, 'payrail_worker_dead_letters_total'), 0)
    assert.deepEqual(await readTopicToEnd(brokers, 'payment.dlq'), [], 'nothing in payment.dlq')
    assert.equal(worker.child.exitCode, null, 'the same worker process did the work')
  })
}
