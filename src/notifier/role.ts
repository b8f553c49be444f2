import type { Config } from '../config/load.ts'
import { migrateToLatest } from '../db/migrate.ts'
import { createPoolMetrics } from '../db/pool-metrics.ts'
import { RetentionSweeper } from '../db/retention.ts'
import { openRoleDatabase } from '../db/role-database.ts'
import { bootstrapBrokers } from '../kafka/connection.ts'
import { replicationPolicyOf } from '../kafka/replication.ts'
import { ensureTopicsOn, PAYMENT_TOPICS } from '../kafka/topics.ts'
import { startOperationalServer } from '../observability/health.ts'
import type { Logger } from '../observability/logger.ts'
import { createMetricsRegistry } from '../observability/metrics.ts'
import { shutdownInOrder } from '../observability/shutdown.ts'
import type { RunningRole } from '../runtime/role.ts'
import { Dispatcher, webhookBacklog } from '../webhooks/dispatcher.ts'
import { createWebhookMetrics } from '../webhooks/metrics.ts'
import { webhookLogRetention } from '../webhooks/retention.ts'
import { SecretBox } from '../webhooks/secrets.ts'
import { WebhookSender } from '../webhooks/sender.ts'
import { consumerOptionsFromConfig, createConsumerMetrics, KeyedConsumer } from '../workers/consumer/index.ts'
import { consumerRoleChecks, workerIsOutage } from '../workers/role.ts'
import { NOTIFIER_CONSUMER, notifierHandler } from './handler.ts'

/** Every topic with payment events: merchants may want any of them. */
export const NOTIFIER_TOPICS = PAYMENT_TOPICS

/**
 * `payrail notifier`: consumes the payment topics (its own consumer group), records a webhook
 * delivery per event and endpoint in its dedupe transaction, and sends them from the database
 * (webhooks/dispatcher.ts); health and metrics on NOTIFIER_METRICS_PORT.
 */
export async function startNotifierRole(config: Config, logger: Logger): Promise<RunningRole> {
  const registry = createMetricsRegistry('notifier')
  const database = openRoleDatabase(
    config,
    logger,
    config.DB_POOL_MAX,
    undefined,
    createPoolMetrics(registry)(),
  )
  await migrateToLatest(database.db, database.dialect)
  const brokers = bootstrapBrokers(config)
  await ensureTopicsOn({
    brokers,
    clientId: `${config.KAFKA_CLIENT_ID}-notifier-admin`,
    retentionMs: config.KAFKA_TOPIC_RETENTION,
    ...replicationPolicyOf(config),
  })
  const box = new SecretBox(config.WEBHOOK_SECRET_KEY)
  if (!box.sealing)
    logger.warn('WEBHOOK_SECRET_KEY is not set: webhook signing secrets are stored unsealed (local use only)')
  const observer = createWebhookMetrics(registry, () => webhookBacklog(database.db, Date.now()))
  const sender = new WebhookSender({
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
  })
  const dispatcher = new Dispatcher({
    db: database.db,
    sender,
    box,
    logger,
    schedule: {
      baseMs: config.WEBHOOK_RETRY_DELAY_MS,
      capMs: config.WEBHOOK_RETRY_MAX_DELAY_MS,
      retryForMs: config.WEBHOOK_RETRY_FOR,
    },
    concurrency: config.WEBHOOK_CONCURRENCY,
    pollIntervalMs: config.WEBHOOK_POLL_INTERVAL_MS,
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    disableAfterMs: config.WEBHOOK_DISABLE_AFTER,
    consumer: NOTIFIER_CONSUMER,
    seenWindowMs: Math.floor(config.PROCESSED_EVENTS_RETENTION / 2),
    observer,
  })
  const handle = notifierHandler({
    db: database.db,
    recorded: (count) => {
      observer.recorded(count)
      // Even none: the event may be the earlier one a recorded delivery waits for.
      dispatcher.wake()
    },
  })
  const consumer = new KeyedConsumer({
    ...consumerOptionsFromConfig(config),
    groupId: `${config.KAFKA_CLIENT_ID}-notifier`,
    name: NOTIFIER_CONSUMER,
    topics: NOTIFIER_TOPICS,
    handler: (record) => handle(record.value ?? undefined),
    isOutage: workerIsOutage,
    logger: logger.child({ handler: NOTIFIER_CONSUMER }),
    observer: createConsumerMetrics(registry, NOTIFIER_CONSUMER),
  })
  const retention = new RetentionSweeper({
    tasks: [webhookLogRetention(database.db, config.WEBHOOK_LOG_RETENTION)],
    logger,
  })
  retention.start()
  const shutdown = () =>
    shutdownInOrder(
      [
        ['consumer', () => consumer.close()],
        ['dispatcher', () => dispatcher.close()],
        ['retention sweep', () => retention.stop()],
        ['sender', () => sender.close()],
        ['operational server', () => server.close()],
        ['database', () => database.close()],
      ],
      logger,
    )
  const server = await startOperationalServer({
    host: config.HOST,
    port: config.NOTIFIER_METRICS_PORT,
    logger,
    registry,
    checks: consumerRoleChecks(database.db, brokers, config.KAFKA_CLIENT_ID, [
      { name: NOTIFIER_CONSUMER, consumer },
    ]),
  })
  try {
    dispatcher.start()
    await consumer.start()
  } catch (error) {
    await shutdown().catch(() => {
      // Each failed step is logged by shutdownInOrder; the start-up error is the one to report.
    })
    throw error
  }
  logger.info({ topics: NOTIFIER_TOPICS }, 'notifier started')
  return { url: `http://${config.HOST}:${config.NOTIFIER_METRICS_PORT}`, close: shutdown }
}
