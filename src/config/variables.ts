import { isIP } from 'node:net'
import { type TSchema, Type } from 'typebox'
import type { FieldAnnotations } from '../runtime/options.ts'

/**
 * Every variable is read as the text the environment holds, checked against a pattern (and a
 * refinement where a pattern cannot say it), then decoded into its value. Defaults are written
 * as that same text, the way a user writes them in `.env` and the README's table shows them.
 */

/** A closed range such as `50-150`, used for simulated latencies. */
export interface Range {
  min: number
  max: number
}

/** A token bucket: `limit` requests at once, refilled at `limit` per `windowMs`. */
export interface RateLimitSpec {
  limit: number
  windowMs: number
}

interface VariableSpec<T> extends FieldAnnotations {
  pattern: RegExp
  /** The form expected, in words: every message about the variable says it. */
  problem: string
  decode: (text: string) => T
  /** A check a pattern cannot express, with its own message. */
  refine?: { holds: (text: string) => boolean; problem: string }
  default?: string | number | boolean
}

function variable<T>(spec: VariableSpec<T>) {
  const annotations: Record<string, unknown> = { pattern: spec.pattern.source, problem: spec.problem }
  if (spec.default !== undefined) annotations.default = String(spec.default)
  if (spec.secret === true) annotations.secret = true
  const checked = spec.refine
    ? Type.Refine(
        Type.String(annotations),
        (text) => (spec.refine as NonNullable<VariableSpec<T>['refine']>).holds(text),
        () => (spec.refine as NonNullable<VariableSpec<T>['refine']>).problem,
      )
    : Type.String(annotations)
  return Type.Decode(checked, (text: string) => spec.decode(text))
}

const optional = <S extends TSchema>(schema: S) => Type.Optional(schema)

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
type Unit = keyof typeof UNIT_MS

const integer = (min: number, max = Number.MAX_SAFE_INTEGER, fallback?: number) =>
  variable({
    pattern: /^-?\d+$/,
    problem: `must be a whole number from ${min} to ${max}`,
    refine: {
      holds: (text) => Number(text) >= min && Number(text) <= max,
      problem: `must be a whole number from ${min} to ${max}`,
    },
    decode: Number,
    ...(fallback === undefined ? {} : { default: fallback }),
  })

const port = (fallback: number) => integer(1, 65_535, fallback)
const atLeast = (min: number, fallback: number) => integer(min, Number.MAX_SAFE_INTEGER, fallback)
const positiveInt = (fallback: number) => atLeast(1, fallback)
const nonNegativeInt = (fallback: number) => atLeast(0, fallback)

const rate = (fallback: number) =>
  variable({
    pattern: /^\d*\.?\d+(e-?\d+)?$/,
    problem: 'must be a fraction from 0 to 1, such as 0.005',
    refine: {
      holds: (text) => Number(text) >= 0 && Number(text) <= 1,
      problem: 'must be a fraction from 0 to 1, such as 0.005',
    },
    decode: Number,
    default: fallback,
  })

const flag = (fallback: boolean) =>
  variable({
    pattern: /^(true|false)$/,
    problem: 'must be true or false',
    decode: (text) => text === 'true',
    default: fallback,
  })

const oneOf = <const V extends string>(values: readonly V[], fallback: V) =>
  variable({
    pattern: new RegExp(`^(${values.join('|')})$`),
    problem:
      values.length === 2 ? `must be ${values[0]} or ${values[1]}` : `must be one of ${values.join(', ')}`,
    decode: (text) => text as V,
    default: fallback,
  })

const text = (min: number, max: number, fallback: string) =>
  variable({
    pattern: new RegExp(`^[\\s\\S]{${min},${max}}$`),
    problem: `must be ${min} to ${max} characters`,
    decode: (value) => value,
    default: fallback,
  })

const secret = (min: number) =>
  variable({
    pattern: new RegExp(`^[\\s\\S]{${min},}$`),
    problem: `must be at least ${min} characters`,
    decode: (value) => value,
    secret: true,
  })

const range = (fallback: string) =>
  variable({
    pattern: /^\d+-\d+$/,
    problem: 'must be a range such as 50-150 (milliseconds)',
    refine: {
      holds: (value) => {
        const [min, max] = value.split('-').map(Number) as [number, number]
        return min <= max
      },
      problem: 'the lower bound must not exceed the upper bound',
    },
    decode: (value): Range => {
      const [min, max] = value.split('-').map(Number) as [number, number]
      return { min, max }
    },
    default: fallback,
  })

const duration = (fallback: string) =>
  variable({
    pattern: /^\d+(ms|s|m|h|d)$/,
    problem: 'must be a duration such as 90s, 30m, 24h or 7d',
    decode: (value) => {
      const [, amount, unit] = /^(\d+)(ms|s|m|h|d)$/.exec(value) as unknown as [string, string, Unit]
      return Number(amount) * UNIT_MS[unit]
    },
    default: fallback,
  })

const databaseUrl = (fallback: string) =>
  variable({
    pattern: /^(sqlite:|mysql:\/\/|mariadb:\/\/|postgres:\/\/|postgresql:\/\/)/,
    problem: 'must start with sqlite:, mysql://, mariadb:// or postgres://',
    decode: (value) => value,
    default: fallback,
  })

const brokerList = (fallback: string) =>
  variable({
    pattern: /^$|^[^\s,:]+:\d+(,[^\s,:]+:\d+)*$/,
    problem: 'must be a comma-separated list of host:port',
    decode: (value) => value,
    default: fallback,
  })

const urlList = (fallback: string) =>
  variable({
    pattern: /^https?:\/\/[^\s,]+(,https?:\/\/[^\s,]+)*$/,
    problem: 'must be a comma-separated list of http(s) URLs',
    decode: (value) => value,
    default: fallback,
  })

const httpUrl = (fallback: string) =>
  variable({
    pattern: /^https?:\/\/[^\s/?#]+(\/[^\s]*)?$/,
    problem: 'must be an http(s) URL',
    refine: { holds: (value) => URL.canParse(value), problem: 'must be an http(s) URL' },
    decode: (value) => value,
    default: fallback,
  })

/** An http(s) URL without a default, so the variable is optional. */
const optionalHttpUrl = variable({
  pattern: /^https?:\/\/[^\s/?#]+(\/[^\s]*)?$/,
  problem: 'must be an http(s) URL',
  refine: { holds: (value) => URL.canParse(value), problem: 'must be an http(s) URL' },
  decode: (value) => value,
})

/** `role=url` pairs, such as `gateway=http://127.0.0.1:8080,api=http://127.0.0.1:8081`; a role may repeat. */
const roleTargets = (fallback: string) =>
  variable({
    pattern: /^[a-z][a-z0-9-]*=https?:\/\/[^\s,=]+(,[a-z][a-z0-9-]*=https?:\/\/[^\s,=]+)*$/,
    problem: 'must be a comma-separated list of role=http(s) URL, such as gateway=http://127.0.0.1:8080',
    decode: (value) =>
      value.split(',').map((pair) => {
        const at = pair.indexOf('=')
        return { role: pair.slice(0, at), url: pair.slice(at + 1).replace(/\/$/, '') }
      }),
    default: fallback,
  })

/** A file path; no default, so the variable is optional. */
const filePath = variable({
  pattern: /^[^\n\r]{1,4096}$/,
  problem: 'must be a file path of 1 to 4096 characters on one line',
  decode: (value) => value,
})

const redisUrl = variable({
  pattern: /^rediss?:\/\/[^\s]+$/,
  problem: 'must be a redis:// URL',
  refine: { holds: (value) => URL.canParse(value), problem: 'must be a redis:// URL' },
  decode: (value) => value,
})

const originList = (fallback: string) =>
  variable({
    pattern: /^$|^https?:\/\/[^\s,/]+(,https?:\/\/[^\s,/]+)*$/,
    problem: 'must be a comma-separated list of origins such as http://127.0.0.1:5173',
    decode: (value) => value,
    default: fallback,
  })

const rateLimit = (fallback: string) =>
  variable({
    pattern: /^(off|\d+\/\d+(ms|s|m|h))$/,
    problem: 'must be off or requests per window, such as 2000/1s or 60/1m',
    refine: {
      holds: (value) => {
        const match = /^(\d+)\/(\d+)/.exec(value)
        return match === null || (Number(match[1]) >= 1 && Number(match[2]) >= 1)
      },
      problem: 'the limit and the window must be at least 1',
    },
    decode: (value): RateLimitSpec | null => {
      if (value === 'off') return null
      const [, limit, amount, unit] = /^(\d+)\/(\d+)(ms|s|m|h)$/.exec(value) as unknown as [
        string,
        string,
        string,
        Unit,
      ]
      return { limit: Number(limit), windowMs: Number(amount) * UNIT_MS[unit] }
    },
    default: fallback,
  })

/** Whether `text` is an IPv4 or IPv6 address, or one with a prefix length that fits it (`10.0.0.0/8`). */
function isNetwork(text: string): boolean {
  const [address = '', bits, extra] = text.split('/')
  const family = isIP(address)
  if (family === 0 || extra !== undefined) return false
  if (bits === undefined) return true
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)
}

/** Comma-separated networks, such as `127.0.0.0/8,::1,10.1.2.0/24`. */
const networkList = (fallback: string) =>
  variable({
    pattern: /^[0-9A-Fa-f.:/]+(,[0-9A-Fa-f.:/]+)*$/,
    problem: 'must be a comma-separated list of addresses or networks, such as 127.0.0.0/8,::1',
    refine: {
      holds: (value) => value.split(',').every(isNetwork),
      problem: 'must be a comma-separated list of addresses or networks, such as 127.0.0.0/8,::1',
    },
    decode: (value) => value.split(','),
    default: fallback,
  })

/** `routeId=ms` pairs, such as `admin=60000,payments.read=5000`. */
const routeTimeouts = (fallback: string) =>
  variable({
    pattern: /^$|^[a-z.]+=\d+(,[a-z.]+=\d+)*$/,
    problem: 'must be a comma-separated list of route=milliseconds, such as admin=60000',
    decode: (value) =>
      Object.fromEntries(
        value === ''
          ? []
          : value.split(',').map((pair) => {
              const [route, ms] = pair.split('=') as [string, string]
              return [route, Number(ms)]
            }),
      ) as Record<string, number>,
    default: fallback,
  })

/**
 * Every environment variable payrail reads, with its default beside it. A test checks that
 * the README's configuration table lists each of them.
 */
export const variables = {
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
  /** `auto`: pretty on a terminal, JSON otherwise. */
  LOG_FORMAT: oneOf(['auto', 'json', 'pretty'], 'auto'),
  /**
   * Address the gateway and the relay's and workers' health and metrics ports bind to; loopback
   * unless told otherwise. The api and the acquirer simulator have their own (API_HOST,
   * ACQUIRER_HOST) and never follow it: opening HOST to the network must not expose the api
   * (behind the gateway's limits) or the simulator.
   */
  HOST: text(1, 1000, '127.0.0.1'),
  API_HOST: text(1, 1000, '127.0.0.1'),
  ACQUIRER_HOST: text(1, 1000, '127.0.0.1'),

  DATABASE_URL: databaseUrl('sqlite:./data/payrail.db'),
  DB_POOL_MAX: integer(1, 1000, 20),
  /** Longest wait of an api request for a pooled connection before it answers 503 DATABASE_BUSY. */
  DB_POOL_ACQUIRE_TIMEOUT_MS: positiveInt(1000),
  /** Api writes of concurrent requests committed in one transaction at most (group commit); 1 turns it off. */
  DB_GROUP_COMMIT_MAX: integer(1, 10_000, 64),
  /** Group-commit transactions in flight at once, each on its own connection (one on SQLite). */
  DB_GROUP_COMMIT_LANES: integer(1, 1000, 8),
  /** How long a group commit's first request waits for others to join it; empty: 2 ms on SQLite, 0 (the end of the event-loop turn) on MariaDB and PostgreSQL. */
  DB_GROUP_COMMIT_WAIT_MS: optional(integer(0, 1000)),
  /** MariaDB/MySQL: statements with parameters as server-side prepared statements (false: text with the values spliced in). */
  DB_MYSQL_PREPARED: flag(false),

  /** Empty: the local broker that `payrail kafka start` runs on 127.0.0.1:9092. */
  KAFKA_BROKERS: brokerList(''),
  KAFKA_CLIENT_ID: text(1, 200, 'payrail'),
  KAFKA_REQUEST_TIMEOUT_MS: positiveInt(2000),
  KAFKA_DELIVERY_TIMEOUT_MS: positiveInt(3000),
  KAFKA_LINGER_MS: nonNegativeInt(5),
  KAFKA_BATCH_BYTES: positiveInt(32_768),
  /** `retention.ms` of the topics payrail creates; existing topics keep theirs. */
  KAFKA_TOPIC_RETENTION: duration('7d'),
  /** Replicas of each partition payrail creates. Unset: min(3, brokers in the cluster). */
  KAFKA_REPLICATION_FACTOR: optional(integer(1, 32)),
  /** `min.insync.replicas` of payrail's topics. Unset: 2 with 3 or more brokers, else 1. */
  KAFKA_MIN_INSYNC_REPLICAS: optional(integer(1, 32)),

  OUTBOX_BATCH_SIZE: integer(1, 100_000, 1000),
  OUTBOX_POLL_INTERVAL_MS: positiveInt(250),
  /** Least time between polls that new rows asked for (PostgreSQL's notifications): commits share a send. */
  OUTBOX_MIN_POLL_GAP_MS: integer(0, 10_000, 50),
  OUTBOX_MAX_RETRIES: positiveInt(20),
  OUTBOX_RETRY_INTERVAL_MS: positiveInt(5000),
  /** How long published outbox rows are kept before the relay deletes them, in milliseconds once parsed. */
  OUTBOX_RETENTION: duration('24h'),
  /** How long a relay's bucket lease lasts without renewal; a dead relay's buckets move after it. */
  OUTBOX_LEASE_MS: atLeast(1000, 10_000),

  GATEWAY_PORT: port(8080),
  GATEWAY_CONNECT_TIMEOUT_MS: positiveInt(2000),
  GATEWAY_RESPONSE_TIMEOUT_MS: positiveInt(20_000),
  GATEWAY_POOL_MAX_CONNECTIONS: positiveInt(4000),
  GATEWAY_POOL_ACQUIRE_TIMEOUT_MS: positiveInt(5000),
  /** Requests that may wait for a pooled connection at once; one more is refused with 503 at once. */
  GATEWAY_POOL_MAX_WAITERS: integer(0, 1_000_000, 2000),
  GATEWAY_UPSTREAM_API: urlList('http://127.0.0.1:8081'),
  /** Age after which an upstream connection is replaced, so that DNS names are resolved again. */
  GATEWAY_UPSTREAM_TTL_MS: positiveInt(60_000),
  /** Time-to-headers overrides per route id (`payments.authorize`, `payments.read`, `admin`, `openapi`…). */
  GATEWAY_ROUTE_TIMEOUTS: routeTimeouts(''),
  /** How often each upstream's `/readyz` is checked, and how long a check may take. */
  GATEWAY_HEALTH_INTERVAL_MS: positiveInt(2000),
  GATEWAY_HEALTH_TIMEOUT_MS: positiveInt(1000),
  /** Consecutive failed requests that eject an upstream instance, and how long it stays out at least. */
  GATEWAY_EJECT_AFTER_FAILURES: positiveInt(5),
  GATEWAY_EJECT_MS: positiveInt(10_000),
  /** Most api instances ejected at once, in percent; the last available one never is. */
  GATEWAY_MAX_EJECTED_PERCENT: integer(0, 100, 50),
  /** Below this share of available instances (percent), requests go to all of them; 0: never. */
  GATEWAY_PANIC_THRESHOLD_PERCENT: integer(0, 100, 50),
  /** Attempts per request, the first included; retries go to another instance when there is one. */
  GATEWAY_RETRY_MAX_ATTEMPTS: integer(1, 10, 3),
  /** Retries allowed as a share of the requests of the last 10 s (0.2: at most 20 % extra load)… */
  GATEWAY_RETRY_BUDGET_RATIO: rate(0.2),
  /** …plus this many per 10 s, so that a quiet gateway can still retry. */
  GATEWAY_RETRY_BUDGET_MIN: nonNegativeInt(10),
  /** First and largest pause before a retry; each pause is drawn with jitter between them. */
  GATEWAY_RETRY_BACKOFF_MS: range('10-200'),
  /**
   * Limits on each client connection (see src/gateway/client-limits.ts for why these values):
   * time to send a request's headers, and the whole request with its body (408 beyond either)…
   */
  GATEWAY_HEADERS_TIMEOUT_MS: positiveInt(10_000),
  GATEWAY_REQUEST_TIMEOUT_MS: positiveInt(30_000),
  /** …how long a keep-alive connection may sit idle between requests… */
  GATEWAY_IDLE_TIMEOUT_MS: positiveInt(65_000),
  /** …and client connections open at once; one more is closed as soon as it is accepted. */
  GATEWAY_MAX_CONNECTIONS: integer(1, 1_000_000, 10_000),
  /** Largest request body the gateway forwards (413 beyond). */
  GATEWAY_BODY_LIMIT_BYTES: integer(256, 10 * 1024 * 1024, 16_384),
  /** Browser origins allowed to call the gateway (the dashboard's). */
  GATEWAY_CORS_ORIGINS: originList('http://127.0.0.1:5173,http://localhost:5173'),
  /** Built dashboard served at `/` when the folder exists. */
  GATEWAY_DASHBOARD_DIR: text(1, 1000, 'web/dist'),
  /** Token buckets per API key and operation: `off` or requests per window. */
  GATEWAY_RATE_LIMIT_AUTHORIZE: rateLimit('2000/1s'),
  GATEWAY_RATE_LIMIT_CAPTURE: rateLimit('2000/1s'),
  GATEWAY_RATE_LIMIT_REFUND: rateLimit('1000/1s'),
  GATEWAY_RATE_LIMIT_READ: rateLimit('5000/1s'),
  /**
   * Failed authentications per client address (an ill-formed key, or a 401 from the api); once
   * used up, that address's requests answer 429 until the bucket refills.
   */
  GATEWAY_RATE_LIMIT_AUTH_FAILURES: rateLimit('20/1m'),
  /** Requests to the operations plane (`/api/admin/**`) per client address. */
  GATEWAY_RATE_LIMIT_ADMIN: rateLimit('10/1s'),
  /** Networks whose clients may reach the operations plane through the gateway; others get 403. */
  GATEWAY_ADMIN_ALLOW: networkList('127.0.0.0/8,::1'),
  /** When Redis fails: `open` lets requests through, `closed` answers 503; a metric counts either. */
  GATEWAY_RATE_LIMIT_ON_REDIS_FAILURE: oneOf(['open', 'closed'], 'open'),
  /** Longest wait for Redis on the request path before the failure policy applies. */
  GATEWAY_REDIS_TIMEOUT_MS: positiveInt(100),
  /** Prefix of the gateway's Redis keys. */
  GATEWAY_REDIS_PREFIX: text(1, 100, 'payrail:ratelimit:'),

  API_PORT: port(8081),
  /** Api processes `payrail up` starts, on API_PORT, API_PORT+1, …; the gateway balances over them. */
  API_PROCESSES: integer(1, 64, 1),
  /** API requests in progress at once; more wait in a short queue, then get 503 OVERLOADED. */
  API_MAX_IN_FLIGHT: integer(1, 1_000_000, 256),
  /** API requests that may wait for admission; one more is answered OVERLOADED at once. */
  API_MAX_QUEUED: integer(0, 1_000_000, 128),
  /** Longest wait for admission before OVERLOADED. */
  API_QUEUE_TIMEOUT_MS: positiveInt(200),
  /** Largest request body the API reads. */
  API_BODY_LIMIT_BYTES: integer(256, 10 * 1024 * 1024, 16_384),
  /** Largest amount in minor units one payment may have. */
  PAYMENT_MAX_AMOUNT: atLeast(1, 100_000_000_000),
  /** How often the api looks for authorize attempts whose outcome was never recorded. */
  AUTH_RECOVERY_INTERVAL_MS: positiveInt(5000),
  /** Age after which such an attempt is resolved with the acquirer; well above the acquirer timeout. */
  AUTH_RECOVERY_AFTER_MS: positiveInt(30_000),
  /** How long an abandoned authorize attempt is still looked up, its late approval voided. */
  AUTH_ABANDONED_WATCH: duration('24h'),
  /**
   * Runs a relay inside the api process too: rows committed there reach Kafka by the fast path,
   * without waiting for a poll. It leases buckets like any other relay instance.
   */
  API_EMBEDDED_RELAY: flag(false),
  /** How long a completed idempotency key answers a retry with its first response; at least 24 h. */
  IDEMPOTENCY_RETENTION: duration('24h'),
  /** How long resolved authorization attempts are kept (the payment and its timeline stay). */
  AUTH_ATTEMPTS_RETENTION: duration('7d'),
  /** How long the workers remember an event they applied; longer than the topics keep records. */
  PROCESSED_EVENTS_RETENTION: duration('14d'),
  RELAY_METRICS_PORT: port(9464),
  WORKER_METRICS_PORT: port(9465),
  WORKER_CONCURRENCY: integer(1, 100_000, 256),
  WORKER_MAX_ATTEMPTS: positiveInt(10),
  /** First wait before a failed record is tried again (doubles per attempt, with jitter). */
  WORKER_RETRY_DELAY_MS: nonNegativeInt(500),
  /** Longest wait between two attempts of a failed record. */
  WORKER_RETRY_MAX_DELAY_MS: nonNegativeInt(30_000),
  /** First wait before a record is tried again during an outage (doubles while it lasts). */
  WORKER_OUTAGE_DELAY_MS: positiveInt(1000),
  /** Longest wait between two tries during an outage: how late a record notices that it ended. */
  WORKER_OUTAGE_MAX_DELAY_MS: positiveInt(30_000),

  /** Health and metrics of `payrail notifier` (merchant webhooks). */
  NOTIFIER_METRICS_PORT: port(9466),
  /** Webhook deliveries in flight at once in one notifier. */
  WEBHOOK_CONCURRENCY: integer(1, 10_000, 64),
  /** How often the notifier looks for due deliveries when none woke it. */
  WEBHOOK_POLL_INTERVAL_MS: positiveInt(250),
  /** An attempt with no complete answer within this is a failure (connect, headers and body). */
  WEBHOOK_TIMEOUT_MS: positiveInt(10_000),
  /** First wait after a failed attempt (doubles per attempt, with jitter in [0.5, 1)). */
  WEBHOOK_RETRY_DELAY_MS: positiveInt(30_000),
  /** Longest wait between two attempts. */
  WEBHOOK_RETRY_MAX_DELAY_MS: positiveInt(6 * 3_600_000),
  /** How long a delivery is retried after its first attempt before it is marked FAILED. */
  WEBHOOK_RETRY_FOR: duration('3d'),
  /** An endpoint whose every attempt failed for this long is disabled, with the reason. */
  WEBHOOK_DISABLE_AFTER: duration('5d'),
  /** How long delivered and failed webhook deliveries stay in the delivery log. */
  WEBHOOK_LOG_RETENTION: duration('30d'),
  /** How long the previous signing secret keeps signing after a roll. */
  WEBHOOK_SECRET_GRACE: duration('24h'),
  /** Send to loopback, private, link-local and metadata addresses (local use and tests only). */
  WEBHOOK_ALLOW_PRIVATE: flag(false),
  /** Accept `http:` endpoint URLs (local use and tests only); otherwise https only. */
  WEBHOOK_ALLOW_HTTP: flag(false),
  /** Seals the signing secrets in the database (AES-256-GCM); unset, they are stored plainly (see README). */
  WEBHOOK_SECRET_KEY: optional(secret(32)),

  ACQUIRER_PORT: port(8090),
  /** Bearer token for the simulator's `/admin/mode`; unset, its admin switches answer 401. */
  ACQUIRER_ADMIN_TOKEN: optional(secret(32)),
  ACQUIRER_URL: httpUrl('http://127.0.0.1:8090'),
  ACQUIRER_AUTH_TIMEOUT_MS: positiveInt(1000),
  ACQUIRER_SETTLE_TIMEOUT_MS: positiveInt(5000),
  ACQUIRER_AUTH_LATENCY_MS: range('50-150'),
  ACQUIRER_SETTLE_LATENCY_MS: range('1000-3000'),
  ACQUIRER_AUTH_FAILURE_RATE: rate(0.005),
  ACQUIRER_SETTLE_FAILURE_RATE: rate(0.05),
  /**
   * The simulator's journal: every operation it carries out is appended before it answers and
   * replayed at start, so a killed simulator comes back remembering. Unset: memory only.
   */
  ACQUIRER_JOURNAL_FILE: optional(filePath),

  DASHBOARD_PORT: port(5173),
  /** Origin of the API the dashboard calls (the gateway); the only one its CSP lets it connect to. */
  DASHBOARD_API_ORIGIN: httpUrl('http://127.0.0.1:8080'),
  /** The built dashboard `payrail dashboard` serves (a relative path is taken from the project's folder). */
  DASHBOARD_DIR: text(1, 1000, 'web/dist'),

  /** Unset: rate limits are kept in memory. */
  REDIS_URL: optional(redisUrl),
  /**
   * The roles the operations plane (GET /api/admin/overview, /gateway, /kafka) reads health and
   * metrics from; `payrail up` sets it to what it starts (every api process of `--scale api=N`).
   */
  OPS_TARGETS: roleTargets(
    'gateway=http://127.0.0.1:8080,api=http://127.0.0.1:8081,relay=http://127.0.0.1:9464,worker=http://127.0.0.1:9465,acquirer=http://127.0.0.1:8090',
  ),
  /** Each health or metrics request of the operations plane may take this long; a role slower than that shows as down. */
  OPS_SCRAPE_TIMEOUT_MS: positiveInt(800),
  /** The roles are scraped at most this often, however often the dashboard polls; rates come from the last two scrapes. */
  OPS_SCRAPE_MIN_INTERVAL_MS: positiveInt(1000),
  /** Prometheus whose /api/v1/alerts the overview lists; unset: no alerts section. */
  PROMETHEUS_URL: optional(optionalHttpUrl),
  /** Load runs started from the operations plane: highest rate (iterations/s) and longest duration (s). */
  LOAD_RUN_MAX_RATE: positiveInt(500),
  LOAD_RUN_MAX_DURATION_SECONDS: integer(1, 3600, 300),
  /** Where load runs started from the operations plane keep their state and reports (relative to the working directory). */
  LOAD_RUN_DIR: text(1, 1000, '.payrail/load-runs'),
  /** Bearer token for the operations endpoints; unset disables them. 32+ characters: a guess must be hopeless. */
  ADMIN_TOKEN: optional(secret(32)),
}
