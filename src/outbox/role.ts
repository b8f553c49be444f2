import type { Registry } from 'prom-client'
import type { Config } from '../config/load.ts'
import { type DatabaseHandle, pingDatabase } from '../db/database.ts'
import { migrateToLatest } from '../db/migrate.ts'
import { createPoolMetrics } from '../db/pool-metrics.ts'
import { RetentionSweeper } from '../db/retention.ts'
import { openRoleDatabase } from '../db/role-database.ts'
import { bootstrapBrokers, probeCluster } from '../kafka/connection.ts'
import { replicationPolicyOf } from '../kafka/replication.ts'
import { ensureTopicsOn } from '../kafka/topics.ts'
import { type ReadinessCheck, startOperationalServer } from '../observability/health.ts'
import type { Logger } from '../observability/logger.ts'
import { createMetricsRegistry } from '../observability/metrics.ts'
import { shutdownInOrder } from '../observability/shutdown.ts'
import { withDeadline } from '../runtime/deadline.ts'
import type { RunningRole } from '../runtime/role.ts'
import { outboxRetention } from './cleanup.ts'
import { LeaseManager } from './leases.ts'
import { createRelayMetrics } from './metrics.ts'
import { PostgresWakeup } from './postgres-wakeup.ts'
import { KafkaPublisher } from './publisher.ts'
import { OutboxRelay } from './relay.ts'
import { outboxBacklog } from './status.ts'
import { OutboxStore } from './store.ts'

/** A relay running in some process: its readiness checks and how to stop it cleanly. */
export interface RelayRuntime {
  relay: OutboxRelay
  readiness: ReadinessCheck[]
  /** Stops claiming, flushes and marks what is in flight, releases the leases. */
  close: () => Promise<void>
}

/**
 * Starts the relay, its cleanup and its backlog gauges over an open (migrated) database, with
 * its metrics in `registry`: the `payrail relay` role, or inside the api (API_EMBEDDED_RELAY).
 */
export async function startRelay(
  config: Config,
  logger: Logger,
  database: DatabaseHandle,
  registry: Registry,
): Promise<RelayRuntime> {
  const brokers = bootstrapBrokers(config)
  await ensureTopicsOn({
    brokers,
    clientId: `${config.KAFKA_CLIENT_ID}-relay-admin`,
    retentionMs: config.KAFKA_TOPIC_RETENTION,
    ...replicationPolicyOf(config),
  })

  const metrics = createRelayMetrics(registry)
  const publisher = new KafkaPublisher({
    brokers,
    clientId: `${config.KAFKA_CLIENT_ID}-relay`,
    requestTimeoutMs: config.KAFKA_REQUEST_TIMEOUT_MS,
    deliveryTimeoutMs: config.KAFKA_DELIVERY_TIMEOUT_MS,
    onLateFailure: (error) =>
      logger.debug({ err: error }, 'a timed-out send failed later; its events are sent again'),
  })
  const leases = new LeaseManager({
    db: database.db,
    leaseMs: config.OUTBOX_LEASE_MS,
    graceMs: config.KAFKA_DELIVERY_TIMEOUT_MS + 2000,
  })
  const store = new OutboxStore(database.db)
  const relay = new OutboxRelay({
    store,
    publisher,
    leases,
    logger,
    observer: metrics.observer,
    batchSize: config.OUTBOX_BATCH_SIZE,
    pollIntervalMs: config.OUTBOX_POLL_INTERVAL_MS,
    minPollGapMs: config.OUTBOX_MIN_POLL_GAP_MS,
    maxRetries: config.OUTBOX_MAX_RETRIES,
    retryIntervalMs: config.OUTBOX_RETRY_INTERVAL_MS,
    deliveryTimeoutMs: config.KAFKA_DELIVERY_TIMEOUT_MS,
  })
  const wakeup =
    database.dialect === 'postgres'
      ? new PostgresWakeup({ url: config.DATABASE_URL, onWake: () => relay.nudge(), logger })
      : undefined
  await wakeup?.start()
  relay.start()
  const cleanup = new RetentionSweeper({ tasks: [outboxRetention(store, config.OUTBOX_RETENTION)], logger })
  cleanup.start()

  const backlog = setInterval(() => {
    outboxBacklog(database.db).then(
      (backlog) => metrics.backlog(backlog.pending, backlog.oldestPendingAgeSeconds),
      (error: unknown) => logger.warn({ err: error }, 'could not read the outbox backlog for the metrics'),
    )
  }, 5000)
  logger.info({ instance: leases.id }, 'relay started')
  return {
    relay,
    readiness: [
      {
        name: 'kafka',
        check: () =>
          probeCluster({ brokers, clientId: `${config.KAFKA_CLIENT_ID}-probe`, timeoutMs: 1500 }).then(
            () => {},
          ),
      },
    ],
    close: () => {
      clearInterval(backlog)
      return shutdownInOrder(
        [
          ['database notifications', () => wakeup?.stop()],
          ['outbox cleanup', () => cleanup.stop()],
          ['relay', () => relay.stop()],
          // With the cluster unreachable, closing the producer could wait on requests that never
          // complete; everything unacknowledged is still in the outbox, so give it a bounded time.
          [
            'kafka producer',
            () =>
              withDeadline(publisher.close(), config.KAFKA_DELIVERY_TIMEOUT_MS, () =>
                logger.warn('the Kafka producer did not close in time; left behind'),
              ),
          ],
        ],
        logger,
      )
    },
  }
}

/** `payrail relay`: publishes the outbox to Kafka; health and metrics on RELAY_METRICS_PORT. */
export async function startRelayRole(config: Config, logger: Logger): Promise<RunningRole> {
  const registry = createMetricsRegistry('relay')
  const poolObserver = createPoolMetrics(registry)()
  const database = openRoleDatabase(config, logger, Math.min(config.DB_POOL_MAX, 8), undefined, poolObserver)
  await migrateToLatest(database.db, database.dialect)
  const runtime = await startRelay(config, logger, database, registry)
  const server = await startOperationalServer({
    host: config.HOST,
    port: config.RELAY_METRICS_PORT,
    logger,
    registry,
    checks: [{ name: 'database', check: () => pingDatabase(database.db) }, ...runtime.readiness],
  })
  return {
    url: `http://${config.HOST}:${config.RELAY_METRICS_PORT}`,
    close: () =>
      shutdownInOrder(
        [
          ['relay', () => runtime.close()],
          ['operational server', () => server.close()],
          ['database', () => database.close()],
        ],
        logger,
      ),
  }
}
