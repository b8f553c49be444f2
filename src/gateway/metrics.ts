import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { RetryReason } from './retry.ts'
import type { UpstreamPool } from './upstream-pool.ts'

/** Timeouts by where they happened: opening a connection, waiting for the answer, waiting for a free connection. */
export type TimeoutKind = 'connect' | 'response' | 'acquire'

/**
 * The gateway's metrics. Every `route` label is a route id from routes.ts, never a raw path, so
 * the number of series stays fixed whatever the callers send.
 */
export function createGatewayMetrics(registry: Registry, pools: readonly UpstreamPool[]) {
  const requests = new Counter({
    name: 'payrail_gateway_requests_total',
    help: 'Requests answered by the gateway, by route id, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  })
  const duration = new Histogram({
    name: 'payrail_gateway_request_duration_seconds',
    help: 'Time from request to answer at the gateway, by route id',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20],
    registers: [registry],
  })
  const timeouts = new Counter({
    name: 'payrail_gateway_upstream_timeouts_total',
    help: 'Upstream timeouts by upstream and kind (connect, response, acquire)',
    labelNames: ['upstream', 'kind'] as const,
    registers: [registry],
  })
  const failures = new Counter({
    name: 'payrail_gateway_upstream_failures_total',
    help: 'Failed upstream attempts by upstream and kind (connect, connect-timeout, response-timeout, reset)',
    labelNames: ['upstream', 'kind'] as const,
    registers: [registry],
  })
  const retries = new Counter({
    name: 'payrail_gateway_retries_total',
    help: 'Retries sent, by reason (not-sent, idempotent, idempotency-key)',
    labelNames: ['reason'] as const,
    registers: [registry],
  })
  const retriesDenied = new Counter({
    name: 'payrail_gateway_retries_denied_total',
    help: 'Failed attempts not retried, by reason (unsafe, budget, attempts)',
    labelNames: ['reason'] as const,
    registers: [registry],
  })
  const limited = new Counter({
    name: 'payrail_gateway_rate_limited_total',
    help: 'Requests refused with 429, by operation',
    labelNames: ['operation'] as const,
    registers: [registry],
  })
  const limiterFailures = new Counter({
    name: 'payrail_gateway_rate_limiter_failures_total',
    help: 'Rate-limit store failures, by the policy applied (open: let through, closed: refused with 503)',
    labelNames: ['policy'] as const,
    registers: [registry],
  })
  for (const policy of ['open', 'closed']) limiterFailures.inc({ policy }, 0)

  // Pool gauges are read when Prometheus scrapes, so the request path pays nothing for them.
  const instances = pools.flatMap((pool) => pool.instances.map((instance) => ({ pool, instance })))
  new Gauge({
    name: 'payrail_gateway_pool_connected',
    help: 'Open connections per upstream instance',
    labelNames: ['upstream', 'instance'] as const,
    registers: [registry],
    collect() {
      for (const { pool, instance } of instances)
        this.set({ upstream: pool.name, instance: instance.origin }, instance.pool.stats.connected)
    },
  })
  new Gauge({
    name: 'payrail_gateway_pool_in_flight',
    help: 'Requests in flight per upstream instance',
    labelNames: ['upstream', 'instance'] as const,
    registers: [registry],
    collect() {
      for (const { pool, instance } of instances)
        this.set({ upstream: pool.name, instance: instance.origin }, instance.inFlight)
    },
  })
  new Gauge({
    name: 'payrail_gateway_pool_waiting',
    help: 'Requests waiting for a free upstream connection, per upstream',
    labelNames: ['upstream'] as const,
    registers: [registry],
    collect() {
      for (const pool of pools) this.set({ upstream: pool.name }, pool.waiting)
    },
  })
  new Gauge({
    name: 'payrail_gateway_upstream_available',
    help: 'Whether an upstream instance takes traffic (1) or is failing its checks or ejected (0)',
    labelNames: ['upstream', 'instance'] as const,
    registers: [registry],
    collect() {
      for (const { pool, instance } of instances)
        this.set({ upstream: pool.name, instance: instance.origin }, instance.available ? 1 : 0)
    },
  })
  // Told apart from "failing its checks" for the dashboard's gateway page: an ejection is the
  // gateway's own verdict on failed requests, a failed check the instance's /readyz.
  new Gauge({
    name: 'payrail_gateway_upstream_ejected',
    help: 'Whether an upstream instance is ejected after failed requests (1) or not (0)',
    labelNames: ['upstream', 'instance'] as const,
    registers: [registry],
    collect() {
      for (const { pool, instance } of instances)
        this.set({ upstream: pool.name, instance: instance.origin }, instance.ejected ? 1 : 0)
    },
  })
  new Gauge({
    name: 'payrail_gateway_upstream_panic',
    help: 'Whether requests go to every instance of an upstream, available or not (1), because too few are available',
    labelNames: ['upstream'] as const,
    registers: [registry],
    collect() {
      for (const pool of pools) this.set({ upstream: pool.name }, pool.panicking ? 1 : 0)
    },
  })

  // Label sets are few (route ids × methods × statuses): their children are looked up once and
  // kept, sparing prom-client's label hashing on every request.
  const requestChildren = new Map<string, { inc: () => void }>()
  const durationChildren = new Map<string, { observe: (value: number) => void }>()

  return {
    request(route: string, method: string, status: number, seconds: number): void {
      const key = `${route} ${method} ${status}`
      let counter = requestChildren.get(key)
      if (counter === undefined) {
        counter = requests.labels({ route, method, status: String(status) })
        requestChildren.set(key, counter)
      }
      counter.inc()
      let histogram = durationChildren.get(route)
      if (histogram === undefined) {
        histogram = duration.labels({ route })
        durationChildren.set(route, histogram)
      }
      histogram.observe(seconds)
    },
    timeout(upstream: string, kind: TimeoutKind): void {
      timeouts.inc({ upstream, kind })
    },
    failure(upstream: string, kind: string): void {
      failures.inc({ upstream, kind })
    },
    retry(reason: RetryReason): void {
      retries.inc({ reason })
    },
    retryDenied(reason: 'unsafe' | 'budget' | 'attempts'): void {
      retriesDenied.inc({ reason })
    },
    limited(operation: string): void {
      limited.inc({ operation })
    },
    limiterFailure(policy: 'open' | 'closed'): void {
      limiterFailures.inc({ policy })
    },
  }
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>
