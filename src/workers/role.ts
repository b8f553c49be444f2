import type { Kysely } from 'kysely'
import { AcquirerClient } from '../acquirer/client.ts'
import { createAcquirerBreakerGauge, createAcquirerCallHistogram } from '../acquirer/metrics.ts'
import type { Config } from '../config/load.ts'
import { pingDatabase } from '../db/database.ts'
import { migrateToLatest } from '../db/migrate.ts'
import { createPoolMetrics } from '../db/pool-metrics.ts'
import { RetentionSweeper } from '../db/retention.ts'
import { processedEventsRetention } from '../db/retention-tasks.ts'
import { openRoleDatabase } from '../db/role-database.ts'
import type { Database } from '../db/schema.ts'
import { hasErrorCode, PayrailError } from '../domain/errors.ts'
import type { AdminClientOptions } from '../kafka/connection.ts'
import { bootstrapBrokers, probeCluster } from '../kafka/connection.ts'
import { replicationPolicyOf } from '../kafka/replication.ts'
import {
  ensureTopicsOn,
  TOPICS_OF,
  topicRetentionsOn,
  WORKER_HANDLERS,
  type WorkerHandler,
} from '../kafka/topics.ts'
import { type ReadinessCheck, startOperationalServer } from '../observability/health.ts'
import type { Logger } from '../observability/logger.ts'
import { createMetricsRegistry } from '../observability/metrics.ts'
import { shutdownInOrder } from '../observability/shutdown.ts'
import type { RunningRole } from '../runtime/role.ts'
import {
  type ConsumedRecord,
  consumerOptionsFromConfig,
  createConsumerMetrics,
  defaultIsOutage,
  KeyedConsumer,
} from './consumer/index.ts'
import { LedgerHandler } from './ledger.ts'
import { RefundHandler } from './refund.ts'
import { SettlementHandler } from './settlement.ts'

export { TOPICS_OF, WORKER_HANDLERS, type WorkerHandler } from '../kafka/topics.ts'

/** Parses `settlement,refund,ledger` (any subset); names the unknown ones. */
export function parseHandlers(list: string | undefined): WorkerHandler[] {
  if (list === undefined || list.trim() === '') return [...WORKER_HANDLERS]
  const names = list.split(',').map((name) => name.trim())
  const unknown = names.filter((name) => !WORKER_HANDLERS.includes(name as WorkerHandler))
  if (unknown.length > 0 || names.length === 0)
    throw new PayrailError(
      'USAGE',
      `unknown worker handler ${unknown.map((name) => JSON.stringify(name)).join(', ')}: choose from ${WORKER_HANDLERS.join(', ')}`,
    )
  return [...new Set(names as WorkerHandler[])]
}

/**
 * A slow acquirer, or one whose answer leaves the outcome unknown (a bare 5xx, a reset after
 * sending), is an outage too: the settle or refund may have happened, and the retry with the
 * same reference gets the acquirer's first answer, so it waits without using attempts instead
 * of being dead-lettered with the money possibly moved.
 */
export function workerIsOutage(error: unknown): boolean {
  return (
    defaultIsOutage(error) ||
    hasErrorCode(error, 'ACQUIRER_TIMEOUT') ||
    hasErrorCode(error, 'ACQUIRER_OUTCOME_UNKNOWN')
  )
}

/**
 * A record the topic still holds can be delivered again (a reset group, a replay); once its
 * processed_events mark is pruned it would apply twice. So the marks must outlive the records.
 */
async function refuseLongerRetention(
  admin: AdminClientOptions,
  topics: string[],
  config: Config,
): Promise<void> {
  const retentions = await topicRetentionsOn(admin, topics)
  const longer = topics.filter((topic) => (retentions.get(topic) ?? 0) >= config.PROCESSED_EVENTS_RETENTION)
  if (longer.length > 0)
    throw new PayrailError(
      'CONFIG_INVALID',
      `PROCESSED_EVENTS_RETENTION (${config.PROCESSED_EVENTS_RETENTION} ms) must exceed the retention.ms of the topics it dedupes: ${longer
        .map((topic) => `${topic} keeps ${retentions.get(topic)} ms`)
        .join(', ')}; raise PROCESSED_EVENTS_RETENTION or lower the topics' retention.ms`,
    )
}

/**
 * The readiness of a role that consumes Kafka (the worker, the notifier): its database answers,
 * the cluster answers, and every consumer has joined its group (`/readyz` stays 503 until then;
 * joining can take a while on a new cluster, and a supervisor must not take that for a hang).
 */
export function consumerRoleChecks(
  db: Kysely<Database>,
  brokers: string[],
  clientId: string,
  consumers: { name: string; consumer: Pick<KeyedConsumer, 'status'> }[],
): ReadinessCheck[] {
  return [
    { name: 'database', check: () => pingDatabase(db) },
    {
      name: 'kafka',
      check: () => probeCluster({ brokers, clientId: `${clientId}-probe`, timeoutMs: 1500 }).then(() => {}),
    },
    {
      name: 'consumers',
      check: async () => {
        const waiting = consumers.filter(({ consumer }) => consumer.status().state !== 'running')
        if (waiting.length > 0)
          throw new Error(`not consuming yet: ${waiting.map(({ name }) => name).join(', ')}`)
      },
    },
  ]
}

/**
 * `payrail worker [settlement,refund,ledger]`: one key-ordered consumer group per handler, each
 * record applied once through the inbox; health and metrics on WORKER_METRICS_PORT.
 */
export async function startWorkerRole(
  config: Config,
  logger: Logger,
  handlers: readonly WorkerHandler[] = WORKER_HANDLERS,
): Promise<RunningRole> {
  const registry = createMetricsRegistry('worker')
  const poolObserver = createPoolMetrics(registry)()
  const database = openRoleDatabase(config, logger, config.DB_POOL_MAX, undefined, poolObserver)
  await migrateToLatest(database.db, database.dialect)
  const brokers = bootstrapBrokers(config)
  const admin = { brokers, clientId: `${config.KAFKA_CLIENT_ID}-worker-admin` }
  await ensureTopicsOn({
    ...admin,
    retentionMs: config.KAFKA_TOPIC_RETENTION,
    ...replicationPolicyOf(config),
  })
  await refuseLongerRetention(admin, [...new Set(handlers.flatMap((name) => TOPICS_OF[name]))], config)

  const needsAcquirer = handlers.includes('settlement') || handlers.includes('refund')
  const acquirer = needsAcquirer
    ? new AcquirerClient({
        url: config.ACQUIRER_URL,
        authorizeTimeoutMs: config.ACQUIRER_AUTH_TIMEOUT_MS,
        settleTimeoutMs: config.ACQUIRER_SETTLE_TIMEOUT_MS,
        // One connection per record the consumers may run at once, so records never queue for one.
        connections: config.WORKER_CONCURRENCY,
        observer: createAcquirerCallHistogram(registry),
      })
    : undefined
  if (acquirer !== undefined) {
    const breaker = createAcquirerBreakerGauge(registry, ['settle', 'refund'])
    acquirer.onBreakerStateChange((operation, state) => {
      breaker(operation, state)
      logger.warn({ operation, state }, 'acquirer circuit breaker changed state')
    })
  }

  const settlement = acquirer ? new SettlementHandler({ database, acquirer }) : undefined
  const refund = acquirer ? new RefundHandler({ database, acquirer }) : undefined
  const ledger = new LedgerHandler({ database })
  const apply: Record<WorkerHandler, (value: string | undefined) => Promise<string>> = {
    settlement: (value) => (settlement as SettlementHandler).handle(value),
    refund: (value) => (refund as RefundHandler).handle(value),
    ledger: (value) => ledger.handle(value),
  }
  const consumers = handlers.map(
    (name) =>
      new KeyedConsumer({
        ...consumerOptionsFromConfig(config),
        groupId: `${config.KAFKA_CLIENT_ID}-${name}`,
        name,
        topics: TOPICS_OF[name],
        handler: (record: ConsumedRecord) => apply[name](record.value ?? undefined),
        isOutage: workerIsOutage,
        logger: logger.child({ handler: name }),
        observer: createConsumerMetrics(registry, name),
      }),
  )
  const retention = new RetentionSweeper({
    tasks: [processedEventsRetention(database.db, config.PROCESSED_EVENTS_RETENTION)],
    logger,
  })
  retention.start()
  const shutdown = () =>
    shutdownInOrder(
      [
        // In parallel: each may wait out a rebalance, and together they must end within the
        // shutdown deadline.
        ['consumers', () => Promise.all(consumers.map((consumer) => consumer.close()))],
        ['retention sweep', () => retention.stop()],
        ['operational server', () => server.close()],
        ['acquirer client', () => acquirer?.close()],
        ['database', () => database.close()],
      ],
      logger,
    )
  // Alive at once, ready once every consumer has joined its group: joining can take a while
  // (a new cluster creates its offsets topic first), and a supervisor must not take that for a hang.
  const server = await startOperationalServer({
    host: config.HOST,
    port: config.WORKER_METRICS_PORT,
    logger,
    registry,
    checks: consumerRoleChecks(
      database.db,
      brokers,
      config.KAFKA_CLIENT_ID,
      handlers.map((name, i) => ({ name, consumer: consumers[i] as KeyedConsumer })),
    ),
  })
  try {
    await Promise.all(consumers.map((consumer) => consumer.start()))
  } catch (error) {
    await shutdown().catch(() => {
      // Each failed step is logged by shutdownInOrder; the start-up error is the one to report.
    })
    throw error
  }
  logger.info({ handlers }, 'worker started')
  return {
    url: `http://${config.HOST}:${config.WORKER_METRICS_PORT}`,
    close: shutdown,
  }
}
