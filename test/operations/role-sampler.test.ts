import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { parseSamples, quantileOf } from '../../src/observability/exposition.ts'
import { overview, routeRates } from '../../src/operations/overview.ts'
import { RoleSampler } from '../../src/operations/role-sampler.ts'
import { SharedCache } from '../../src/operations/shared-cache.ts'
import { freePort } from '../../src/runtime/ports.ts'

const PAGE = `# HELP payrail_gateway_requests_total x
# TYPE payrail_gateway_requests_total counter
payrail_gateway_requests_total{route="payments.authorize",method="POST",status="201"} 90
payrail_gateway_requests_total{route="payments.authorize",method="POST",status="503"} 10
payrail_build_info{version="1.2.3",node="v24.0.0"} 1
payrail_gateway_request_duration_seconds_bucket{route="payments.authorize",le="0.1"} 50
payrail_gateway_request_duration_seconds_bucket{route="payments.authorize",le="1"} 100
payrail_gateway_request_duration_seconds_bucket{route="payments.authorize",le="+Inf"} 100
label_escapes{path="a\\"b\\\\c"} 2
`

test('a Prometheus page reads into samples with their labels, histogram series included', () => {
  const samples = parseSamples(PAGE)
  assert.equal(samples.length, 7)
  assert.deepEqual(samples[0], {
    name: 'payrail_gateway_requests_total',
    labels: { route: 'payments.authorize', method: 'POST', status: '201' },
    value: 90,
  })
  assert.deepEqual(samples.at(-1)?.labels, { path: 'a"b\\c' })
  // p99 of 100 observations, 50 under 0.1 s and 50 between 0.1 and 1 s: inside the second bucket.
  const buckets = new Map([
    [0.1, 50],
    [1, 100],
    [Number.POSITIVE_INFINITY, 100],
  ])
  assert.ok(Math.abs((quantileOf(buckets, 0.99) as number) - 0.982) < 1e-9)
  assert.equal(quantileOf(new Map([[Number.POSITIVE_INFINITY, 0]]), 0.99), undefined)
})

test('route rates come from the increase between two scrapes; a reset counter counts from zero', () => {
  const role = (page: string) => [
    { role: 'gateway', url: 'x', up: true, ready: true, error: null, samples: parseSamples(page) },
  ]
  const later = PAGE.replace('} 90', '} 190')
    .replace('} 10\n', '} 10\n')
    .replace('le="1"} 100', 'le="1"} 200')
    .replace('le="+Inf"} 100', 'le="+Inf"} 200')
  const [rate] = routeRates(role(later), role(PAGE), 2)
  assert.deepEqual(
    { ...rate, p99Seconds: undefined },
    {
      route: 'payments.authorize',
      requestsPerSecond: 50,
      errorRate: 0,
      p99Seconds: undefined,
    },
  )
  // The gateway restarted: its counters start again below what the earlier scrape saw.
  const [reset] = routeRates(role(PAGE.replace('} 90', '} 4').replace('} 10\n', '} 1\n')), role(PAGE), 1)
  assert.equal(reset?.requestsPerSecond, 5)
  assert.equal(reset?.errorRate, 0.2)
})

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

test('the sampler scrapes at most once per interval, shares a scrape in flight, and shows a hung or absent role as down within its deadline', {
  timeout: 10_000,
}, async (t) => {
  let scrapes = 0
  const healthy = createServer((request, response) => {
    if (request.url === '/metrics') scrapes += 1
    response.end(request.url === '/metrics' ? PAGE : 'ok')
  })
  // Accepts, never answers.
  const hung = createServer(() => {})
  const healthyUrl = await listen(healthy)
  const hungUrl = await listen(hung)
  t.after(() => {
    healthy.closeAllConnections()
    hung.closeAllConnections()
    healthy.close()
    hung.close()
  })
  let now = 1_000_000
  const sampler = new RoleSampler({
    targets: [
      { role: 'gateway', url: healthyUrl },
      { role: 'relay', url: hungUrl },
      { role: 'worker', url: `http://127.0.0.1:${await freePort()}` }, // a spare port: nothing listens
    ],
    timeoutMs: 300,
    minIntervalMs: 1000,
    now: () => now,
  })
  const started = Date.now()
  const [first, shared] = await Promise.all([sampler.latest(), sampler.latest()])
  assert.ok(Date.now() - started < 2000, 'the hung role costs its deadline, not more')
  assert.equal(scrapes, 1, 'concurrent callers share one scrape')
  assert.equal(first.current, shared.current)
  assert.equal(first.previous, undefined)
  const [gateway, relay, worker] = first.current.roles
  assert.deepEqual([gateway?.up, gateway?.ready, gateway?.error], [true, true, null])
  assert.deepEqual([relay?.up, relay?.samples], [false, undefined])
  assert.match(relay?.error ?? '', /no answer within 300 ms/)
  assert.match(worker?.error ?? '', /refused|ECONNREFUSED/)

  now += 500
  assert.equal((await sampler.latest()).current, first.current, 'within the interval: the last scrape')
  assert.equal(scrapes, 1)
  now += 600
  const second = await sampler.latest()
  assert.equal(scrapes, 2)
  assert.equal(second.previous, first.current)
  assert.equal(second.current.at - first.current.at, 1100)
})

test('a shared cache computes once per ttl, shares the computation in flight and keeps no failure', async () => {
  let now = 0
  let calls = 0
  let fail = false
  const cache = new SharedCache(
    async () => {
      calls += 1
      if (fail) throw new Error('down')
      return calls
    },
    1000,
    () => now,
  )
  assert.deepEqual(await Promise.all([cache.get(), cache.get()]), [1, 1])
  now = 999
  assert.equal(await cache.get(), 1)
  now = 1000
  fail = true
  await assert.rejects(cache.get(), /down/)
  fail = false
  assert.equal(await cache.get(), 3)
})

test('the overview lists Prometheus alerts, says so when Prometheus does not answer in time, and has no section without PROMETHEUS_URL', {
  timeout: 10_000,
}, async (t) => {
  const prometheus = createServer((request, response) => {
    if (request.url !== '/api/v1/alerts') {
      response.statusCode = 404
      response.end()
      return
    }
    response.setHeader('content-type', 'application/json')
    response.end(
      JSON.stringify({
        status: 'success',
        data: {
          alerts: [
            {
              labels: { alertname: 'PayrailOutboxBacklog', severity: 'page' },
              annotations: { summary: 'the outbox is not draining' },
              state: 'firing',
              activeAt: '2026-12-07T22:00:00Z',
            },
          ],
        },
      }),
    )
  })
  const hung = createServer(() => {})
  const prometheusUrl = await listen(prometheus)
  const hungUrl = await listen(hung)
  t.after(() => {
    prometheus.closeAllConnections()
    hung.closeAllConnections()
    prometheus.close()
    hung.close()
  })
  const sampler = new RoleSampler({ targets: [], timeoutMs: 300 })
  const firing = await overview({ sampler, prometheusUrl, timeoutMs: 300 })
  assert.deepEqual(firing.alerts, {
    items: [
      {
        name: 'PayrailOutboxBacklog',
        state: 'firing',
        severity: 'page',
        summary: 'the outbox is not draining',
        activeAt: '2026-12-07T22:00:00Z',
      },
    ],
    error: null,
  })
  const silent = await overview({ sampler, prometheusUrl: hungUrl, timeoutMs: 300 })
  assert.deepEqual(silent.alerts, { items: [], error: 'Prometheus did not answer within 300 ms' })
  assert.equal((await overview({ sampler, prometheusUrl: undefined })).alerts, null)
})
