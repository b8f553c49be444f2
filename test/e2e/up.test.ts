import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { openDatabase } from '../../src/db/database.ts'
import { createAdmin } from '../../src/kafka/connection.ts'
import { freePort, freePorts } from '../../support/processes.ts'
import { privateBroker } from '../helpers/kafka.ts'
import { outboxRows } from '../helpers/outbox.ts'
import { requireService } from '../helpers/services.ts'
import { until } from '../helpers/until.ts'
import { spawnCli, startUp } from '../helpers/up.ts'

test('payrail up prepares database and topics, runs the roles, prints a working demo key, and stops it all on SIGTERM', async (t) => {
  // A broker of its own: another platform's workers on the shared one would join the same
  // consumer groups and take this platform's captures (dead-lettered there, never settled here).
  const brokers = await privateBroker(t)
  const dir = mkdtempSync(join(tmpdir(), 'payrail-up-'))
  const databaseUrl = `sqlite:${join(dir, 'payrail.db')}`
  const apiPort = await freePort()
  const acquirerPort = await freePort()
  const relayPort = await freePort()
  const gatewayPort = await freePort()
  const workerPort = await freePort()
  const up = await startUp(t, dir, {
    DATABASE_URL: databaseUrl,
    KAFKA_BROKERS: brokers,
    API_PORT: String(apiPort),
    ACQUIRER_PORT: String(acquirerPort),
    ACQUIRER_URL: `http://127.0.0.1:${acquirerPort}`,
    ACQUIRER_AUTH_FAILURE_RATE: '0',
    ACQUIRER_SETTLE_FAILURE_RATE: '0',
    RELAY_METRICS_PORT: String(relayPort),
    GATEWAY_PORT: String(gatewayPort),
    WORKER_METRICS_PORT: String(workerPort),
    NOTIFIER_METRICS_PORT: String(await freePort()),
  })
  const { child, exited } = up
  const output = up.output()
  assert.match(output, /payrail is up/)
  assert.match(output, new RegExp(`kafka +${brokers.replaceAll('.', '\\.')}`))
  assert.match(output, /database .*payrail\.db: \d+ migrations applied/)

  assert.match(output, new RegExp(`api +http://127\\.0\\.0\\.1:${apiPort}`))
  assert.match(output, new RegExp(`acquirer +http://127\\.0\\.0\\.1:${acquirerPort}`))
  // The dashboard: its URL printed, the app served with its CSP, calling the gateway up runs.
  const dashboardUrl = /dashboard +(http:\/\/127\.0\.0\.1:\d+) +web console/.exec(output)?.[1]
  assert.ok(dashboardUrl, output)
  const app = await fetch(`${dashboardUrl}/`)
  assert.equal(app.status, 200)
  assert.match(
    app.headers.get('content-security-policy') ?? '',
    new RegExp(`connect-src 'self' http://127\\.0\\.0\\.1:${gatewayPort};`),
  )
  const dashboardConfig = await fetch(`${dashboardUrl}/config.json`).then((r) => r.json())
  assert.deepEqual(dashboardConfig, { apiOrigin: `http://127.0.0.1:${gatewayPort}` })
  const preflight = await fetch(`http://127.0.0.1:${gatewayPort}/api/payments/authorize`, {
    method: 'OPTIONS',
    headers: {
      origin: dashboardUrl,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type',
    },
  })
  assert.equal(
    preflight.headers.get('access-control-allow-origin'),
    dashboardUrl,
    'the gateway lets the dashboard call it',
  )
  const demoKey = /demo key +(prk_\S+)/.exec(output)?.[1]
  assert.ok(demoKey, output)
  // No ADMIN_TOKEN configured: up makes one for the run, and the operations plane takes it.
  const adminToken = /admin token ([A-Za-z0-9_-]{32,})/.exec(output)?.[1]
  assert.ok(adminToken, output)
  const overview = (token: string) =>
    fetch(`http://127.0.0.1:${gatewayPort}/api/admin/overview`, {
      headers: { authorization: `Bearer ${token}` },
    })
  assert.equal((await overview(adminToken)).status, 200)
  assert.equal((await overview(`${adminToken}x`)).status, 401)
  const authorize = await fetch(`http://127.0.0.1:${apiPort}/api/payments/authorize`, {
    method: 'POST',
    headers: { authorization: `Bearer ${demoKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ amount: 15_000, currency: 'KRW', idempotencyKey: 'up-1' }),
  })
  assert.equal(authorize.status, 201)
  const paymentId = ((await authorize.json()) as { paymentId: string }).paymentId
  // The gateway that payrail up runs fronts that api.
  assert.match(
    output,
    new RegExp(
      `gateway +http://127\\.0\\.0\\.1:${gatewayPort} +public entry → api \\(http://127\\.0\\.0\\.1:${apiPort}\\)`,
    ),
    'up names the api the gateway really fronts',
  )
  const viaGateway = await fetch(`http://127.0.0.1:${gatewayPort}/api/payments/${paymentId}`, {
    headers: { authorization: `Bearer ${demoKey}` },
  })
  assert.equal(viaGateway.status, 200)
  assert.equal(((await viaGateway.json()) as { paymentId: string }).paymentId, paymentId)

  const handle = openDatabase({ url: databaseUrl })
  t.after(() => handle.close())
  const tables = (await handle.db.introspection.getTables()).map((table) => table.name)
  assert.ok(tables.includes('outbox_events'))
  // The relay that payrail up runs publishes the authorization.
  await until(
    'the authorization to be published',
    async () => (await outboxRows(handle.db)).find((r) => r.paymentId === paymentId)?.state === 'PUBLISHED',
    { timeoutMs: 30_000, intervalMs: 100 },
  )

  // The worker that payrail up runs settles a capture and posts it to the ledger.
  const capture = await fetch(`http://127.0.0.1:${apiPort}/api/payments/capture/${paymentId}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${demoKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({}),
  })
  assert.equal(capture.status, 202, await capture.text())
  let payment: { status: string; ledgerEntries: unknown[] } | undefined
  await until(
    'the capture to be settled and posted',
    async () => {
      const read = await fetch(`http://127.0.0.1:${apiPort}/api/payments/${paymentId}`, {
        headers: { authorization: `Bearer ${demoKey}` },
      })
      payment = (await read.json()) as { status: string; ledgerEntries: unknown[] }
      return payment.status === 'CAPTURED' && payment.ledgerEntries.length === 1
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  ).catch((error: Error) => {
    throw new Error(`${error.message}: ${JSON.stringify(payment)}\n${up.output()}`)
  })

  const admin = createAdmin({ brokers: brokers.split(','), clientId: 'payrail-test', retries: 3 })
  const metadata = await admin.metadata({ topics: ['payment.authorized', 'payment.dlq'], forceUpdate: true })
  await admin.close()
  assert.equal(metadata.topics.get('payment.authorized')?.partitionsCount, 6)
  assert.equal(metadata.topics.get('payment.dlq')?.partitionsCount, 3)

  child.kill('SIGTERM')
  const [code] = await exited
  assert.equal(code, 0, up.output())
  assert.match(up.output(), /received SIGTERM; stopping/)
  const apiGone = await fetch(`http://127.0.0.1:${apiPort}/healthz`).then(
    () => false,
    () => true,
  )
  assert.ok(apiGone, 'the api stopped with payrail up')
})

test('payrail up refuses a role port that another process holds, naming it, and leaves no role running', async (t) => {
  const brokers = await requireService(t, 'kafka')
  if (brokers === undefined) return
  const dir = mkdtempSync(join(tmpdir(), 'payrail-up-taken-'))
  // Another server that answers /healthz like a role: before the fix, up took its answer for the
  // gateway's, printed "payrail is up", and ran on with the gateway dead of EADDRINUSE.
  const other = createServer((_request, response) => response.end('{"status":"ok"}'))
  other.listen(0, '127.0.0.1')
  await once(other, 'listening')
  t.after(() => other.close())
  const takenPort = (other.address() as AddressInfo).port
  const [apiPort, acquirerPort, relayPort, workerPort] = await freePorts(4)
  const { child, output } = spawnCli(t, ['up'], {
    cwd: dir,
    env: {
      DATABASE_URL: `sqlite:${join(dir, 'payrail.db')}`,
      KAFKA_BROKERS: brokers,
      API_PORT: String(apiPort),
      ACQUIRER_PORT: String(acquirerPort),
      ACQUIRER_URL: `http://127.0.0.1:${acquirerPort}`,
      RELAY_METRICS_PORT: String(relayPort),
      GATEWAY_PORT: String(takenPort),
      WORKER_METRICS_PORT: String(workerPort),
      NOTIFIER_METRICS_PORT: String(await freePort()),
    },
  })
  const [code] = await until(
    'payrail up to exit',
    () => (child.exitCode === null ? false : [child.exitCode]),
    {
      timeoutMs: 90_000,
    },
  )
  assert.notEqual(code, 0, output())
  assert.match(output(), new RegExp(`another process listens on 127\\.0\\.0\\.1:${takenPort}`))
  assert.doesNotMatch(output(), /payrail is up/)
  for (const port of [apiPort, acquirerPort]) {
    const gone = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      () => false,
      () => true,
    )
    assert.ok(gone, `the role on ${port} was stopped when up gave up\n${output()}`)
  }
})
