import { z } from 'zod'

/** A closed range such as `50-150`, used for simulated latencies. */
export interface Range {
  min: number
  max: number
}

const integer = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: `must be a whole number from ${min} to ${max}` })
    .int(`must be a whole number from ${min} to ${max}`)
    .min(min, `must be a whole number from ${min} to ${max}`)
    .max(max, `must be a whole number from ${min} to ${max}`)

const port = integer(1, 65_535)
const positiveInt = integer(1)
const nonNegativeInt = integer(0)
const rate = z.coerce
  .number({ error: 'must be a fraction from 0 to 1, such as 0.005' })
  .min(0, 'must be a fraction from 0 to 1, such as 0.005')
  .max(1, 'must be a fraction from 0 to 1, such as 0.005')

const flag = z
  .enum(['true', 'false'], { error: 'must be true or false' })
  .transform((text) => text === 'true')

const range = z
  .string()
  .regex(/^\d+-\d+$/, 'must be a range such as 50-150 (milliseconds)')
  .transform((text): Range => {
    const [min, max] = text.split('-').map(Number) as [number, number]
    return { min, max }
  })
  .refine((r) => r.min <= r.max, 'the lower bound must not exceed the upper bound')

const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, 'must be a duration such as 90s, 30m, 24h or 7d')
  .transform((text) => {
    const [, amount, unit] = /^(\d+)(ms|s|m|h|d)$/.exec(text) as unknown as [string, string, string]
    const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
      unit as 'ms' | 's' | 'm' | 'h' | 'd'
    ]
    return Number(amount) * unitMs
  })

const databaseUrl = z
  .string()
  .regex(
    /^(sqlite:|mysql:\/\/|mariadb:\/\/|postgres:\/\/|postgresql:\/\/)/,
    'must start with sqlite:, mysql://, mariadb:// or postgres://',
  )

const brokerList = z
  .string()
  .regex(/^$|^[^\s,:]+:\d+(,[^\s,:]+:\d+)*$/, 'must be a comma-separated list of host:port')

const urlList = z
  .string()
  .regex(/^https?:\/\/[^\s,]+(,https?:\/\/[^\s,]+)*$/, 'must be a comma-separated list of http(s) URLs')

const originList = z
  .string()
  .regex(
    /^$|^https?:\/\/[^\s,/]+(,https?:\/\/[^\s,/]+)*$/,
    'must be a comma-separated list of origins such as http://127.0.0.1:5173',
  )

/** A token bucket: `limit` requests at once, refilled at `limit` per `windowMs`. */
export interface RateLimitSpec {
  limit: number
  windowMs: number
}

const rateLimit = z
  .string()
  .regex(/^(off|\d+\/\d+(ms|s|m|h))$/, 'must be off or requests per window, such as 2000/1s or 60/1m')
  .transform((text): RateLimitSpec | null => {
    if (text === 'off') return null
    const [, limit, amount, unit] = /^(\d+)\/(\d+)(ms|s|m|h)$/.exec(text) as unknown as [
      string,
      string,
      string,
      string,
    ]
    const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h']
    return { limit: Number(limit), windowMs: Number(amount) * unitMs }
  })
  .refine(
    (spec) => spec === null || (spec.limit >= 1 && spec.windowMs >= 1),
    'the limit and the window must be at least 1',
  )

/** `routeId=ms` pairs, such as `admin=60000,payments.read=5000`. */
const routeTimeouts = z
  .string()
  .regex(
    /^$|^[a-z.]+=\d+(,[a-z.]+=\d+)*$/,
    'must be a comma-separated list of route=milliseconds, such as admin=60000',
  )
  .transform(
    (text) =>
      Object.fromEntries(
        text === ''
          ? []
          : text.split(',').map((pair) => {
              const [route, ms] = pair.split('=') as [string, string]
              return [route, Number(ms)]
            }),
      ) as Record<string, number>,
  )

/**
 * Every environment variable payrail reads, with its default beside it. A test checks that
 * the README's configuration table lists each of them.
 */
export const variables = {
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  /** `auto`: pretty on a terminal, JSON otherwise. */
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty'], { error: 'must be auto, json or pretty' }).default('auto'),
  /** Address every HTTP role binds to; loopback unless told otherwise. */
  HOST: z.string().min(1).default('127.0.0.1'),

  DATABASE_URL: databaseUrl.default('sqlite:./data/payrail.db'),
  DB_POOL_MAX: integer(1, 1000).default(20),

  /** Empty: the local broker that `payrail kafka start` runs on 127.0.0.1:9092. */
  KAFKA_BROKERS: brokerList.default(''),
  KAFKA_CLIENT_ID: z.string().min(1).max(200).default('payrail'),
  KAFKA_REQUEST_TIMEOUT_MS: positiveInt.default(2000),
  KAFKA_DELIVERY_TIMEOUT_MS: positiveInt.default(3000),
  KAFKA_LINGER_MS: nonNegativeInt.default(5),
  KAFKA_BATCH_BYTES: positiveInt.default(32_768),

  OUTBOX_BATCH_SIZE: integer(1, 100_000).default(1000),
  OUTBOX_POLL_INTERVAL_MS: positiveInt.default(250),
  OUTBOX_MAX_RETRIES: positiveInt.default(20),
  OUTBOX_RETRY_INTERVAL_MS: positiveInt.default(5000),
  /** How long published outbox rows are kept before the relay deletes them, in milliseconds once parsed. */
  OUTBOX_RETENTION: duration.default(24 * 3_600_000),
  /** How long a relay's bucket lease lasts without renewal; a dead relay's buckets move after it. */
  OUTBOX_LEASE_MS: integer(1000).default(10_000),

  GATEWAY_PORT: port.default(8080),
  GATEWAY_CONNECT_TIMEOUT_MS: positiveInt.default(2000),
  GATEWAY_RESPONSE_TIMEOUT_MS: positiveInt.default(20_000),
  GATEWAY_POOL_MAX_CONNECTIONS: positiveInt.default(4000),
  GATEWAY_POOL_ACQUIRE_TIMEOUT_MS: positiveInt.default(5000),
  /** Requests that may wait for a pooled connection at once; one more is refused with 503 at once. */
  GATEWAY_POOL_MAX_WAITERS: integer(0, 1_000_000).default(2000),
  GATEWAY_UPSTREAM_API: urlList.default('http://127.0.0.1:8081'),
  /** Age after which an upstream connection is replaced, so that DNS names are resolved again. */
  GATEWAY_UPSTREAM_TTL_MS: positiveInt.default(60_000),
  /** Time-to-headers overrides per route id (`payments.authorize`, `payments.read`, `admin`, `openapi`…). */
  GATEWAY_ROUTE_TIMEOUTS: routeTimeouts.default({}),
  /** How often each upstream's `/readyz` is checked, and how long a check may take. */
  GATEWAY_HEALTH_INTERVAL_MS: positiveInt.default(2000),
  GATEWAY_HEALTH_TIMEOUT_MS: positiveInt.default(1000),
  /** Consecutive failed requests that eject an upstream instance, and how long it stays out at least. */
  GATEWAY_EJECT_AFTER_FAILURES: positiveInt.default(5),
  GATEWAY_EJECT_MS: positiveInt.default(10_000),
  /** Attempts per request, the first included; retries go to another instance when there is one. */
  GATEWAY_RETRY_MAX_ATTEMPTS: integer(1, 10).default(3),
  /** Retries allowed as a share of the requests of the last 10 s (0.2: at most 20 % extra load)… */
  GATEWAY_RETRY_BUDGET_RATIO: rate.default(0.2),
  /** …plus this many per 10 s, so that a quiet gateway can still retry. */
  GATEWAY_RETRY_BUDGET_MIN: nonNegativeInt.default(10),
  /** First and largest pause before a retry; each pause is drawn with jitter between them. */
  GATEWAY_RETRY_BACKOFF_MS: range.default({ min: 10, max: 200 }),
  /** Largest request body the gateway forwards (413 beyond). */
  GATEWAY_BODY_LIMIT_BYTES: integer(256, 10 * 1024 * 1024).default(16_384),
  /** Browser origins allowed to call the gateway (the dashboard's). */
  GATEWAY_CORS_ORIGINS: originList.default('http://127.0.0.1:5173,http://localhost:5173'),
  /** Built dashboard served at `/` when the folder exists. */
  GATEWAY_DASHBOARD_DIR: z.string().min(1).default('web/dist'),
  /** Token buckets per API key and operation: `off` or requests per window. */
  GATEWAY_RATE_LIMIT_AUTHORIZE: rateLimit.default({ limit: 2000, windowMs: 1000 }),
  GATEWAY_RATE_LIMIT_CAPTURE: rateLimit.default({ limit: 2000, windowMs: 1000 }),
  GATEWAY_RATE_LIMIT_REFUND: rateLimit.default({ limit: 1000, windowMs: 1000 }),
  GATEWAY_RATE_LIMIT_READ: rateLimit.default({ limit: 5000, windowMs: 1000 }),
  /** When Redis fails: `open` lets requests through, `closed` answers 503; a metric counts either. */
  GATEWAY_RATE_LIMIT_ON_REDIS_FAILURE: z
    .enum(['open', 'closed'], { error: 'must be open or closed' })
    .default('open'),
  /** Longest wait for Redis on the request path before the failure policy applies. */
  GATEWAY_REDIS_TIMEOUT_MS: positiveInt.default(100),
  /** Prefix of the gateway's Redis keys. */
  GATEWAY_REDIS_PREFIX: z.string().min(1).max(100).default('payrail:ratelimit:'),

  API_PORT: port.default(8081),
  /** Largest request body the API reads. */
  API_BODY_LIMIT_BYTES: integer(256, 10 * 1024 * 1024).default(16_384),
  /** Largest amount in minor units one payment may have. */
  PAYMENT_MAX_AMOUNT: integer(1).default(100_000_000_000),
  /** How often the api looks for authorize attempts whose outcome was never recorded. */
  AUTH_RECOVERY_INTERVAL_MS: positiveInt.default(5000),
  /** Age after which such an attempt is resolved with the acquirer; well above the acquirer timeout. */
  AUTH_RECOVERY_AFTER_MS: positiveInt.default(30_000),
  /**
   * Runs a relay inside the api process too: rows committed there reach Kafka by the fast path,
   * without waiting for a poll. It leases buckets like any other relay instance.
   */
  API_EMBEDDED_RELAY: flag.default(false),
  RELAY_METRICS_PORT: port.default(9464),
  WORKER_METRICS_PORT: port.default(9465),
  WORKER_CONCURRENCY: integer(1, 100_000).default(256),
  WORKER_MAX_ATTEMPTS: positiveInt.default(10),

  ACQUIRER_PORT: port.default(8090),
  ACQUIRER_URL: z.url({ error: 'must be an http(s) URL' }).default('http://127.0.0.1:8090'),
  ACQUIRER_AUTH_TIMEOUT_MS: positiveInt.default(1000),
  ACQUIRER_SETTLE_TIMEOUT_MS: positiveInt.default(5000),
  ACQUIRER_AUTH_LATENCY_MS: range.default({ min: 50, max: 150 }),
  ACQUIRER_SETTLE_LATENCY_MS: range.default({ min: 1000, max: 3000 }),
  ACQUIRER_AUTH_FAILURE_RATE: rate.default(0.005),
  ACQUIRER_SETTLE_FAILURE_RATE: rate.default(0.05),

  DASHBOARD_PORT: port.default(5173),

  /** Unset: rate limits are kept in memory. */
  REDIS_URL: z.url({ error: 'must be a redis:// URL' }).optional(),
  /** Bearer token for the operations endpoints; unset disables them. */
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
}
