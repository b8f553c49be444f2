import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import { freePort } from '../../support/processes.ts'
import {
  sample,
  startBlackhole,
  startTestGateway,
  startUpstream,
  type UpstreamHandler,
} from '../helpers/gateway.ts'
import { until } from '../helpers/until.ts'

interface Problem {
  code: string
  status: number
  type: string
  detail: string
}

async function problem(response: Response): Promise<Problem> {
  assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/)
  return (await response.json()) as Problem
}

/** Never answers: the request was received, the response never comes. */
const silent: UpstreamHandler = () => {}

/** Resets the connection after reading the request, as a crashing process would. */
const resets: UpstreamHandler = (_request, response) => {
  response.socket?.resetAndDestroy()
}

/** Answers after `ms`, so that requests stay in flight meanwhile. */
function slow(ms: number): UpstreamHandler {
  return (_request, response) => {
    setTimeout(
      () => response.writeHead(200, { 'content-type': 'application/json' }).end('{"slow":true}'),
      ms,
    ).unref()
  }
}

/** Holds every answer until the test releases them, so that "in flight" lasts as long as a test needs. */
function held(): { handler: UpstreamHandler; release: () => void } {
  const waiting: import('node:http').ServerResponse[] = []
  let released = false
  return {
    handler: (_request, response) => {
      if (released) response.writeHead(200, { 'content-type': 'application/json' }).end('{"held":false}')
      else waiting.push(response)
    },
    release: () => {
      released = true
      for (const response of waiting.splice(0))
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"held":true}')
    },
  }
}

const post = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
})

async function gateway(t: TestContext, upstreams: string[], env: Record<string, string> = {}) {
  return startTestGateway(t, { GATEWAY_UPSTREAM_API: upstreams.join(','), ...env })
}

test('a slow upstream: sent but no answer headers in time → 504 UPSTREAM_TIMEOUT, and a POST without key is not repeated', async (t) => {
  const upstream = await startUpstream(t, silent)
  const gw = await gateway(t, [upstream.url], { GATEWAY_RESPONSE_TIMEOUT_MS: '100' })
  const response = await fetch(`${gw.url}/api/payments/authorize`, post({ amount: 1 }))
  assert.equal(response.status, 504)
  const body = await problem(response)
  assert.equal(body.code, 'UPSTREAM_TIMEOUT')
  assert.equal(body.type, 'urn:payrail:error:UPSTREAM_TIMEOUT')
  assert.equal(
    response.headers.get('retry-after'),
    null,
    'a 504 may have been processed: no invitation to resend',
  )
  assert.equal(upstream.seen.length, 1)
  const metrics = await gw.metrics()
  assert.equal(sample(metrics, 'payrail_gateway_upstream_timeouts_total', { kind: 'response' }), 1)
  assert.equal(sample(metrics, 'payrail_gateway_retries_denied_total', { reason: 'unsafe' }), 1)
})

test('per-route timeout overrides: a read may take longer than the default, authorize may not', async (t) => {
  const upstream = await startUpstream(t, slow(250))
  const gw = await gateway(t, [upstream.url], {
    GATEWAY_RESPONSE_TIMEOUT_MS: '100',
    GATEWAY_ROUTE_TIMEOUTS: 'payments.read=3000',
  })
  assert.equal((await fetch(`${gw.url}/api/payments/pay_1`)).status, 200)
  assert.equal((await fetch(`${gw.url}/api/payments/authorize`, post({ amount: 1 }))).status, 504)
})

test('an upstream that never accepts: connect timeout → 503 UPSTREAM_UNAVAILABLE with Retry-After; with another instance, retried there', async (t) => {
  const blackhole = await startBlackhole(t)
  const alone = await gateway(t, [blackhole], { GATEWAY_CONNECT_TIMEOUT_MS: '50' })
  const refused = await fetch(`${alone.url}/api/payments/authorize`, post({ amount: 1 }))
  assert.equal(refused.status, 503)
  assert.equal(refused.headers.get('retry-after'), '1')
  assert.equal((await problem(refused)).code, 'UPSTREAM_UNAVAILABLE')
  assert.ok(
    sample(await alone.metrics(), 'payrail_gateway_upstream_timeouts_total', { kind: 'connect' }) >= 1,
  )

  const good = await startUpstream(t)
  // The blackhole is listed first and round-robin starts there: the first attempt meets it.
  const both = await gateway(t, [blackhole, good.url], { GATEWAY_CONNECT_TIMEOUT_MS: '50' })
  const moved = await fetch(`${both.url}/api/payments/authorize`, post({ amount: 1 }))
  assert.equal(moved.status, 200, 'a POST never sent is retried even without a key')
  assert.equal(good.seen.length, 1)
  const metrics = await both.metrics()
  assert.equal(sample(metrics, 'payrail_gateway_retries_total', { reason: 'not-sent' }), 1)
  assert.equal(sample(metrics, 'payrail_gateway_upstream_timeouts_total', { kind: 'connect' }), 1)
})

test('a refused connection is "never sent": 503 UPSTREAM_UNAVAILABLE', async (t) => {
  const gw = await gateway(t, [`http://127.0.0.1:${await freePort()}`])
  const response = await fetch(`${gw.url}/api/payments/pay_1`)
  assert.equal(response.status, 503)
  assert.ok(response.headers.get('retry-after'))
  const code = (await problem(response)).code
  // Three refusals eject the only instance before the last retry; either way it was never sent.
  assert.ok(code === 'UPSTREAM_UNAVAILABLE' || code === 'NO_HEALTHY_UPSTREAM', code)
})

test('pool of 2, three slow requests, short acquire timeout: the third gets 503 UPSTREAM_ACQUIRE_TIMEOUT, the others succeed', async (t) => {
  const hold = held()
  const upstream = await startUpstream(t, hold.handler)
  const gw = await gateway(t, [upstream.url], {
    GATEWAY_POOL_MAX_CONNECTIONS: '2',
    GATEWAY_POOL_ACQUIRE_TIMEOUT_MS: '100',
    GATEWAY_RESPONSE_TIMEOUT_MS: '30000',
  })
  const first = fetch(`${gw.url}/api/payments/pay_1`)
  const second = fetch(`${gw.url}/api/payments/pay_2`)
  await until('the upstream to receive 2', () => !(upstream.seen.length < 2), { intervalMs: 5 })
  const third = await fetch(`${gw.url}/api/payments/pay_3`)
  assert.equal(third.status, 503)
  assert.equal(third.headers.get('retry-after'), '1')
  assert.equal((await problem(third)).code, 'UPSTREAM_ACQUIRE_TIMEOUT')
  hold.release()
  assert.equal((await first).status, 200)
  assert.equal((await second).status, 200)
  assert.equal(upstream.seen.length, 2, 'the third never reached the upstream')
  assert.equal(sample(await gw.metrics(), 'payrail_gateway_upstream_timeouts_total', { kind: 'acquire' }), 1)
})

test('beyond the bounded number of waiters a request is refused at once with 503 UPSTREAM_QUEUE_FULL', async (t) => {
  const hold = held()
  const upstream = await startUpstream(t, hold.handler)
  const gw = await gateway(t, [upstream.url], {
    GATEWAY_POOL_MAX_CONNECTIONS: '1',
    GATEWAY_POOL_MAX_WAITERS: '1',
    GATEWAY_POOL_ACQUIRE_TIMEOUT_MS: '30000',
    GATEWAY_RESPONSE_TIMEOUT_MS: '30000',
  })
  const inFlight = fetch(`${gw.url}/api/payments/pay_1`)
  await until('the upstream to receive 1', () => !(upstream.seen.length < 1), { intervalMs: 5 })
  const waiting = fetch(`${gw.url}/api/payments/pay_2`)
  await until(
    'a request to wait for a connection',
    async () => sample(await gw.metrics(), 'payrail_gateway_pool_waiting', { upstream: 'api' }) >= 1,
    { intervalMs: 5 },
  )
  const overflow = await fetch(`${gw.url}/api/payments/pay_3`)
  assert.equal(overflow.status, 503)
  assert.ok(overflow.headers.get('retry-after'))
  assert.equal((await problem(overflow)).code, 'UPSTREAM_QUEUE_FULL')
  hold.release()
  assert.equal((await inFlight).status, 200)
  assert.equal((await waiting).status, 200, 'the waiter got the connection once it was free')
  assert.equal(upstream.seen.length, 2)
})

test('connection reset after sending → 502; a POST without an idempotency key is never retried', async (t) => {
  const broken = await startUpstream(t, resets)
  const good = await startUpstream(t)
  const gw = await gateway(t, [broken.url, good.url])
  const response = await fetch(`${gw.url}/api/payments/capture/pay_1`, post({ amount: 1 }))
  assert.equal(response.status, 502)
  assert.equal((await problem(response)).code, 'UPSTREAM_CONNECTION_RESET')
  assert.equal(broken.seen.length, 1)
  assert.equal(good.seen.length, 0, 'not repeated on the healthy instance either')
})

test('a POST with an idempotency key (header or body) is retried on another instance after a reset', async (t) => {
  const broken = await startUpstream(t, resets)
  const good = await startUpstream(t)
  const gw = await gateway(t, [broken.url, good.url])
  const withHeader = await fetch(
    `${gw.url}/api/payments/capture/pay_1`,
    post({ amount: 1 }, { 'idempotency-key': 'k-1' }),
  )
  assert.equal(withHeader.status, 200)
  const withBody = await fetch(`${gw.url}/api/payments/authorize`, post({ amount: 1, idempotencyKey: 'k-2' }))
  assert.equal(withBody.status, 200)
  assert.equal(broken.seen.length, 2, 'each went to the broken instance first (round-robin)')
  assert.equal(good.seen.length, 2)
  assert.equal(
    good.seen[1]?.body,
    JSON.stringify({ amount: 1, idempotencyKey: 'k-2' }),
    'the same body, byte for byte',
  )
  assert.equal(sample(await gw.metrics(), 'payrail_gateway_retries_total', { reason: 'idempotency-key' }), 2)
})

test('once an attempt may have been processed, the client hears 502, not a later "never sent" 503', async (t) => {
  const broken = await startUpstream(t, resets)
  const refusing = `http://127.0.0.1:${await freePort()}`
  const gw = await gateway(t, [broken.url, refusing])
  const response = await fetch(`${gw.url}/api/payments/pay_1`)
  assert.equal(response.status, 502)
  assert.equal((await problem(response)).code, 'UPSTREAM_CONNECTION_RESET')
})

test('two instances, one killed: idempotent traffic moves to the other with no client-visible error', async (t) => {
  let holdFirst = true
  const a = await startUpstream(t, (request, response) => {
    // The first request is caught in flight on the instance that dies.
    if (holdFirst) {
      holdFirst = false
      return
    }
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ from: 'a', url: request.url }))
  })
  const b = await startUpstream(t, (request, response) => {
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ from: 'b', url: request.url }))
  })
  const gw = await gateway(t, [a.url, b.url], {
    GATEWAY_EJECT_AFTER_FAILURES: '2',
    GATEWAY_RESPONSE_TIMEOUT_MS: '5000',
  })
  const caught = fetch(`${gw.url}/api/payments/pay_0`)
  await until('the upstream to receive 1', () => !(a.seen.length < 1), { intervalMs: 5 })
  await a.kill()
  const answers = [await caught]
  for (let i = 1; i <= 20; i++) answers.push(await fetch(`${gw.url}/api/payments/pay_${i}`))
  assert.deepEqual(
    answers.map((answer) => answer.status),
    answers.map(() => 200),
  )
  const bodies = (await Promise.all(answers.map((answer) => answer.json()))) as { from: string }[]
  assert.ok(bodies.every((body) => body.from === 'b'))
  const metrics = await gw.metrics()
  assert.equal(
    sample(metrics, 'payrail_gateway_upstream_available', { instance: a.url }),
    0,
    'the dead instance is ejected',
  )
  assert.equal(sample(metrics, 'payrail_gateway_upstream_available', { instance: b.url }), 1)
  assert.ok(sample(metrics, 'payrail_gateway_retries_total', { reason: 'idempotent' }) >= 1)
})

test('panic mode off, no healthy instance → 503 NO_HEALTHY_UPSTREAM with Retry-After; the gateway is not ready; it recovers with the instance', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await gateway(t, [upstream.url], {
    GATEWAY_HEALTH_INTERVAL_MS: '20',
    GATEWAY_PANIC_THRESHOLD_PERCENT: '0',
  })
  assert.equal((await fetch(`${gw.url}/readyz`)).status, 200)
  upstream.readyStatus = 503
  await until('the gateway to report not ready', async () => (await fetch(`${gw.url}/readyz`)).status === 503)
  const response = await fetch(`${gw.url}/api/payments/pay_1`)
  assert.equal(response.status, 503)
  assert.ok(Number(response.headers.get('retry-after')) >= 1)
  assert.equal((await problem(response)).code, 'NO_HEALTHY_UPSTREAM')
  assert.equal(upstream.seen.length, 0)
  upstream.readyStatus = 200
  await until(
    'the gateway to report ready again',
    async () => (await fetch(`${gw.url}/readyz`)).status === 200,
  )
  assert.equal((await fetch(`${gw.url}/api/payments/pay_1`)).status, 200)
})

test('with every instance failing its health check, panic mode sends requests to them anyway', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await gateway(t, [upstream.url], { GATEWAY_HEALTH_INTERVAL_MS: '20' })
  upstream.readyStatus = 503
  await until('the gateway to report not ready', async () => (await fetch(`${gw.url}/readyz`)).status === 503)
  const response = await fetch(`${gw.url}/api/payments/pay_1`)
  assert.equal(response.status, 200)
  assert.equal(upstream.seen.length, 1)
  const metrics = await (await fetch(`${gw.url}/metrics`)).text()
  assert.equal(sample(metrics, 'payrail_gateway_upstream_panic', { upstream: 'api' }), 1)
  assert.equal(sample(metrics, 'payrail_gateway_upstream_available', { instance: upstream.url }), 0)
})

test('an upstream answer, 5xx included, is passed through as it is and not retried', async (t) => {
  const upstream = await startUpstream(t, (_request, response) => {
    response.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '7' })
    response.end('{"code":"ACQUIRER_UNAVAILABLE"}')
  })
  const gw = await gateway(t, [upstream.url])
  const response = await fetch(`${gw.url}/api/payments/pay_1`)
  assert.equal(response.status, 503)
  assert.equal(response.headers.get('retry-after'), '7')
  assert.equal(await response.text(), '{"code":"ACQUIRER_UNAVAILABLE"}')
  assert.equal(upstream.seen.length, 1)
})

test('the retry budget caps retries: with no budget an idempotent request is not repeated', async (t) => {
  const broken = await startUpstream(t, resets)
  const gw = await gateway(t, [broken.url], {
    GATEWAY_RETRY_BUDGET_RATIO: '0',
    GATEWAY_RETRY_BUDGET_MIN: '0',
  })
  assert.equal((await fetch(`${gw.url}/api/payments/pay_1`)).status, 502)
  assert.equal(broken.seen.length, 1)
  assert.equal(sample(await gw.metrics(), 'payrail_gateway_retries_denied_total', { reason: 'budget' }), 1)
})

test('retries stop at the attempt limit', async (t) => {
  const broken = await startUpstream(t, resets)
  const gw = await gateway(t, [broken.url], {
    GATEWAY_RETRY_MAX_ATTEMPTS: '3',
    GATEWAY_EJECT_AFTER_FAILURES: '10',
  })
  assert.equal((await fetch(`${gw.url}/api/payments/pay_1`)).status, 502)
  assert.equal(broken.seen.length, 3)
  assert.equal(sample(await gw.metrics(), 'payrail_gateway_retries_denied_total', { reason: 'attempts' }), 1)
})

test('balancing by fewest in flight: while one instance is busy, the idle one gets the requests', async (t) => {
  const hold = held()
  const busy = await startUpstream(t, hold.handler)
  const idle = await startUpstream(t)
  const gw = await gateway(t, [busy.url, idle.url], { GATEWAY_RESPONSE_TIMEOUT_MS: '30000' })
  // Round-robin would alternate; fewest in flight sends everything to the idle instance while the
  // busy one holds its first request.
  const first = fetch(`${gw.url}/api/payments/pay_0`)
  await until('the upstream to receive 1', () => !(busy.seen.length < 1), { intervalMs: 5 })
  for (let i = 1; i <= 6; i++) assert.equal((await fetch(`${gw.url}/api/payments/pay_${i}`)).status, 200)
  assert.equal(busy.seen.length, 1)
  assert.equal(idle.seen.length, 6)
  hold.release()
  assert.equal((await first).status, 200)
})

test('connections are kept alive and pooled, and renewed after GATEWAY_UPSTREAM_TTL_MS so DNS is resolved again', async (t) => {
  const ports: number[] = []
  const upstream = await startUpstream(t, (_request, response) => {
    ports.push(response.socket?.remotePort ?? 0)
    response.writeHead(200).end('{}')
  })
  const kept = await gateway(t, [upstream.url])
  await fetch(`${kept.url}/api/payments/pay_1`)
  await fetch(`${kept.url}/api/payments/pay_2`)
  assert.equal(ports[0], ports[1], 'the second request reuses the first connection')

  const renewed = await gateway(t, [upstream.url], { GATEWAY_UPSTREAM_TTL_MS: '30' })
  await fetch(`${renewed.url}/api/payments/pay_3`)
  const first = ports[2]
  // Each request below goes out after at least one more TTL has had its chance to renew the pool.
  await until(
    'a request on a new connection after the TTL',
    async () => {
      await fetch(`${renewed.url}/api/payments/pay_4`)
      return ports.at(-1) !== first
    },
    { timeoutMs: 5000, intervalMs: 30 },
  )
  assert.ok(ports.length >= 4)
})
