import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import Fastify from 'fastify'
import { registerOperationalRoutes, startOperationalServer } from '../../src/observability/health.ts'
import { createLogger } from '../../src/observability/logger.ts'
import { createMetricsRegistry } from '../../src/observability/metrics.ts'

test('/healthz answers, /readyz reflects every dependency, /metrics has process metrics', async (t) => {
  let databaseUp = true
  const app = Fastify()
  t.after(() => app.close())
  registerOperationalRoutes(app, {
    registry: createMetricsRegistry('test'),
    checks: [
      { name: 'kafka', check: async () => {} },
      {
        name: 'database',
        check: async () => {
          if (!databaseUp) throw new Error('connection refused')
        },
      },
    ],
  })

  assert.deepEqual((await app.inject('/healthz')).json(), { status: 'ok' })

  const ready = await app.inject('/readyz')
  assert.equal(ready.statusCode, 200)
  assert.equal(ready.json().status, 'ready')

  databaseUp = false
  const notReady = await app.inject('/readyz')
  assert.equal(notReady.statusCode, 503)
  assert.deepEqual(notReady.json().checks.database, { ok: false, error: 'connection refused' })
  assert.deepEqual(notReady.json().checks.kafka, { ok: true })

  const metrics = await app.inject('/metrics')
  assert.equal(metrics.statusCode, 200)
  assert.match(metrics.headers['content-type'] ?? '', /text\/plain/)
  assert.match(metrics.body, /^payrail_process_resident_memory_bytes\{role="test"\} \d+/m)
  assert.match(metrics.body, /payrail_nodejs_eventloop_lag_seconds/)
})

test('a hung dependency makes /readyz answer 503 within its time limit', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  registerOperationalRoutes(app, {
    registry: createMetricsRegistry('test'),
    checkTimeoutMs: 50,
    checks: [{ name: 'redis', check: () => new Promise(() => {}) }],
  })
  const response = await app.inject('/readyz')
  assert.equal(response.statusCode, 503)
  assert.deepEqual(response.json().checks.redis, { ok: false, error: 'no answer within 50 ms' })
})

test('the operational server listens on a real port', async (t) => {
  const lines: string[] = []
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk))
      done()
    },
  })
  const app = await startOperationalServer({
    host: '127.0.0.1',
    port: 0,
    logger: createLogger({ role: 'relay', format: 'json', stream: sink }),
    registry: createMetricsRegistry('relay'),
    checks: [],
  })
  t.after(() => app.close())
  const address = app.server.address()
  assert.ok(address !== null && typeof address === 'object')
  const response = await fetch(`http://127.0.0.1:${address.port}/healthz`)
  assert.equal(response.status, 200)
})

test('log lines are JSON and never carry keys or tokens', () => {
  const lines: string[] = []
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk))
      done()
    },
  })
  const logger = createLogger({ role: 'api', format: 'json', stream: sink })
  logger.info(
    {
      req: { headers: { authorization: 'Bearer sk_live_secret' } },
      apiKey: 'sk_live_secret',
      merchant: { token: 't0k' },
    },
    'request',
  )
  const record = JSON.parse(lines[0] ?? '{}')
  assert.equal(record.role, 'api')
  assert.equal(record.msg, 'request')
  assert.equal(record.req.headers.authorization, '[redacted]')
  assert.equal(record.apiKey, '[redacted]')
  assert.equal(record.merchant.token, '[redacted]')
  assert.doesNotMatch(lines[0] ?? '', /sk_live_secret|t0k/)
})
