import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadConfig } from '../../../src/config/load.ts'
import { hasErrorCode } from '../../../src/domain/errors.ts'
import { defaultIsOutage } from '../../../src/workers/consumer/failure-policy.ts'
import {
  consumerOptionsFromConfig,
  defaultKeyedConsumerOptions,
  resolveConsumerOptions,
} from '../../../src/workers/consumer/options.ts'
import { quietLogger } from '../../../support/logger.ts'

const base = {
  brokers: ['127.0.0.1:9092'],
  groupId: 'settlement',
  topics: ['payment.capture-requested'],
  handler: async () => {},
  logger: quietLogger(),
}

test('defaults: the WORKER_* values, payment.dlq, the group as name', () => {
  const resolved = resolveConsumerOptions(base)
  assert.equal(resolved.concurrency, 256)
  assert.equal(resolved.maxAttempts, 10)
  assert.equal(resolved.deadLetterTopic, 'payment.dlq')
  assert.equal(resolved.name, 'settlement')
  assert.equal(resolved.clientId, 'payrail')
  assert.equal(resolved.startFrom, 'earliest')
  assert.equal(resolved.isOutage, defaultIsOutage)
  assert.equal(resolved.deadLetterSink, undefined)
  assert.ok(resolved.revokeTimeoutMs < resolved.sessionTimeoutMs)
})

test('every bad option is named in one CONFIG_INVALID error', () => {
  assert.throws(
    () =>
      resolveConsumerOptions({
        ...base,
        brokers: ['nohost'],
        topics: [],
        concurrency: 0,
        maxAttempts: 1.5,
        startFrom: 'middle' as 'earliest',
        revokeTimeoutMs: 40_000,
        sessionTimeoutMs: 30_000,
        handler: undefined as unknown as () => Promise<void>,
      }),
    (error: unknown) => {
      assert.ok(hasErrorCode(error, 'CONFIG_INVALID'))
      const message = (error as Error).message
      for (const name of [
        'brokers',
        'topics',
        'concurrency',
        'maxAttempts',
        'startFrom',
        'revokeTimeoutMs',
        'handler',
      ])
        assert.match(message, new RegExp(name))
      assert.doesNotMatch(message, /groupId/)
      return true
    },
  )
})

test('timeouts must fit the group protocol', () => {
  assert.throws(
    () => resolveConsumerOptions({ ...base, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 5000 }),
    /rebalanceTimeoutMs/,
  )
  assert.throws(() => resolveConsumerOptions({ ...base, heartbeatIntervalMs: 30_000 }), /heartbeatIntervalMs/)
  // No heartbeat while a rebalance waits for revoked work and its commit (up to 5 s).
  assert.throws(() => resolveConsumerOptions({ ...base, revokeTimeoutMs: 25_001 }), /revokeTimeoutMs/)
  assert.doesNotThrow(() => resolveConsumerOptions({ ...base, revokeTimeoutMs: 25_000 }))
  assert.throws(
    () => resolveConsumerOptions({ ...base, retryDelayMs: 10, retryMaxDelayMs: 5 }),
    /retryDelayMs/,
  )
})

test('brokers, client id, concurrency, attempts and waits come from the configuration', () => {
  const config = loadConfig({
    env: {
      KAFKA_BROKERS: 'a:9092,b:9093',
      WORKER_CONCURRENCY: '64',
      WORKER_MAX_ATTEMPTS: '3',
      WORKER_RETRY_DELAY_MS: '10',
      WORKER_RETRY_MAX_DELAY_MS: '20',
      WORKER_OUTAGE_DELAY_MS: '30',
      WORKER_OUTAGE_MAX_DELAY_MS: '40',
    },
    envFile: '/nonexistent/.env',
  })
  assert.deepEqual(consumerOptionsFromConfig(config), {
    brokers: ['a:9092', 'b:9093'],
    clientId: 'payrail',
    concurrency: 64,
    maxAttempts: 3,
    retryDelayMs: 10,
    retryMaxDelayMs: 20,
    outageDelayMs: 30,
    outageMaxDelayMs: 40,
  })
  const defaults = consumerOptionsFromConfig(loadConfig({ env: {}, envFile: '/nonexistent/.env' }))
  const {
    clientId,
    concurrency,
    maxAttempts,
    retryDelayMs,
    retryMaxDelayMs,
    outageDelayMs,
    outageMaxDelayMs,
  } = defaultKeyedConsumerOptions
  assert.deepEqual(
    defaults,
    {
      brokers: ['127.0.0.1:9092'],
      clientId,
      concurrency,
      maxAttempts,
      retryDelayMs,
      retryMaxDelayMs,
      outageDelayMs,
      outageMaxDelayMs,
    },
    'the configuration defaults are the consumer defaults',
  )
})

test('a wait longer than its maximum is refused at load, naming both variables', () => {
  assert.throws(
    () =>
      loadConfig({
        env: { WORKER_RETRY_DELAY_MS: '50', WORKER_RETRY_MAX_DELAY_MS: '10' },
        envFile: '/nonexistent/.env',
      }),
    (error: unknown) =>
      hasErrorCode(error, 'CONFIG_INVALID') &&
      /WORKER_RETRY_DELAY_MS \(50\) must not exceed WORKER_RETRY_MAX_DELAY_MS \(10\)/.test(
        (error as Error).message,
      ),
  )
  assert.throws(
    () =>
      loadConfig({
        env: { WORKER_OUTAGE_DELAY_MS: '5000', WORKER_OUTAGE_MAX_DELAY_MS: '100' },
        envFile: '/nonexistent/.env',
      }),
    /WORKER_OUTAGE_DELAY_MS \(5000\) must not exceed WORKER_OUTAGE_MAX_DELAY_MS \(100\)/,
  )
})
