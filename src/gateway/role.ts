import type { Config } from '../config/load.ts'
import type { Logger } from '../observability/logger.ts'
import { createMetricsRegistry } from '../observability/metrics.ts'
import type { RunningRole } from '../runtime/role.ts'
import { Forwarder } from './forwarder.ts'
import { HealthChecker } from './health.ts'
import { createGatewayMetrics } from './metrics.ts'
import { RateLimiter } from './rate-limit/limiter.ts'
import { MemoryBucketStore } from './rate-limit/memory.ts'
import { RedisBucketStore } from './rate-limit/redis.ts'
import type { BucketStore } from './rate-limit/store.ts'
import { RetryPolicy } from './retry.ts'
import { checkRouteTimeouts } from './routes.ts'
import { buildGatewayServer } from './server.ts'
import { UpstreamPool } from './upstream-pool.ts'

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
}

/**
 * `payrail gateway`: the public entry on GATEWAY_PORT. Every option comes from the validated
 * configuration; each component checks its own options again when built, so a bad value stops
 * start-up before the port opens.
 */
export async function startGatewayRole(config: Config, logger: Logger): Promise<RunningRole> {
  // What can be checked without opening anything is checked first.
  const routeTimeouts = checkRouteTimeouts(config.GATEWAY_ROUTE_TIMEOUTS)
  const retry = new RetryPolicy({
    maxAttempts: config.GATEWAY_RETRY_MAX_ATTEMPTS,
    budgetRatio: config.GATEWAY_RETRY_BUDGET_RATIO,
    budgetMin: config.GATEWAY_RETRY_BUDGET_MIN,
    backoffMs: config.GATEWAY_RETRY_BACKOFF_MS,
  })
  const registry = createMetricsRegistry('gateway')
  const pool = new UpstreamPool({
    name: 'api',
    urls: splitList(config.GATEWAY_UPSTREAM_API),
    instance: {
      maxConnections: config.GATEWAY_POOL_MAX_CONNECTIONS,
      connectTimeoutMs: config.GATEWAY_CONNECT_TIMEOUT_MS,
      connectionTtlMs: config.GATEWAY_UPSTREAM_TTL_MS,
      ejectAfterFailures: config.GATEWAY_EJECT_AFTER_FAILURES,
      ejectMs: config.GATEWAY_EJECT_MS,
    },
    acquire: {
      timeoutMs: config.GATEWAY_POOL_ACQUIRE_TIMEOUT_MS,
      maxWaiters: config.GATEWAY_POOL_MAX_WAITERS,
    },
    maxEjectedPercent: config.GATEWAY_MAX_EJECTED_PERCENT,
    panicThresholdPercent: config.GATEWAY_PANIC_THRESHOLD_PERCENT,
  })
  pool.onHealthChange = (upstream, healthy, reason) =>
    logger.warn(
      { upstream: pool.name, instance: upstream.origin, healthy, reason },
      'upstream instance health changed',
    )
  const health = new HealthChecker([pool], {
    intervalMs: config.GATEWAY_HEALTH_INTERVAL_MS,
    timeoutMs: config.GATEWAY_HEALTH_TIMEOUT_MS,
  })
  const metrics = createGatewayMetrics(registry, [pool])

  let lastRedisWarning = 0
  const redis =
    config.REDIS_URL === undefined
      ? undefined
      : new RedisBucketStore({
          url: config.REDIS_URL,
          timeoutMs: config.GATEWAY_REDIS_TIMEOUT_MS,
          prefix: config.GATEWAY_REDIS_PREFIX,
          onError: (error) => {
            // Reconnects fail every few hundred milliseconds while Redis is down: one line per 10 s is enough.
            if (Date.now() - lastRedisWarning < 10_000) return
            lastRedisWarning = Date.now()
            logger.warn(
              { err: error, policy: config.GATEWAY_RATE_LIMIT_ON_REDIS_FAILURE },
              'redis for rate limits is unreachable',
            )
          },
        })
  if (redis !== undefined && !(await redis.connected(2000))) {
    logger.warn(
      { policy: config.GATEWAY_RATE_LIMIT_ON_REDIS_FAILURE },
      'starting without redis for rate limits',
    )
  }
  const store: BucketStore = redis ?? new MemoryBucketStore()
  const limiter = new RateLimiter({
    store,
    limits: {
      authorize: config.GATEWAY_RATE_LIMIT_AUTHORIZE,
      capture: config.GATEWAY_RATE_LIMIT_CAPTURE,
      refund: config.GATEWAY_RATE_LIMIT_REFUND,
      read: config.GATEWAY_RATE_LIMIT_READ,
      admin: config.GATEWAY_RATE_LIMIT_ADMIN,
    },
    authFailures: config.GATEWAY_RATE_LIMIT_AUTH_FAILURES,
    onStoreFailure: config.GATEWAY_RATE_LIMIT_ON_REDIS_FAILURE,
    onLimited: (operation) => metrics.limited(operation),
    onStoreError: (policy) => metrics.limiterFailure(policy),
  })
  const forwarder = new Forwarder({
    pool,
    metrics,
    retry,
    responseTimeoutMs: config.GATEWAY_RESPONSE_TIMEOUT_MS,
    routeTimeouts,
  })

  // Closes what was opened, in reverse order; start-up failures release it all the same.
  const close = async () => {
    await health.close()
    await pool.close()
    await limiter.close()
  }
  let app: Awaited<ReturnType<typeof buildGatewayServer>>
  try {
    app = await buildGatewayServer({
      logger,
      registry,
      metrics,
      forwarder,
      limiter,
      readiness: [
        {
          name: 'upstream:api',
          check: async () => {
            if (!health.ready()) throw new Error('no api instance is available')
          },
        },
        // Failing open, the gateway serves without Redis, so Redis is not a condition of readiness.
        ...(config.REDIS_URL !== undefined && config.GATEWAY_RATE_LIMIT_ON_REDIS_FAILURE === 'closed'
          ? [{ name: 'redis', check: () => store.ping() }]
          : []),
      ],
      bodyLimitBytes: config.GATEWAY_BODY_LIMIT_BYTES,
      corsOrigins: splitList(config.GATEWAY_CORS_ORIGINS),
      adminAllow: config.GATEWAY_ADMIN_ALLOW,
      dashboardDir: config.GATEWAY_DASHBOARD_DIR,
      headersTimeoutMs: config.GATEWAY_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: config.GATEWAY_REQUEST_TIMEOUT_MS,
      idleTimeoutMs: config.GATEWAY_IDLE_TIMEOUT_MS,
      maxConnections: config.GATEWAY_MAX_CONNECTIONS,
    })
    await app.listen({ host: config.HOST, port: config.GATEWAY_PORT })
  } catch (error) {
    await close()
    throw error
  }
  health.start()
  return {
    url: `http://${config.HOST}:${config.GATEWAY_PORT}`,
    close: async () => {
      // Stop taking requests and finish those in flight, then let go of upstreams and Redis.
      await app.close()
      await close()
    },
  }
}
