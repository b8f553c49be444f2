import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { chromium, type Page } from 'playwright-core'
import { openDatabase } from '../../src/db/database.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { freePorts } from '../../src/runtime/ports.ts'
import { type RoleProcess, startAcquirer, startRole } from '../../support/processes.ts'
import { privateBroker } from '../helpers/kafka.ts'
import { requireService, requireTool } from '../helpers/services.ts'
import { until } from '../helpers/until.ts'

// The dashboard in a real browser (Debian's Chromium driven by playwright-core) against real
// roles as processes (the roles `payrail up` runs, each its own process so the relay can be
// stopped and started again), a broker of the test's own and SQLite, on spare ports.
const ADMIN_TOKEN = 'dashboard-test-admin-token-0123456789abcdef'
const at = (port: number) => `http://127.0.0.1:${port}`
// Each wait in the browser: long enough for a settlement through Kafka on 2 busy cores.
const STEP_MS = 30_000
// A role's start on a loaded machine (several suites at once on 2 cores) took over 30 s once.
const START_MS = 60_000

test('the dashboard in Chromium: shop demo to REFUNDED with a replayed key, outbox backlog and drain, dead letter replayed, wrong admin token refused', {
  timeout: 180_000,
}, async (t) => {
  const executablePath = requireTool(t, 'chromium')
  if (executablePath === undefined) return
  if ((await requireService(t, 'kafka')) === undefined) return
  const brokers = await privateBroker(t)
  const [gateway, api, relayPort, worker, dashboard, notifier] = (await freePorts(6)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  const PORTS = { gateway, api, relay: relayPort, worker, dashboard, notifier }
  const dir = mkdtempSync(join(tmpdir(), 'payrail-dashboard-'))
  const shots = process.env.DASHBOARD_SCREENSHOTS_DIR ?? join(dir, 'screenshots')
  mkdirSync(shots, { recursive: true })
  t.diagnostic(`screenshots in ${shots}`)
  const databaseUrl = `sqlite:${join(dir, 'payrail.db')}`
  const handle = openDatabase({ url: databaseUrl })
  t.after(() => handle.close())
  await migrateToLatest(handle.db, handle.dialect)

  const started: RoleProcess[] = []
  t.after(async () => {
    await Promise.all(started.map((role) => role.stop('SIGKILL')))
  })
  const acquirer = await startAcquirer()
  started.push(acquirer)
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
      `dashboard=${at(PORTS.dashboard)}`,
    ].join(','),
    OPS_SCRAPE_MIN_INTERVAL_MS: '300',
    // The page polls several views a second; the default 10/s per address is for people.
    GATEWAY_RATE_LIMIT_ADMIN: '1000/1s',
    // The webhook receiver below listens on loopback over http.
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_ALLOW_HTTP: 'true',
  }
  // A merchant's webhook receiver: every delivery's body, answered 204.
  const received: { type: string; paymentId: string; sequence: number }[] = []
  const receiver = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString()
    })
    request.on('end', () => {
      const event = JSON.parse(body) as { type: string; data: { payment: { id: string } }; sequence: number }
      received.push({ type: event.type, paymentId: event.data.payment.id, sequence: event.sequence })
      response.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  t.after(() => receiver.close())
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`
  // Each role is stopped after the test as soon as it has started, so a role that fails to
  // start does not leave the others running (and the test file's process waiting on them).
  const track = async (role: Promise<RoleProcess>) => {
    const running = await role
    started.push(running)
    return running
  }
  const startRelay = () =>
    track(startRole('relay', PORTS.relay, { ...common, RELAY_METRICS_PORT: String(PORTS.relay) }, START_MS))
  // Settled, all of them, before a failure is thrown: none is left starting after the test ends.
  const starts = await Promise.allSettled([
    track(startRole('api', PORTS.api, { ...common, API_PORT: String(PORTS.api) }, START_MS)),
    startRelay(),
    track(
      startRole('worker', PORTS.worker, { ...common, WORKER_METRICS_PORT: String(PORTS.worker) }, START_MS),
    ),
    track(
      startRole(
        'notifier',
        PORTS.notifier,
        { ...common, NOTIFIER_METRICS_PORT: String(PORTS.notifier) },
        START_MS,
      ),
    ),
    track(
      startRole(
        'gateway',
        PORTS.gateway,
        {
          ...common,
          GATEWAY_PORT: String(PORTS.gateway),
          GATEWAY_UPSTREAM_API: at(PORTS.api),
          GATEWAY_CORS_ORIGINS: at(PORTS.dashboard),
        },
        START_MS,
      ),
    ),
    track(
      startRole(
        'dashboard',
        PORTS.dashboard,
        {
          DASHBOARD_PORT: String(PORTS.dashboard),
          DASHBOARD_API_ORIGIN: at(PORTS.gateway),
        },
        START_MS,
      ),
    ),
  ])
  const failed = starts.find((start) => start.status === 'rejected')
  if (failed !== undefined) throw failed.reason
  const relay = (starts[1] as PromiseFulfilledResult<RoleProcess>).value

  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  })
  t.after(() => browser.close())
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  page.setDefaultTimeout(STEP_MS)
  // A CSP violation, a script error or a request to anything but the dashboard and the API fails the test.
  const problems: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of 4\d\d/.test(message.text())) problems.push(message.text())
  })
  page.on('pageerror', (error) => problems.push(error.message))
  page.on('request', (request) => {
    const origin = new URL(request.url()).origin
    if (![at(PORTS.dashboard), at(PORTS.gateway)].includes(origin) && !request.url().startsWith('data:'))
      problems.push(`request to ${request.url()}`)
  })
  const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true })
  const open = async (path: string) => {
    await page.goto(`${at(PORTS.dashboard)}/#/${path}`)
    await page.getByRole('heading', { level: 1 }).waitFor()
  }

  // A wrong admin token is refused, and the page says what to do.
  await open('overview')
  await page.getByLabel('Admin token').fill('not-the-admin-token-but-long-enough-0123')
  await page.getByRole('button', { name: 'Use' }).click()
  await page.getByRole('alert').filter({ hasText: 'The admin token was refused' }).waitFor()
  await page.getByLabel('Admin token').fill(ADMIN_TOKEN)
  await page.getByRole('button', { name: 'Use' }).click()
  await page.getByRole('cell', { name: 'relay', exact: true }).waitFor()
  assert.equal(page.url().includes(ADMIN_TOKEN), false, 'the token never goes into the URL')

  // Shop demo: a merchant, an authorization and its replay, a capture and a refund, live.
  await open('shop')
  await page.getByRole('button', { name: 'Create demo merchant' }).click()
  await page.getByText(/Demo merchant shop-\w+ created/).waitFor()
  // Webhooks: the demo merchant adds an endpoint; its secret is shown once.
  await open('webhooks')
  await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor()
  await page.getByLabel(/Endpoint URL/).fill(receiverUrl)
  await page.getByRole('button', { name: 'Add endpoint' }).click()
  await page.getByText('Signing secret, shown this once').waitFor()
  await page.getByRole('button', { name: 'I have copied it' }).click()
  await page.getByRole('cell', { name: receiverUrl }).waitFor()
  await open('shop')
  await page.getByLabel('Amount (minor units)').fill('25000')
  await page.getByRole('button', { name: 'Authorize', exact: true }).click()
  const notice = page.getByTestId('shop-notice')
  await notice.filter({ hasText: /^Authorized/ }).waitFor()
  const paymentId = /Authorized (\S+) with key/.exec((await notice.textContent()) ?? '')?.[1]
  assert.ok(paymentId)
  await page.getByRole('button', { name: 'Resend the same key' }).click()
  await notice.filter({ hasText: /^Replayed/ }).waitFor()
  assert.match((await notice.textContent()) ?? '', new RegExp(`the same payment ${paymentId}`))
  await page.getByRole('button', { name: 'Capture', exact: true }).click()
  await waitStep(page, 'CAPTURED')
  await page.getByRole('button', { name: 'Refund', exact: true }).click()
  await waitStep(page, 'REFUNDED')
  for (const step of ['AUTHORIZED', 'CAPTURE_REQUESTED', 'CAPTURED', 'REFUND_REQUESTED', 'REFUNDED'])
    assert.equal(await page.locator(`li[data-step="${step}"]`).getAttribute('class'), 'done', step)
  await page.getByTestId('payment-status').filter({ hasText: 'REFUNDED' }).waitFor()
  await page.getByRole('cell', { name: 'merchant_payable' }).first().waitFor()
  await shot('shop')
  await page.setViewportSize({ width: 390, height: 844 })
  await shot('shop-390')
  await page.setViewportSize({ width: 1280, height: 900 })

  // The receiver got the payment's five events in order, and the delivery log shows them.
  await until(
    'five webhooks for the payment',
    () => received.filter((event) => event.paymentId === paymentId).length >= 5,
    { timeoutMs: STEP_MS },
  )
  assert.deepEqual(
    received.filter((event) => event.paymentId === paymentId).map((event) => event.type),
    [
      'payment.authorized',
      'payment.capture_requested',
      'payment.captured',
      'payment.refund_requested',
      'payment.refunded',
    ],
  )
  await open('webhooks')
  await page.getByRole('cell', { name: 'payment.refunded', exact: true }).waitFor()
  await page.getByRole('button', { name: 'Attempts' }).first().click()
  await page.getByRole('table', { name: 'Attempts' }).getByRole('cell', { name: '204' }).waitFor()
  await shot('webhooks')

  // Payments: the list holds it; its detail has the timeline and the events as sent to Kafka.
  await open('payments')
  await page.getByRole('link', { name: paymentId }).click()
  await page.getByRole('cell', { name: 'payment.refunded' }).waitFor()
  await shot('payments')

  // Outbox: with the relay stopped the backlog grows and the page says so; then a dead letter.
  await relay.stop()
  const merchantKey = await page.evaluate(() => sessionStorage.getItem('payrail.merchantKey'))
  assert.ok(merchantKey)
  for (let i = 0; i < 3; i++) {
    const answer = await fetch(`${at(PORTS.gateway)}/api/payments/authorize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${merchantKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ amount: 1000 + i, currency: 'USD', idempotencyKey: `backlog-${i}` }),
    })
    assert.equal(answer.status, 201)
  }
  await open('outbox')
  await page.getByTestId('relay-warning').waitFor()
  await until(
    'the backlog on the page',
    async () => Number(await page.getByTestId('outbox-pending').textContent()) >= 3,
    {
      timeoutMs: STEP_MS,
    },
  )
  await shot('outbox-backlog')

  // The oldest pending event is given up on, as the relay does after its last attempt.
  const dead = await handle.db
    .selectFrom('outbox_pending')
    .select('id')
    .orderBy('id')
    .limit(1)
    .executeTakeFirstOrThrow()
  await handle.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('outbox_pending').where('id', '=', dead.id).execute()
    await trx
      .insertInto('outbox_dead')
      .values({ id: dead.id, attempts: 10, last_error: 'broker refused (test)', dead_at: Date.now() })
      .execute()
  })
  await open('dead-letters')
  await page.getByRole('cell', { name: 'broker refused (test)' }).waitFor()
  await shot('dead-letters')
  await page.getByRole('button', { name: /^Replay [0-9a-f-]{36}$/ }).click()
  await page.getByRole('button', { name: 'Confirm replay' }).click()
  await page.getByText(/Replayed relay dead letter .* \(1\)/).waitFor()
  await page.getByText('No dead events').waitFor()

  // The relay comes back and the backlog drains to nothing, the replayed event with it.
  await startRelay()
  await open('outbox')
  await until(
    'the backlog drained on the page',
    async () => (await page.getByTestId('outbox-pending').textContent()) === '0',
    {
      timeoutMs: STEP_MS,
    },
  )
  await page.getByTestId('relay-warning').waitFor({ state: 'detached' })
  await shot('outbox')

  // The other pages render their views; a screenshot of each.
  for (const [path, ready] of [
    ['overview', 'Per route at the gateway'],
    ['kafka', 'Lag per partition'],
    ['gateway', 'Instances behind the gateway'],
    ['ledger', 'Debits, credits and balance'],
    ['load', 'Start a load test'],
  ] as const) {
    await open(path)
    await page.getByText(ready).first().waitFor()
    await shot(path)
  }

  // The gateway serves the same build at / with a CSP for its own origin, and it works there too.
  const index = await fetch(`${at(PORTS.gateway)}/`)
  assert.equal(index.status, 200)
  assert.match(index.headers.get('content-security-policy') ?? '', /connect-src 'self'; /)
  // Another origin, so another sessionStorage: the token is asked for again.
  await page.goto(`${at(PORTS.gateway)}/#/outbox`)
  await page.getByText(`API ${at(PORTS.gateway)}`).waitFor()
  await page.getByRole('alert').filter({ hasText: 'Enter the admin token' }).waitFor()
  await page.getByLabel('Admin token').fill(ADMIN_TOKEN)
  await page.getByRole('button', { name: 'Use' }).click()
  await page.getByTestId('outbox-pending').waitFor()

  assert.deepEqual(problems, [])
})

async function waitStep(page: Page, step: string): Promise<void> {
  await page.locator(`li[data-step="${step}"].done`).waitFor({ timeout: STEP_MS })
}
