import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { openDatabase } from '../../src/db/database.ts'
import { issueApiKey } from '../../src/db/merchants.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { freePorts } from '../../src/runtime/ports.ts'
import { type RoleProcess, startAcquirer, startRole } from '../../support/processes.ts'
import { privateBroker } from '../helpers/kafka.ts'
import { requireService } from '../helpers/services.ts'
import { until } from '../helpers/until.ts'

// The operations endpoints against real roles (gateway, api, relay, worker, acquirer as
// processes, a broker of the test's own, SQLite; the database parts run on every dialect in
// test/operations-views/store.test.ts). On spare ports.
const STARTUP_MS = 60_000
const ADMIN_TOKEN = 'operations-test-admin-token-0123456789abcdef'

// biome-ignore lint/suspicious/noExplicitAny: the answers are checked field by field against the real endpoints
type Json = Record<string, any>

test('the operations endpoints show the platform as it is: roles, rates, outbox, lag, gateway, ledger, load runs', {
  timeout: 120_000,
}, async (t) => {
  if ((await requireService(t, 'kafka')) === undefined) return
  const brokers = await privateBroker(t)
  const [gatewayPort, apiPort, relayPort, workerPort] = (await freePorts(4)) as [
    number,
    number,
    number,
    number,
  ]
  const PORTS = { gateway: gatewayPort, api: apiPort, relay: relayPort, worker: workerPort }
  const dir = mkdtempSync(join(tmpdir(), 'payrail-ops-'))
  const databaseUrl = `sqlite:${join(dir, 'payrail.db')}`
  const handle = openDatabase({ url: databaseUrl })
  t.after(() => handle.close())
  await migrateToLatest(handle.db, handle.dialect)
  const { key } = await issueApiKey(handle.db, 'ops-merchant')

  const started: RoleProcess[] = []
  t.after(async () => {
    await Promise.all(started.map((role) => role.stop('SIGKILL')))
  })
  const acquirer = await startAcquirer()
  started.push(acquirer)
  const at = (port: number) => `http://127.0.0.1:${port}`
  const common = {
    DATABASE_URL: databaseUrl,
    KAFKA_BROKERS: brokers,
    ACQUIRER_URL: acquirer.url,
    ADMIN_TOKEN,
    OUTBOX_POLL_INTERVAL_MS: '50',
    OPS_TARGETS: [
      `gateway=${at(PORTS.gateway)}`,
      `api=${at(PORTS.api)}`,
      `relay=${at(PORTS.relay)}`,
      `worker=${at(PORTS.worker)}`,
      `acquirer=${acquirer.url}`,
    ].join(','),
    OPS_SCRAPE_MIN_INTERVAL_MS: '300',
    LOAD_RUN_DIR: join(dir, 'load-runs'),
    LOAD_RUN_MAX_RATE: '50',
    LOAD_RUN_MAX_DURATION_SECONDS: '10',
  }
  const [api, relay, worker, gateway] = await Promise.all([
    // Generous start-up limits: on a busy 2-core runner four Node processes starting at once
    // have taken over 30 s.
    startRole('api', PORTS.api, { ...common, API_PORT: String(PORTS.api) }, STARTUP_MS),
    startRole('relay', PORTS.relay, { ...common, RELAY_METRICS_PORT: String(PORTS.relay) }, STARTUP_MS),
    startRole('worker', PORTS.worker, { ...common, WORKER_METRICS_PORT: String(PORTS.worker) }, STARTUP_MS),
    startRole(
      'gateway',
      PORTS.gateway,
      {
        ...common,
        GATEWAY_PORT: String(PORTS.gateway),
        GATEWAY_UPSTREAM_API: at(PORTS.api),
        GATEWAY_HEALTH_INTERVAL_MS: '200',
      },
      STARTUP_MS,
    ),
  ])
  started.push(api, relay, worker, gateway)

  const base = at(PORTS.gateway)
  const admin = async (path: string, init: RequestInit = {}, token = ADMIN_TOKEN) => {
    const response = await fetch(`${base}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${token}`,
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
    })
    const type = response.headers.get('content-type') ?? ''
    return {
      status: response.status,
      type,
      body: (type.includes('json') ? await response.json() : await response.text()) as Json,
    }
  }
  const pay = async (path: string, body: Json) => {
    const response = await fetch(`${base}/api/payments/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    return { status: response.status, body: (await response.json()) as Json }
  }

  // A wrong token is refused on every view, and the refusal is audited like any admin request.
  for (const path of ['/api/admin/overview', '/api/admin/kafka', '/api/admin/load-runs']) {
    const refused = await admin(path, {}, 'x'.repeat(40))
    assert.equal(refused.status, 401, path)
    assert.equal(refused.body.code, 'UNAUTHORIZED')
  }

  // Overview: every role up and ready with its version; rates once two scrapes saw traffic.
  await until(
    'every role up and ready',
    async () => {
      const { body } = await admin('/api/admin/overview')
      return body.roles.length === 5 && body.roles.every((r: Json) => r.up && r.ready && r.version !== null)
    },
    { timeoutMs: 20_000, intervalMs: 200 },
  )
  const authorized = await pay('authorize', { amount: 1000, currency: 'USD', idempotencyKey: 'ops-1' })
  assert.equal(authorized.status, 201)
  const paymentId = authorized.body.paymentId as string
  const overview = await until(
    'the authorize rate in the overview',
    async () => {
      await pay('authorize', { amount: 1100, currency: 'USD', idempotencyKey: `ops-${Date.now()}` })
      const { body } = await admin('/api/admin/overview')
      return body.authorizationsPerMinute > 0 ? body : undefined
    },
    { timeoutMs: 15_000, intervalMs: 150 },
  )
  const route = overview.routes.find((r: Json) => r.route === 'payments.authorize')
  assert.ok(
    route.requestsPerSecond > 0 && route.errorRate === 0 && route.p99Seconds > 0,
    JSON.stringify(route),
  )
  assert.ok(overview.windowSeconds > 0)
  assert.equal(overview.alerts, null, 'no PROMETHEUS_URL: no alerts section')

  // Capture: the worker settles and the ledger posts; the stored check and totals show it.
  assert.equal((await pay(`capture/${paymentId}`, {})).status, 202)
  await until(
    'the capture posted',
    async () => (await handle.db.selectFrom('ledger_entries').selectAll().execute()).length === 1,
    { timeoutMs: 20_000, intervalMs: 100 },
  )
  const check = await admin('/api/admin/ledger/check', { method: 'POST' })
  assert.equal(check.status, 200)
  assert.equal(check.body.clean, true)
  assert.equal(check.body.source, 'api')
  const ledger = await admin('/api/admin/ledger')
  assert.equal(ledger.body.lastCheck.id, check.body.id)
  assert.deepEqual(
    ledger.body.totals.map((row: Json) => [row.currency, row.account, row.balance]),
    [
      ['USD', 'acquirer_receivable', 1000],
      ['USD', 'merchant_payable', -1000],
    ],
  )

  // Merchants: listed with key prefixes, never a key.
  const merchants = await admin('/api/admin/merchants')
  const merchant = merchants.body.items.find((m: Json) => m.merchantId === 'ops-merchant')
  assert.deepEqual(merchant.activeKeys, [key.slice(0, 12)])
  assert.ok(!JSON.stringify(merchants.body).includes(key))

  // Gateway: its one upstream instance, available, not ejected.
  const gatewayView = await admin('/api/admin/gateway')
  assert.equal(gatewayView.body.up, true)
  assert.deepEqual(
    gatewayView.body.instances.map((i: Json) => [i.instance, i.available, i.ejected]),
    [[at(PORTS.api), true, false]],
  )

  // Dead letters: none, in the paged shape.
  const dlq = await admin('/api/admin/dlq?limit=10')
  assert.deepEqual(
    { items: dlq.body.items, consumer: dlq.body.consumer, total: dlq.body.total, limit: dlq.body.limit },
    { items: [], consumer: [], total: { relay: 0, consumer: 0 }, limit: 10 },
  )

  // Load runs: one at a time, live progress, a report at the end.
  const run = await admin('/api/admin/load-runs', {
    method: 'POST',
    body: JSON.stringify({ scenario: 'authorize', rate: 20, duration: 3 }),
  })
  assert.equal(run.status, 202, JSON.stringify(run.body))
  assert.equal(run.body.status, 'running')
  const second = await admin('/api/admin/load-runs', {
    method: 'POST',
    body: JSON.stringify({ scenario: 'read', rate: 5, duration: 2 }),
  })
  assert.equal(second.status, 409)
  assert.equal(second.body.code, 'LOAD_RUN_IN_PROGRESS')
  const tooFast = await admin('/api/admin/load-runs', {
    method: 'POST',
    body: JSON.stringify({ scenario: 'authorize', rate: 51, duration: 2 }),
  })
  assert.equal(tooFast.status, 400)
  await until(
    'live progress',
    async () => (await admin(`/api/admin/load-runs/${run.body.id}`)).body.progress?.requests > 0,
    { timeoutMs: 15_000, intervalMs: 200 },
  )
  const done = await until(
    'the run to finish',
    async () => {
      const { body } = await admin(`/api/admin/load-runs/${run.body.id}`)
      return body.status === 'running' ? undefined : body
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  )
  assert.equal(done.status, 'finished', done.error)
  assert.equal(done.report.scenario, 'authorize')
  assert.ok(done.report.answers['201'] > 0, JSON.stringify(done.report.answers))
  const html = await admin(`/api/admin/load-runs/${run.body.id}/report.html`)
  assert.equal(html.status, 200)
  assert.match(html.type, /text\/html/)
  assert.match(String(html.body), /<html/i)
  const list = await admin('/api/admin/load-runs')
  assert.deepEqual(
    list.body.items.map((r: Json) => [r.id, r.status, r.hasReport]),
    [[run.body.id, 'finished', true]],
  )

  // Outbox: the relay holds every bucket; with it stopped, the backlog grows and it shows down.
  const outbox = await admin('/api/admin/outbox')
  assert.equal(outbox.body.relays.length, 1)
  assert.equal(outbox.body.relays[0].buckets.length, 64)
  assert.equal(outbox.body.unleasedBuckets, 0)
  assert.ok(outbox.body.publishedTotal > 0)
  // Kafka: three groups, the worker reporting its handlers.
  const kafka = await admin('/api/admin/kafka')
  assert.equal(kafka.body.error, null)
  assert.deepEqual(
    kafka.body.groups.map((g: Json) => g.handler),
    ['settlement', 'refund', 'ledger'],
  )
  assert.equal(kafka.body.workerUp, true)
  const settled = kafka.body.handlers.find((h: Json) => h.handler === 'settlement')
  assert.equal(
    Object.values(settled.outcomes as Record<string, number>).reduce((a, b) => a + b, 0),
    1,
    JSON.stringify(settled),
  )

  // A stopped worker: its group's lag grows as the broker sees it.
  await worker.stop()
  const second2 = await pay('authorize', { amount: 1300, currency: 'USD', idempotencyKey: 'lag-1' })
  assert.equal((await pay(`capture/${second2.body.paymentId}`, {})).status, 202)
  const lagging = await until(
    'lag for the stopped worker',
    async () => {
      const { body } = await admin('/api/admin/kafka')
      return body.groups.find((g: Json) => g.handler === 'settlement')?.lag > 0 ? body : undefined
    },
    { timeoutMs: 15_000, intervalMs: 200 },
  )
  assert.equal(lagging.workerUp, false)
  const settlement = lagging.groups.find((g: Json) => g.handler === 'settlement')
  assert.equal(
    settlement.partitions.reduce((sum: number, p: Json) => sum + p.lag, 0),
    settlement.lag,
  )

  await relay.stop()
  for (let i = 0; i < 3; i++)
    assert.equal(
      (await pay('authorize', { amount: 1200, currency: 'USD', idempotencyKey: `down-${i}` })).status,
      201,
    )
  const backlog = await admin('/api/admin/outbox')
  assert.ok(backlog.body.pending >= 3, JSON.stringify(backlog.body))
  const roles = await until(
    'the relay and the worker shown down',
    async () => {
      const { body } = await admin('/api/admin/overview')
      const down = body.roles.filter((r: Json) => !r.up).map((r: Json) => r.role)
      return down.length === 2 ? body.roles : undefined
    },
    { timeoutMs: 10_000, intervalMs: 200 },
  )
  assert.match(roles.find((r: Json) => r.role === 'relay').error, /refused/)
})
