/**
 * bench/webhooks: what one notifier process delivers, as `payrail up` runs it, on private ports
 * (its own Kafka broker, a scratch SQLite file): the acquirer simulator answering in 1-5 ms, an
 * api with its embedded relay, a worker, one notifier, and a fast receiver on loopback (204 at
 * once) that verifies every signature.
 *
 * - throughput: `--payments` authorizations are recorded while the notifier is stopped; it is
 *   then started and the receiver counts deliveries per second from the first to the last
 *   (a backlog drained at full speed, the consumer's group join excluded);
 * - latency: `--captures` payments captured at `--rate` per second; for each PAYMENT_CAPTURED,
 *   the time from its commit (the event's `created`, written in the settlement transaction) to
 *   the webhook's arrival, p50/p99.
 *
 *   ./payrail bench webhooks [--payments 3000] [--captures 300] [--rate 20] [--concurrency 64]
 */
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { openDatabase } from '../../src/db/database.ts'
import { issueApiKey } from '../../src/db/merchants.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { until } from '../../src/runtime/until.ts'
import { verifySignature } from '../../src/webhooks/signing.ts'
import { freePorts, type RoleProcess, startRole } from '../../support/processes.ts'
import { privateBenchBroker } from '../lib/kafka.ts'

const { values } = parseArgs({
  options: {
    payments: { type: 'string', default: '3000' },
    captures: { type: 'string', default: '300' },
    rate: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '64' },
  },
})
const number = (name: string, text: string) => {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`--${name} must be a positive whole number (got ${text})`)
  return value
}
const payments = number('payments', values.payments)
const captures = number('captures', values.captures)
const rate = number('rate', values.rate)
const concurrency = number('concurrency', values.concurrency)
const say = (line: string) => console.log(line)

const dir = mkdtempSync(join(tmpdir(), 'payrail-bench-webhooks-'))
const stops: (() => Promise<unknown>)[] = []
const secrets = new Map<string, string>()
const arrivals: { path: string; type: string; created: number; at: number; verified: boolean }[] = []
const receiver = createServer(async (request, response) => {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  const at = Date.now()
  const body = Buffer.concat(chunks).toString('utf8')
  const event = JSON.parse(body) as { type: string; created: string }
  const header = request.headers['payrail-signature'] as string | undefined
  const path = request.url ?? '/'
  arrivals.push({
    path,
    type: event.type,
    created: Date.parse(event.created),
    at,
    verified: verifySignature(header, body, secrets.get(path) ?? '', Math.floor(at / 1000)),
  })
  response.writeHead(204).end()
})

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0

try {
  receiver.listen(0, '127.0.0.1')
  await once(receiver, 'listening')
  stops.push(async () => receiver.close())
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`
  const databaseUrl = `sqlite:${join(dir, 'payrail.db')}`
  const handle = openDatabase({ url: databaseUrl, poolMax: 1 })
  await migrateToLatest(handle.db, handle.dialect)
  const key = (await issueApiKey(handle.db, 'bench-hooks')).key
  await handle.close()

  const [acquirerPort, apiPort, workerPort, notifierPort] = await freePorts(4)
  const broker = await privateBenchBroker(dir, 'payrail-bench-webhooks')
  stops.push(broker.stop)
  const { brokers } = broker
  const common = {
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    KAFKA_BROKERS: brokers,
    ACQUIRER_URL: `http://127.0.0.1:${acquirerPort}`,
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_CONCURRENCY: String(concurrency),
  }
  const start = async (role: string, port: number, env: Record<string, string>): Promise<RoleProcess> => {
    const started = await startRole(role, port, { ...common, ...env }, 60_000)
    stops.push(() => started.stop())
    return started
  }
  await start('acquirer', acquirerPort as number, {
    ACQUIRER_PORT: String(acquirerPort),
    ACQUIRER_AUTH_LATENCY_MS: '1-5',
    ACQUIRER_SETTLE_LATENCY_MS: '1-5',
    ACQUIRER_AUTH_FAILURE_RATE: '0',
    ACQUIRER_SETTLE_FAILURE_RATE: '0',
  })
  const api = await start('api', apiPort as number, { API_PORT: String(apiPort), API_EMBEDDED_RELAY: 'true' })
  await start('worker', workerPort as number, { WORKER_METRICS_PORT: String(workerPort) })
  const call = async (method: string, path: string, body: unknown) => {
    const response = await fetch(`${api.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    const answer = (await response.json()) as Record<string, unknown>
    if (response.status >= 300)
      throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(answer)}`)
    return answer
  }
  for (const [path, eventTypes] of [
    ['/authorized', ['payment.authorized']],
    ['/captured', ['payment.captured']],
  ] as const) {
    const created = await call('POST', '/api/webhook-endpoints', { url: `${receiverUrl}${path}`, eventTypes })
    secrets.set(path, String(created.secret))
  }

  // Throughput: a backlog recorded with the notifier stopped, then drained.
  say(`authorizing ${payments} payments with the notifier stopped…`)
  const ids: string[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < payments) {
        const n = next++
        const paid = await call('POST', '/api/payments/authorize', {
          amount: 1000 + (n % 50),
          currency: 'KRW',
          idempotencyKey: `b-${n}`,
        })
        ids.push(String(paid.paymentId))
      }
    }),
  )
  const notifier = await start('notifier', notifierPort as number, {
    NOTIFIER_METRICS_PORT: String(notifierPort),
  })
  const authorized = () => arrivals.filter((a) => a.path === '/authorized')
  await until('every authorization delivered', () => authorized().length >= payments, {
    timeoutMs: 600_000,
    intervalMs: 100,
  })
  const drained = authorized()
  const seconds = ((drained.at(-1)?.at ?? 0) - (drained[0]?.at ?? 0)) / 1000
  const perSecond = Math.round(payments / seconds)
  say(
    `throughput: ${payments} deliveries in ${seconds.toFixed(2)} s = ${perSecond} deliveries/s (concurrency ${concurrency})`,
  )

  // Latency: captures at a steady rate, PAYMENT_CAPTURED commit → webhook received.
  await until(
    'the worker in its group',
    async () => (await fetch(`http://127.0.0.1:${workerPort}/readyz`)).ok,
    { timeoutMs: 60_000 },
  )
  say(`capturing ${captures} payments at ${rate}/s…`)
  const started = Date.now()
  const inFlight: Promise<unknown>[] = []
  for (let n = 0; n < captures; n++) {
    const due = started + (n * 1000) / rate
    const wait = due - Date.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    inFlight.push(call('POST', `/api/payments/capture/${ids[n]}`, {}))
  }
  await Promise.all(inFlight)
  const captured = () => arrivals.filter((a) => a.path === '/captured')
  await until('every capture delivered', () => captured().length >= captures, {
    timeoutMs: 120_000,
    intervalMs: 100,
  })
  const latencies = captured()
    .map((a) => a.at - a.created)
    .sort((x, y) => x - y)
  say(
    `latency PAYMENT_CAPTURED commit → webhook received: p50 ${quantile(latencies, 0.5)} ms, p99 ${quantile(latencies, 0.99)} ms, max ${latencies.at(-1)} ms (${captures} captures at ${rate}/s)`,
  )
  const unverified = arrivals.filter((a) => !a.verified).length
  say(`signatures: ${arrivals.length - unverified} of ${arrivals.length} verified`)
  if (unverified > 0) process.exitCode = 1
  await notifier.stop()
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {})
  rmSync(dir, { recursive: true, force: true })
}
