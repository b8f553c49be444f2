import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { loadConfig } from '../../src/config/load.ts'
import { hasErrorCode } from '../../src/domain/errors.ts'

const noFile = join(tmpdir(), 'payrail-no-such.env')

test('defaults are the tuned values of DESIGN.md', () => {
  const config = loadConfig({ env: {}, envFile: noFile })
  assert.equal(config.DATABASE_URL, 'sqlite:./data/payrail.db')
  assert.equal(config.OUTBOX_BATCH_SIZE, 1000)
  assert.equal(config.OUTBOX_POLL_INTERVAL_MS, 250)
  assert.equal(config.OUTBOX_MAX_RETRIES, 20)
  assert.equal(config.OUTBOX_RETRY_INTERVAL_MS, 5000)
  assert.equal(config.KAFKA_REQUEST_TIMEOUT_MS, 2000)
  assert.equal(config.KAFKA_DELIVERY_TIMEOUT_MS, 3000)
  assert.equal(config.KAFKA_LINGER_MS, 5)
  assert.equal(config.KAFKA_BATCH_BYTES, 32_768)
  assert.equal(config.GATEWAY_CONNECT_TIMEOUT_MS, 2000)
  assert.equal(config.GATEWAY_RESPONSE_TIMEOUT_MS, 20_000)
  assert.equal(config.GATEWAY_POOL_MAX_CONNECTIONS, 4000)
  assert.equal(config.GATEWAY_POOL_ACQUIRE_TIMEOUT_MS, 5000)
  assert.equal(config.GATEWAY_POOL_MAX_WAITERS, 2000)
  assert.equal(config.GATEWAY_RETRY_BUDGET_RATIO, 0.2)
  assert.deepEqual(config.GATEWAY_RETRY_BACKOFF_MS, { min: 10, max: 200 })
  assert.deepEqual(config.GATEWAY_RATE_LIMIT_AUTHORIZE, { limit: 2000, windowMs: 1000 })
  assert.equal(config.GATEWAY_RATE_LIMIT_ON_REDIS_FAILURE, 'open')
  assert.deepEqual(config.GATEWAY_ROUTE_TIMEOUTS, {})
  assert.deepEqual(config.ACQUIRER_AUTH_LATENCY_MS, { min: 50, max: 150 })
  assert.deepEqual(config.ACQUIRER_SETTLE_LATENCY_MS, { min: 1000, max: 3000 })
  assert.equal(config.ACQUIRER_AUTH_FAILURE_RATE, 0.005)
  assert.equal(config.ACQUIRER_SETTLE_FAILURE_RATE, 0.05)
  assert.equal(config.KAFKA_BROKERS, '')
  assert.equal(config.KAFKA_REPLICATION_FACTOR, undefined, 'unset: chosen from the cluster size')
  assert.equal(config.KAFKA_MIN_INSYNC_REPLICAS, undefined)
  assert.equal(config.REDIS_URL, undefined)
})

test('the environment wins over .env, and .env over the defaults', () => {
  const dir = mkdtempSync(join(tmpdir(), 'payrail-config-'))
  const envFile = join(dir, '.env')
  writeFileSync(envFile, 'OUTBOX_BATCH_SIZE=500\nAPI_PORT=9000\n# a comment\nKAFKA_LINGER_MS=0\n')
  const config = loadConfig({ env: { API_PORT: '9100' }, envFile })
  assert.equal(config.OUTBOX_BATCH_SIZE, 500)
  assert.equal(config.API_PORT, 9100)
  assert.equal(config.KAFKA_LINGER_MS, 0)
})

test('gateway rate limits and route timeouts are parsed into their parts', () => {
  const config = loadConfig({
    env: {
      GATEWAY_RATE_LIMIT_READ: '60/1m',
      GATEWAY_RATE_LIMIT_REFUND: 'off',
      GATEWAY_ROUTE_TIMEOUTS: 'admin=60000,payments.read=5000',
    },
    envFile: noFile,
  })
  assert.deepEqual(config.GATEWAY_RATE_LIMIT_READ, { limit: 60, windowMs: 60_000 })
  assert.equal(config.GATEWAY_RATE_LIMIT_REFUND, null)
  assert.deepEqual(config.GATEWAY_ROUTE_TIMEOUTS, { admin: 60_000, 'payments.read': 5000 })
})

test('an empty value means the default', () => {
  assert.equal(loadConfig({ env: { OUTBOX_BATCH_SIZE: '' }, envFile: noFile }).OUTBOX_BATCH_SIZE, 1000)
})

test('a bad value stops with a message naming the variable and the expected form', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ OUTBOX_BATCH_SIZE: 'lots' }, /OUTBOX_BATCH_SIZE="lots": must be a whole number from 1 to 100000/],
    [{ OUTBOX_BATCH_SIZE: '0' }, /OUTBOX_BATCH_SIZE="0": must be a whole number/],
    [{ API_PORT: '70000' }, /API_PORT="70000": must be a whole number from 1 to 65535/],
    [{ ACQUIRER_AUTH_LATENCY_MS: '150-50' }, /ACQUIRER_AUTH_LATENCY_MS="150-50": the lower bound/],
    [
      { ACQUIRER_SETTLE_LATENCY_MS: 'slow' },
      /ACQUIRER_SETTLE_LATENCY_MS="slow": must be a range such as 50-150/,
    ],
    [{ ACQUIRER_AUTH_FAILURE_RATE: '5' }, /ACQUIRER_AUTH_FAILURE_RATE="5": must be a fraction from 0 to 1/],
    [{ DATABASE_URL: 'oracle://x' }, /DATABASE_URL="oracle:\/\/x": must start with sqlite:/],
    [
      { KAFKA_BROKERS: 'localhost' },
      /KAFKA_BROKERS="localhost": must be a comma-separated list of host:port/,
    ],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL="loud": must be one of/],
    [{ ADMIN_TOKEN: 'short' }, /ADMIN_TOKEN=\(hidden\): must be at least 32 characters/],
    [
      { GATEWAY_RATE_LIMIT_CAPTURE: '5/s' },
      /GATEWAY_RATE_LIMIT_CAPTURE="5\/s": must be off or requests per window/,
    ],
    [{ GATEWAY_RATE_LIMIT_REFUND: '0/1s' }, /GATEWAY_RATE_LIMIT_REFUND="0\/1s": the limit and the window/],
    [
      { GATEWAY_RATE_LIMIT_ON_REDIS_FAILURE: 'maybe' },
      /GATEWAY_RATE_LIMIT_ON_REDIS_FAILURE="maybe": must be open or closed/,
    ],
    [
      { GATEWAY_ROUTE_TIMEOUTS: 'admin:5' },
      /GATEWAY_ROUTE_TIMEOUTS="admin:5": must be a comma-separated list of route=milliseconds/,
    ],
    [{ GATEWAY_CORS_ORIGINS: '*' }, /GATEWAY_CORS_ORIGINS="\*": must be a comma-separated list of origins/],
    [{ GATEWAY_RETRY_BUDGET_RATIO: '2' }, /GATEWAY_RETRY_BUDGET_RATIO="2": must be a fraction/],
  ]
  for (const [env, message] of cases) {
    assert.throws(
      () => loadConfig({ env, envFile: noFile }),
      (error: unknown) => hasErrorCode(error, 'CONFIG_INVALID') && message.test((error as Error).message),
      `expected ${message} for ${JSON.stringify(env)}`,
    )
  }
})

test('a secret is never repeated in the message, nor a password inside a URL', () => {
  const check = (env: Record<string, string>, secret: string, shown: RegExp) =>
    assert.throws(
      () => loadConfig({ env, envFile: noFile }),
      (error: unknown) => {
        const message = (error as Error).message
        assert.ok(!message.includes(secret), `the message repeats the secret: ${message}`)
        assert.match(message, shown)
        return hasErrorCode(error, 'CONFIG_INVALID')
      },
    )
  check({ ADMIN_TOKEN: 'hunter2-short' }, 'hunter2', /ADMIN_TOKEN=\(hidden\)/)
  // 31 characters: long enough to pass the old 16-character rule, one short of the new one.
  const almost = 'hunter2-hunter2-hunter2-hunter2'
  check({ ADMIN_TOKEN: almost }, almost, /ADMIN_TOKEN=\(hidden\): must be at least 32 characters/)
  assert.equal(loadConfig({ env: { ADMIN_TOKEN: `${almost}!` }, envFile: noFile }).ADMIN_TOKEN, `${almost}!`)
  check(
    { DATABASE_URL: 'oracle://app:s3cret-pw@db:1521/x' },
    's3cret-pw',
    /DATABASE_URL="oracle:\/\/app:\*\*\*@db/,
  )
  // No user name, or an @ inside the password: the old mask left these in the message.
  check({ REDIS_URL: 'redis://:r3dis-pw@cache:6379 x' }, 'r3dis-pw', /REDIS_URL="redis:\/\/:\*\*\*@cache/)
  check({ DATABASE_URL: 'oracle://app:p@ss-w0rd@db/x' }, 'ss-w0rd', /DATABASE_URL="oracle:\/\/app:\*\*\*@db/)
  check({ DATABASE_URL: 'oracle://t0ken-only@db/x' }, 't0ken-only', /DATABASE_URL="oracle:\/\/\*\*\*@db/)
})

test('rules that tie two variables together name both', () => {
  assert.throws(
    () =>
      loadConfig({ env: { OUTBOX_LEASE_MS: '5000', KAFKA_DELIVERY_TIMEOUT_MS: '3000' }, envFile: noFile }),
    /OUTBOX_LEASE_MS \(5000\) must be at least three times KAFKA_DELIVERY_TIMEOUT_MS \(3000\)/,
  )
  assert.throws(
    () =>
      loadConfig({
        env: { AUTH_RECOVERY_AFTER_MS: '1000', ACQUIRER_AUTH_TIMEOUT_MS: '1000' },
        envFile: noFile,
      }),
    /AUTH_RECOVERY_AFTER_MS \(1000\) must exceed ACQUIRER_AUTH_TIMEOUT_MS \(1000\)/,
  )
  assert.throws(
    () => loadConfig({ env: { AUTH_ATTEMPTS_RETENTION: '1d', AUTH_ABANDONED_WATCH: '1d' }, envFile: noFile }),
    /AUTH_ATTEMPTS_RETENTION \(86400000 ms\) must exceed AUTH_ABANDONED_WATCH \(86400000 ms\)/,
  )
  assert.throws(
    () => loadConfig({ env: { IDEMPOTENCY_RETENTION: '12h' }, envFile: noFile }),
    /IDEMPOTENCY_RETENTION \(43200000 ms\) must be at least 24h/,
  )
  assert.throws(
    () =>
      loadConfig({ env: { PROCESSED_EVENTS_RETENTION: '7d', KAFKA_TOPIC_RETENTION: '7d' }, envFile: noFile }),
    /PROCESSED_EVENTS_RETENTION \(604800000 ms\) must exceed KAFKA_TOPIC_RETENTION \(604800000 ms\)/,
  )
  assert.throws(
    () =>
      loadConfig({ env: { KAFKA_MIN_INSYNC_REPLICAS: '3', KAFKA_REPLICATION_FACTOR: '2' }, envFile: noFile }),
    /KAFKA_MIN_INSYNC_REPLICAS \(3\) must not exceed KAFKA_REPLICATION_FACTOR \(2\)/,
  )
  assert.equal(
    loadConfig({ env: { OUTBOX_LEASE_MS: '9000', KAFKA_DELIVERY_TIMEOUT_MS: '3000' }, envFile: noFile })
      .OUTBOX_LEASE_MS,
    9000,
  )
})

test('fractions and whole numbers are read exactly; a fraction where a whole number belongs is refused', () => {
  const config = loadConfig({
    env: { GATEWAY_RETRY_BUDGET_RATIO: '0.05', DB_POOL_MAX: '7' },
    envFile: noFile,
  })
  assert.equal(config.GATEWAY_RETRY_BUDGET_RATIO, 0.05)
  assert.equal(config.DB_POOL_MAX, 7)
  assert.throws(
    () => loadConfig({ env: { DB_POOL_MAX: '1.5' }, envFile: noFile }),
    /DB_POOL_MAX="1.5": must be a whole number/,
  )
})

test('every bad variable is reported at once', () => {
  assert.throws(
    () => loadConfig({ env: { API_PORT: 'x', WORKER_CONCURRENCY: '-1' }, envFile: noFile }),
    /API_PORT="x".*WORKER_CONCURRENCY="-1"/,
  )
})
