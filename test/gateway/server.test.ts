import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type TestContext, test } from 'node:test'
import { freePort } from '../../support/processes.ts'
import {
  rawRequest,
  redisPrefix,
  sample,
  startTestGateway,
  startUpstream,
  wellFormedKey,
} from '../helpers/gateway.ts'
import { requireService } from '../helpers/services.ts'

const SECRET_KEY = wellFormedKey('live-secret-2')
const KEY_ONE = wellFormedKey('one')
const KEY_TWO = wellFormedKey('two')

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'

test('request id and traceparent: kept or created, forwarded, echoed', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { GATEWAY_UPSTREAM_API: upstream.url })

  const fresh = await fetch(`${gw.url}/api/payments/pay_1`)
  const created = upstream.seen[0]?.headers
  assert.match(String(created?.['x-request-id']), /^[0-9a-f-]{36}$/)
  assert.equal(fresh.headers.get('x-request-id'), created?.['x-request-id'])
  assert.match(String(created?.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)

  const continued = await fetch(`${gw.url}/api/payments/pay_2`, {
    headers: {
      'x-request-id': 'order-42',
      traceparent: `00-${TRACE}-00f067aa0ba902b7-01`,
      tracestate: 'shop=1',
    },
  })
  const seen = upstream.seen[1]?.headers
  assert.equal(continued.headers.get('x-request-id'), 'order-42')
  assert.equal(seen?.['x-request-id'], 'order-42')
  assert.match(String(seen?.traceparent), new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`))
  assert.notEqual(
    String(seen?.traceparent).split('-')[2],
    '00f067aa0ba902b7',
    'the gateway is the new parent',
  )
  assert.equal(seen?.tracestate, 'shop=1')

  await fetch(`${gw.url}/api/payments/pay_3`, {
    headers: { traceparent: 'not-a-trace', tracestate: 'shop=1' },
  })
  const replaced = upstream.seen[2]?.headers
  assert.match(String(replaced?.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
  assert.equal(replaced?.tracestate, undefined)
  assert.match(gw.logs(), new RegExp(`"traceId":"${TRACE}"`), 'the access log carries the trace id')
})

test('hop-by-hop headers are stripped both ways; end-to-end headers and the body pass unchanged', async (t) => {
  const upstream = await startUpstream(t, (_request, response) => {
    response.setHeader('proxy-authenticate', 'Basic')
    response.setHeader('x-end-to-end', 'from-upstream')
    response.setHeader('content-type', 'application/json')
    response.writeHead(201).end('{"ok":true}')
  })
  const gw = await startTestGateway(t, { GATEWAY_UPSTREAM_API: upstream.url })
  const response = await rawRequest(gw.url, {
    method: 'POST',
    path: '/api/payments/authorize?x=1',
    headers: {
      connection: 'keep-alive, x-hop',
      'x-hop': 'connection-only',
      'keep-alive': 'timeout=30',
      te: 'trailers',
      'proxy-authorization': 'Basic Zm9v',
      'x-end-to-end': 'from-client',
      'content-type': 'application/json',
    },
    body: '{"amount":1}',
  })
  assert.equal(response.status, 201)
  assert.equal(response.body, '{"ok":true}')
  assert.equal(response.headers['x-end-to-end'], 'from-upstream')
  assert.equal(response.headers['proxy-authenticate'], undefined)
  const seen = upstream.seen[0]
  assert.equal(seen?.url, '/api/payments/authorize?x=1', 'path and query forwarded unchanged')
  assert.equal(seen?.body, '{"amount":1}')
  assert.equal(seen?.headers['x-end-to-end'], 'from-client')
  for (const name of ['x-hop', 'te', 'proxy-authorization'])
    assert.equal(seen?.headers[name], undefined, name)
  assert.notEqual(seen?.headers['keep-alive'], 'timeout=30')
  assert.equal(seen?.headers['x-forwarded-for'], '127.0.0.1')
  assert.equal(seen?.headers['x-forwarded-proto'], 'http')
})

test('a body over the limit → 413 PAYLOAD_TOO_LARGE and nothing reaches the upstream', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    GATEWAY_UPSTREAM_API: upstream.url,
    GATEWAY_BODY_LIMIT_BYTES: '256',
  })
  const response = await fetch(`${gw.url}/api/payments/authorize`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ pad: 'x'.repeat(300) }),
  })
  assert.equal(response.status, 413)
  assert.equal(((await response.json()) as { code: string }).code, 'PAYLOAD_TOO_LARGE')
  assert.equal(upstream.seen.length, 0)
})

test('CORS: the dashboard origin is allowed (preflight and answer), another origin is not', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    GATEWAY_UPSTREAM_API: upstream.url,
    GATEWAY_CORS_ORIGINS: 'http://127.0.0.1:5173',
  })
  const preflight = await fetch(`${gw.url}/api/payments/authorize`, {
    method: 'OPTIONS',
    headers: {
      origin: 'http://127.0.0.1:5173',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type,idempotency-key',
    },
  })
  assert.equal(preflight.status, 204)
  assert.equal(preflight.headers.get('access-control-allow-origin'), 'http://127.0.0.1:5173')
  assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /idempotency-key/)
  const answer = await fetch(`${gw.url}/api/payments/pay_1`, { headers: { origin: 'http://127.0.0.1:5173' } })
  assert.equal(answer.headers.get('access-control-allow-origin'), 'http://127.0.0.1:5173')
  assert.match(answer.headers.get('access-control-expose-headers') ?? '', /retry-after/)
  const other = await fetch(`${gw.url}/api/payments/pay_1`, { headers: { origin: 'http://evil.example' } })
  assert.equal(other.headers.get('access-control-allow-origin'), null)
  assert.equal(upstream.seen.length, 2, 'the preflight is answered by the gateway')
})

test('secrets never reach the log; the access line has request id, route id and status', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { GATEWAY_UPSTREAM_API: upstream.url })
  const response = await fetch(`${gw.url}/api/payments/pay_1?token=query-secret-1`, {
    headers: {
      authorization: `Bearer ${SECRET_KEY}`,
      'x-admin-token': 'admin-secret-3',
      cookie: 'session=cookie-secret-4',
    },
  })
  assert.equal(response.status, 200)
  const logs = gw.logs()
  for (const secret of ['query-secret-1', SECRET_KEY, 'admin-secret-3', 'cookie-secret-4']) {
    assert.ok(!logs.includes(secret), `${secret} is not logged`)
  }
  const access = logs
    .split('\n')
    .filter((line) => line.includes('"msg":"access"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
  assert.equal(access.length, 1)
  assert.equal(access[0]?.requestId, response.headers.get('x-request-id'))
  assert.equal(access[0]?.route, 'payments.read')
  assert.equal(access[0]?.path, '/api/payments/pay_1')
  assert.equal(access[0]?.status, 200)
  assert.equal(access[0]?.upstream, upstream.url)
})

test('metrics label routes by id, never by raw path', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { GATEWAY_UPSTREAM_API: upstream.url })
  await fetch(`${gw.url}/api/payments/pay_unique_7`)
  await fetch(`${gw.url}/api/payments/capture/pay_unique_8`, { method: 'POST', body: '{}' })
  await fetch(`${gw.url}/api/admin/breakers`)
  await fetch(`${gw.url}/no/such/path_unique_9`)
  const metrics = await gw.metrics()
  assert.equal(
    sample(metrics, 'payrail_gateway_requests_total', {
      route: 'payments.read',
      method: 'GET',
      status: '200',
    }),
    1,
  )
  assert.equal(
    sample(metrics, 'payrail_gateway_requests_total', { route: 'payments.capture', method: 'POST' }),
    1,
  )
  assert.equal(sample(metrics, 'payrail_gateway_requests_total', { route: 'admin' }), 1)
  assert.equal(sample(metrics, 'payrail_gateway_requests_total', { route: 'unmatched', status: '404' }), 1)
  assert.ok(!metrics.includes('unique'), 'no raw path in any label')
  assert.equal(sample(metrics, 'payrail_gateway_pool_in_flight', { instance: upstream.url }), 0)
  assert.ok(sample(metrics, 'payrail_gateway_pool_connected', { instance: upstream.url }) >= 1)
})

test('unknown paths answer 404 problem+json; the dashboard is served at / when built', async (t) => {
  const upstream = await startUpstream(t)
  const none = await startTestGateway(t, { GATEWAY_UPSTREAM_API: upstream.url })
  const missing = await fetch(`${none.url}/`)
  assert.equal(missing.status, 404)
  assert.equal(((await missing.json()) as { code: string }).code, 'NOT_FOUND')

  const dir = mkdtempSync(join(tmpdir(), 'payrail-dashboard-'))
  writeFileSync(join(dir, 'index.html'), '<h1>payrail dashboard</h1>')
  const built = await startTestGateway(t, { GATEWAY_UPSTREAM_API: upstream.url, GATEWAY_DASHBOARD_DIR: dir })
  const page = await fetch(`${built.url}/`)
  assert.equal(page.status, 200)
  assert.equal(await page.text(), '<h1>payrail dashboard</h1>')
  // Same origin as the API: the page may run only its own scripts and connect only to this origin.
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'; .*connect-src 'self'; /)
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff')
  assert.equal((await fetch(`${built.url}/api/payments/pay_1`)).status, 200, 'the api routes still win')
  assert.equal(upstream.seen.length, 1)
})

async function exhaust(url: string, key: string, path = '/api/payments/authorize') {
  const statuses: number[] = []
  const answers: Response[] = []
  for (let i = 0; i < 3; i++) {
    const response = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: '{}',
    })
    statuses.push(response.status)
    answers.push(response)
  }
  return { statuses, last: answers[2] as Response, first: answers[0] as Response }
}

async function checkLimits(t: TestContext, env: Record<string, string>) {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    GATEWAY_UPSTREAM_API: upstream.url,
    GATEWAY_RATE_LIMIT_AUTHORIZE: '2/1m',
    GATEWAY_RATE_LIMIT_READ: 'off',
    ...env,
  })
  const { statuses, first, last } = await exhaust(gw.url, KEY_ONE)
  assert.deepEqual(statuses, [200, 200, 429])
  assert.equal(first.headers.get('ratelimit-policy'), '"authorize";q=2;w=60')
  assert.equal(first.headers.get('ratelimit'), '"authorize";r=1;t=30')
  assert.equal(last.headers.get('retry-after'), '30')
  assert.equal(last.headers.get('ratelimit'), '"authorize";r=0;t=30')
  const body = (await last.json()) as { code: string; status: number }
  assert.equal(body.code, 'RATE_LIMIT_EXCEEDED')
  assert.equal(upstream.seen.length, 2, 'the refused request never reached the upstream')
  assert.equal((await exhaust(gw.url, KEY_TWO)).statuses[0], 200, 'another key has its own bucket')
  assert.equal(
    (await exhaust(gw.url, KEY_ONE, '/api/payments/capture/pay_1')).statuses[0],
    200,
    'another operation too',
  )
  const read = await fetch(`${gw.url}/api/payments/pay_1`, {
    headers: { authorization: `Bearer ${KEY_ONE}` },
  })
  assert.equal(read.status, 200)
  assert.equal(read.headers.get('ratelimit'), null, 'a limit that is off sends no headers')
  assert.equal(
    sample(await gw.metrics(), 'payrail_gateway_rate_limited_total', { operation: 'authorize' }),
    2,
  )
}

test('rate limits in memory (no REDIS_URL): 429 with Retry-After and RateLimit headers, per key and operation', async (t) => {
  await checkLimits(t, {})
})

test('rate limits in Redis: the same answers, and two gateways share the buckets', async (t) => {
  const url = await requireService(t, 'redis')
  if (url === undefined) return
  const { prefix, redis: admin } = redisPrefix(t, url)
  await checkLimits(t, { REDIS_URL: url, GATEWAY_REDIS_PREFIX: prefix, GATEWAY_REDIS_TIMEOUT_MS: '1000' })
  assert.ok((await admin.keys(`${prefix}*`)).length >= 3, 'buckets live in Redis under the prefix')
  const upstream = await startUpstream(t)
  const other = await startTestGateway(t, {
    GATEWAY_UPSTREAM_API: upstream.url,
    GATEWAY_RATE_LIMIT_AUTHORIZE: '2/1m',
    REDIS_URL: url,
    GATEWAY_REDIS_PREFIX: prefix,
    GATEWAY_REDIS_TIMEOUT_MS: '1000',
  })
  assert.equal(
    (await exhaust(other.url, KEY_ONE)).statuses[0],
    429,
    'the second gateway sees the first one’s bucket',
  )
})

test('Redis down, failing open: requests pass and the failure is counted', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    GATEWAY_UPSTREAM_API: upstream.url,
    REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    GATEWAY_RATE_LIMIT_ON_REDIS_FAILURE: 'open',
    GATEWAY_REDIS_TIMEOUT_MS: '50',
  })
  const { statuses } = await exhaust(gw.url, KEY_ONE)
  assert.deepEqual(statuses, [200, 200, 200])
  const metrics = await gw.metrics()
  // Three bucket takes, and the first request's look at its address's failed authentications
  // (the key is trusted once the api accepted it).
  assert.equal(sample(metrics, 'payrail_gateway_rate_limiter_failures_total', { policy: 'open' }), 4)
  assert.equal((await fetch(`${gw.url}/readyz`)).status, 200, 'failing open, Redis is not needed to be ready')
})

test('Redis down, failing closed: 503 RATE_LIMITER_UNAVAILABLE with Retry-After, counted, and not ready', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    GATEWAY_UPSTREAM_API: upstream.url,
    REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    GATEWAY_RATE_LIMIT_ON_REDIS_FAILURE: 'closed',
    GATEWAY_REDIS_TIMEOUT_MS: '50',
  })
  const { statuses, last } = await exhaust(gw.url, KEY_ONE)
  assert.deepEqual(statuses, [503, 503, 503])
  assert.equal(last.headers.get('retry-after'), '1')
  assert.equal(((await last.json()) as { code: string }).code, 'RATE_LIMITER_UNAVAILABLE')
  assert.equal(upstream.seen.length, 0)
  assert.equal(
    sample(await gw.metrics(), 'payrail_gateway_rate_limiter_failures_total', { policy: 'closed' }),
    3,
  )
  assert.equal((await fetch(`${gw.url}/readyz`)).status, 503)
})
