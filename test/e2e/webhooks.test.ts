import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Kysely } from 'kysely'
import { issueApiKey } from '../../src/db/merchants.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import type { Database } from '../../src/db/schema.ts'
import { freePort, type RoleProcess, startAcquirer, startRole } from '../../support/processes.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'
import { privateBroker } from '../helpers/kafka.ts'
import { requireService } from '../helpers/services.ts'
import { until } from '../helpers/until.ts'
import { webhookReceiver } from '../helpers/webhook-receiver.ts'

const WEBHOOK_ENV = {
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_ALLOW_HTTP: 'true',
  WEBHOOK_SECRET_KEY: 'test-webhook-secret-key-0123456789abcdef',
  // Milliseconds instead of the production 30 s … 6 h over 3 days, so retries happen in the test.
  WEBHOOK_RETRY_DELAY_MS: '50',
  WEBHOOK_RETRY_MAX_DELAY_MS: '200',
  // Longer than the flaky and hanging receivers below take to succeed (a success ends a failure
  // streak), so that only the endpoint that always fails is disabled, then given up.
  WEBHOOK_DISABLE_AFTER: '4s',
  WEBHOOK_RETRY_FOR: '6s',
  // Long enough that a loaded machine's normal answer never times out (the counts below are exact).
  WEBHOOK_TIMEOUT_MS: '2000',
  WEBHOOK_POLL_INTERVAL_MS: '50',
  // A few at a time, so that a kill lands with at most this many in flight.
  WEBHOOK_CONCURRENCY: '4',
}

type Json = Record<string, unknown>

function client(url: string, key: string) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await response.text()
    return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Json) }
  }
}

async function state(db: Kysely<Database>, id: string) {
  return (await db.selectFrom('payments').select('status').where('id', '=', id).executeTakeFirstOrThrow())
    .status
}

// The dialects at once: each has its own database, broker, receiver and ports, and most of a run
// is waiting (retry schedules, timeouts, the SIGKILLed notifier's lease), so together they take
// little longer than the slowest one instead of the three in a row (75-105 s each).
describe('webhooks end to end', { concurrency: true }, () => {
  for (const dialect of dialects) {
    test(`${dialect}: webhooks through authorize → capture → refund: once per event and endpoint, in order per payment, signed; retries, timeouts, a SIGKILLed notifier, disabling, redelivery, merchant isolation`, {
      timeout: 180_000,
    }, async (t) => {
      if ((await requireService(t, 'kafka')) === undefined) return
      const database = await throwawayDatabase(t, dialect)
      if (database === undefined) return
      const { db } = database.open(4)
      await migrateToLatest(db, dialect)
      const a = (await issueApiKey(db, 'm-hooks-a')).key
      const b = (await issueApiKey(db, 'm-hooks-b')).key
      const brokers = await privateBroker(database)
      const receiver = await webhookReceiver()
      database.beforeClose(() => receiver.close())
      const acquirer = await startAcquirer({
        ACQUIRER_SETTLE_LATENCY_MS: '5-20',
        ACQUIRER_SETTLE_FAILURE_RATE: '0',
      })
      database.beforeClose(async () => {
        await acquirer.stop()
      })
      const common = {
        DATABASE_URL: database.url,
        KAFKA_BROKERS: brokers,
        ACQUIRER_URL: acquirer.url,
        ...WEBHOOK_ENV,
      }
      const start = async (role: string, portVariable: string, env: Record<string, string> = {}) => {
        const port = await freePort()
        const process = await startRole(role, port, { ...common, [portVariable]: String(port), ...env })
        database.beforeClose(async () => {
          await process.stop('SIGKILL')
        })
        return process
      }
      const api = await start('api', 'API_PORT', {
        API_EMBEDDED_RELAY: 'true',
        OUTBOX_POLL_INTERVAL_MS: '50',
      })
      await start('worker', 'WORKER_METRICS_PORT')
      let notifier: RoleProcess = await start('notifier', 'NOTIFIER_METRICS_PORT')
      const asA = client(api.url, a)
      const asB = client(api.url, b)

      const endpoint = async (path: string, eventTypes: string[]) => {
        const created = await asA('POST', '/api/webhook-endpoints', { url: receiver.url(path), eventTypes })
        assert.equal(created.status, 201, JSON.stringify(created.body))
        assert.match(String(created.body.secret), /^whsec_/)
        receiver.secrets.set(path, String(created.body.secret))
        return String(created.body.id)
      }
      const all = [
        'payment.authorized',
        'payment.capture_requested',
        'payment.captured',
        'payment.refund_requested',
        'payment.refunded',
      ]
      await endpoint('/all', all)
      // Fails the first two requests of each event: delivered on the third attempt.
      receiver.behaviours.set('/flaky', (n) => (n <= 2 ? 'fail' : 'ok'))
      const flaky = await endpoint('/flaky', ['payment.captured'])
      // Never answers the first request of each event: timed out, then delivered.
      receiver.behaviours.set('/hang', (n) => (n === 1 ? 'hang' : 'ok'))
      await endpoint('/hang', ['payment.authorized'])
      // The merchant's listing never shows a secret.
      const listed = await asA('GET', '/api/webhook-endpoints')
      assert.equal((listed.body.items as Json[]).length, 3)
      assert.ok(!JSON.stringify(listed.body).includes('whsec_'))

      const payments: string[] = []
      for (let n = 0; n < 4; n++) {
        const authorized = await asA('POST', '/api/payments/authorize', {
          amount: 1000 + n,
          currency: 'KRW',
          idempotencyKey: `h-${n}`,
        })
        assert.equal(authorized.status, 201, JSON.stringify(authorized.body))
        payments.push(String(authorized.body.paymentId))
      }
      for (const id of payments)
        assert.equal((await asA('POST', `/api/payments/capture/${id}`, {})).status, 202)
      for (const id of payments) await until('captured', async () => (await state(db, id)) === 'CAPTURED')
      for (const id of payments)
        assert.equal(
          (await asA('POST', `/api/payments/refund/${id}`, { amount: 100, reason: 'e2e' })).status,
          202,
        )

      await until(
        'every event at /all',
        () => new Set(receiver.on('/all').map((r) => r.eventId)).size === 20,
        {
          timeoutMs: 60_000,
        },
      )
      await until(
        'every capture at /flaky',
        () => receiver.on('/flaky').filter((r) => r.n === 3).length === 4,
        { timeoutMs: 60_000 },
      )
      await until(
        'every authorization at /hang',
        () => receiver.on('/hang').filter((r) => r.n === 2).length === 4,
        { timeoutMs: 60_000 },
      )
      const everything = receiver.received
      assert.ok(
        everything.every((r) => r.verified),
        'every request carries a valid signature and its event id',
      )
      assert.equal(receiver.on('/all').length, 20, 'exactly one delivery per event to /all')
      for (const id of payments) {
        const sequences = receiver
          .on('/all')
          .filter((r) => r.paymentId === id)
          .map((r) => r.sequence)
        assert.deepEqual(sequences, [1, 2, 3, 4, 5], `payment ${id} in sequence order`)
        assert.deepEqual(
          receiver
            .on('/all')
            .filter((r) => r.paymentId === id)
            .map((r) => r.type),
          all,
        )
      }
      assert.equal(receiver.on('/flaky').length, 12, 'each capture after exactly two failed attempts')
      assert.equal(receiver.on('/hang').length, 8, 'each authorization timed out once, then delivered')

      // The delivery log shows the attempts, their statuses and latencies.
      const log = await asA('GET', `/api/webhook-deliveries?endpointId=${flaky}`)
      const deliveries = log.body.items as Json[]
      assert.equal(deliveries.length, 4)
      const one = await asA('GET', `/api/webhook-deliveries/${deliveries[0]?.id}`)
      assert.equal(one.body.state, 'DELIVERED')
      assert.deepEqual(
        (one.body.attemptLog as Json[]).map((x) => x.status),
        [500, 500, 204],
      )
      const hung = await asA('GET', `/api/webhook-deliveries?eventId=${receiver.on('/hang')[0]?.eventId}`)
      const hungLog = await asA('GET', `/api/webhook-deliveries/${(hung.body.items as Json[])[0]?.id}`)
      assert.equal((hungLog.body.attemptLog as Json[])[0]?.error, 'timed out')

      // Merchant isolation: b sees none of a's endpoints or deliveries, and changes nothing.
      const aEndpoint = String((listed.body.items as Json[])[0]?.id)
      const aDelivery = String(deliveries[0]?.id)
      assert.deepEqual((await asB('GET', '/api/webhook-endpoints')).body, { items: [] })
      assert.deepEqual((await asB('GET', '/api/webhook-deliveries')).body, { items: [] })
      for (const [method, path, body] of [
        ['GET', `/api/webhook-endpoints/${aEndpoint}`],
        ['PATCH', `/api/webhook-endpoints/${aEndpoint}`, { enabled: false }],
        ['DELETE', `/api/webhook-endpoints/${aEndpoint}`],
        ['POST', `/api/webhook-endpoints/${aEndpoint}/roll-secret`],
        ['POST', `/api/webhook-endpoints/${aEndpoint}/redeliver-failed`],
        ['GET', `/api/webhook-deliveries?endpointId=${aEndpoint}`],
        ['GET', `/api/webhook-deliveries/${aDelivery}`],
        ['POST', `/api/webhook-deliveries/${aDelivery}/redeliver`],
      ] as [string, string, unknown?][]) {
        const answer = await asB(method, path, body)
        assert.equal(answer.status, 404, `${method} ${path} by another merchant`)
      }
      assert.equal((await asA('GET', `/api/webhook-endpoints/${aEndpoint}`)).body.enabled, true)

      // Manual redelivery of one event.
      assert.equal((await asA('POST', `/api/webhook-deliveries/${aDelivery}/redeliver`)).status, 202)
      await until('the redelivery', () => receiver.on('/flaky').length === 13)

      // SIGKILL mid-delivery: nothing lost, at most the deliveries in flight sent twice.
      receiver.behaviours.set('/all', () => ({ slowMs: 150 }))
      const before = receiver.on('/all').length
      const more: string[] = []
      for (let n = 0; n < 12; n++) {
        const authorized = await asA('POST', '/api/payments/authorize', {
          amount: 2000 + n,
          currency: 'KRW',
          idempotencyKey: `k-${n}`,
        })
        more.push(String(authorized.body.paymentId))
      }
      await until('some deliveries of the new payments', () => receiver.on('/all').length >= before + 3)
      assert.equal(await notifier.stop('SIGKILL'), null)
      const atKill = receiver.on('/all').length - before
      assert.ok(atKill < 12, `killed mid-stream (${atKill} of 12 delivered)`)
      notifier = await start('notifier', 'NOTIFIER_METRICS_PORT')
      await until(
        'every new authorization at /all',
        () => more.every((id) => receiver.on('/all').some((r) => r.paymentId === id)),
        { timeoutMs: 60_000 },
      )
      const repeated = receiver.on('/all').filter((r) => r.n > 1).length
      assert.ok(
        repeated <= Number(WEBHOOK_ENV.WEBHOOK_CONCURRENCY),
        `${repeated} repeated, at most the ones in flight`,
      )

      // An endpoint that always fails is disabled after WEBHOOK_DISABLE_AFTER with a reason; once
      // enabled again its delivery runs out of WEBHOOK_RETRY_FOR and fails; redeliver-failed sends it.
      receiver.behaviours.set('/down', () => 'fail')
      const down = await endpoint('/down', ['payment.authorized'])
      await asA('POST', '/api/payments/authorize', {
        amount: 3000,
        currency: 'KRW',
        idempotencyKey: 'down-1',
      })
      const disabled = await until('the endpoint disabled', async () => {
        const view = await asA('GET', `/api/webhook-endpoints/${down}`)
        return view.body.enabled === false ? view.body : undefined
      })
      assert.match(String(disabled.disabledReason), /every attempt failed since .* \(last: 500\)/)
      assert.equal((await asA('PATCH', `/api/webhook-endpoints/${down}`, { enabled: true })).status, 200)
      await until('the delivery given up', async () => {
        const failed = await asA('GET', `/api/webhook-deliveries?endpointId=${down}&state=FAILED`)
        return (failed.body.items as Json[]).length === 1
      })
      receiver.behaviours.set('/down', () => 'ok')
      const requeued = await asA('POST', `/api/webhook-endpoints/${down}/redeliver-failed`)
      assert.deepEqual(requeued.body, { requeued: 1 })
      await until('the failed delivery sent again', async () => {
        const delivered = await asA('GET', `/api/webhook-deliveries?endpointId=${down}&state=DELIVERED`)
        return (delivered.body.items as Json[]).length === 1
      })
      assert.ok(receiver.received.every((r) => r.verified))
    })
  }
})
