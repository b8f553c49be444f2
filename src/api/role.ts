import { AcquirerClient } from '../acquirer/client.ts'
import type { Config } from '../config/load.ts'
import { pingDatabase } from '../db/database.ts'
import { GroupCommitter } from '../db/group-commit.ts'
import { migrateToLatest } from '../db/migrate.ts'
import { createPoolMetrics } from '../db/pool-metrics.ts'
import { RetentionSweeper } from '../db/retention.ts'
import { authorizationAttemptsRetention, idempotencyRetention } from '../db/retention-tasks.ts'
import { openRoleDatabase } from '../db/role-database.ts'
import { bootstrapBrokers } from '../kafka/connection.ts'
import type { Logger } from '../observability/logger.ts'
import { createMetricsRegistry } from '../observability/metrics.ts'
import { shutdownInOrder } from '../observability/shutdown.ts'
import { KafkaOverview } from '../operations/kafka-view.ts'
import { LoadRuns } from '../operations/load-runs.ts'
import { RoleSampler } from '../operations/role-sampler.ts'
import type { CommitHandOff } from '../outbox/hand-off.ts'
import { startRelay } from '../outbox/role.ts'
import type { BreakerState } from '../runtime/breaker.ts'
import type { RunningRole } from '../runtime/role.ts'
import { SecretBox } from '../webhooks/secrets.ts'
import { Admission } from './admission.ts'
import { AuthorizeRecovery } from './authorize-recovery.ts'
import { createApiMetrics } from './metrics.ts'
import { PaymentReads } from './payment-reads.ts'
import { PaymentService } from './payment-service.ts'
import { buildApiServer } from './server.ts'

/**
 * `payrail api`: migrates the database, then serves the payment API and runs the authorize
 * recovery sweep until closed.
 */
export async function startApiRole(
  config: Config,
  logger: Logger,
  afterCommit?: CommitHandOff,
): Promise<RunningRole> {
  const registry = createMetricsRegistry('api')
  // With the embedded relay the api has two pools, told apart by a `pool` label.
  const poolObserver = createPoolMetrics(registry, config.API_EMBEDDED_RELAY ? ['main', 'relay'] : [])
  // A saturated pool answers 503 at once rather than holding requests until the gateway gives up.
  const database = openRoleDatabase(
    config,
    logger,
    config.DB_POOL_MAX,
    config.DB_POOL_ACQUIRE_TIMEOUT_MS,
    poolObserver(config.API_EMBEDDED_RELAY ? 'main' : undefined),
  )
  await migrateToLatest(database.db, database.dialect)
  const metrics = createApiMetrics(registry)
  const acquirer = new AcquirerClient({
    url: config.ACQUIRER_URL,
    authorizeTimeoutMs: config.ACQUIRER_AUTH_TIMEOUT_MS,
    settleTimeoutMs: config.ACQUIRER_SETTLE_TIMEOUT_MS,
    observer: metrics.acquirerCalls,
  })
  acquirer.onBreakerStateChange((operation, state) => {
    metrics.breaker(operation, state)
    logger.warn({ operation, state }, 'acquirer circuit breaker changed state')
  })
  // The embedded relay has its own connections, so that a burst of requests holding the api's
  // pool never stalls publishing, and the other way round.
  const relayDatabase = config.API_EMBEDDED_RELAY
    ? openRoleDatabase(
        config,
        logger.child({ component: 'embedded-relay' }),
        Math.min(config.DB_POOL_MAX, 8),
        undefined,
        poolObserver('relay'),
      )
    : undefined
  const relay = relayDatabase ? await startRelay(config, logger, relayDatabase, registry) : undefined
  const handOff = afterCommit ?? relay?.relay.commitHandOff()
  const writes = {
    database,
    acquirer,
    observer: metrics.observer,
    ...(handOff ? { afterCommit: handOff } : {}),
  }
  const admission = new Admission(
    {
      maxInFlight: config.API_MAX_IN_FLIGHT,
      maxQueued: config.API_MAX_QUEUED,
      queueTimeoutMs: config.API_QUEUE_TIMEOUT_MS,
    },
    metrics.admission,
  )
  metrics.admissionGauges(admission)
  const committer = new GroupCommitter(
    database,
    {
      maxBatch: config.DB_GROUP_COMMIT_MAX,
      lanes: config.DB_GROUP_COMMIT_LANES,
      ...(config.DB_GROUP_COMMIT_WAIT_MS === undefined ? {} : { waitMs: config.DB_GROUP_COMMIT_WAIT_MS }),
    },
    metrics.groupCommit,
  )
  const service = new PaymentService({ ...writes, committer })
  const recovery = new AuthorizeRecovery({
    ...writes,
    acquirerTimeoutMs: config.ACQUIRER_AUTH_TIMEOUT_MS,
    abandonedWatchMs: config.AUTH_ABANDONED_WATCH,
  })
  const operations = operationsOf(config, () => acquirer.breakerStates())
  const webhookBox = new SecretBox(config.WEBHOOK_SECRET_KEY)
  if (!webhookBox.sealing)
    logger.warn('WEBHOOK_SECRET_KEY is not set: webhook signing secrets are stored unsealed (local use only)')
  const app = await buildApiServer({
    logger,
    registry,
    metrics,
    db: database.db,
    service,
    reads: new PaymentReads(database.db),
    readiness: [{ name: 'database', check: () => pingDatabase(database.db) }, ...(relay?.readiness ?? [])],
    breakers: () => acquirer.breakerStates(),
    adminToken: config.ADMIN_TOKEN,
    deadLetters: { brokers: bootstrapBrokers(config), clientId: config.KAFKA_CLIENT_ID },
    operations,
    bodyLimit: config.API_BODY_LIMIT_BYTES,
    maxAmount: config.PAYMENT_MAX_AMOUNT,
    admission,
    webhooks: {
      box: webhookBox,
      policy: { allowHttp: config.WEBHOOK_ALLOW_HTTP, allowPrivate: config.WEBHOOK_ALLOW_PRIVATE },
      secretGraceMs: config.WEBHOOK_SECRET_GRACE,
    },
  })

  const retention = new RetentionSweeper({
    tasks: [
      idempotencyRetention(database.db, config.IDEMPOTENCY_RETENTION),
      authorizationAttemptsRetention(database.db, config.AUTH_ATTEMPTS_RETENTION),
    ],
    logger,
  })
  retention.start()
  recovery.start({
    intervalMs: config.AUTH_RECOVERY_INTERVAL_MS,
    olderThanMs: config.AUTH_RECOVERY_AFTER_MS,
    logger,
  })

  await app.listen({ host: config.API_HOST, port: config.API_PORT })
  return {
    url: `http://${config.API_HOST}:${config.API_PORT}`,
    close: () => {
      const sweeping = recovery.stop()
      return shutdownInOrder(
        [
          ['http server', () => app.close()],
          ['load run', () => operations.loadRuns.close()],
          ['authorize recovery sweep', () => sweeping],
          ['retention sweep', () => retention.stop()],
          ['embedded relay', () => relay?.close()],
          ['embedded relay database', () => relayDatabase?.close()],
          ['acquirer client', () => acquirer.close()],
          ['database', () => database.close()],
        ],
        logger,
      )
    },
  }
}

/** What the operations endpoints read: the roles of OPS_TARGETS, Kafka, and load runs against the gateway. */
function operationsOf(config: Config, breakers: () => Record<string, BreakerState>) {
  const sampler = new RoleSampler({
    targets: config.OPS_TARGETS,
    timeoutMs: config.OPS_SCRAPE_TIMEOUT_MS,
    minIntervalMs: config.OPS_SCRAPE_MIN_INTERVAL_MS,
  })
  const target =
    config.OPS_TARGETS.find((t) => t.role === 'gateway') ?? config.OPS_TARGETS.find((t) => t.role === 'api')
  return {
    sampler,
    kafka: new KafkaOverview({
      brokers: bootstrapBrokers(config),
      clientId: config.KAFKA_CLIENT_ID,
      sampler,
      breakers,
      cacheMs: config.OPS_SCRAPE_MIN_INTERVAL_MS,
    }),
    loadRuns: new LoadRuns({
      dir: config.LOAD_RUN_DIR,
      targetUrl: target?.url ?? `http://127.0.0.1:${config.GATEWAY_PORT}`,
      databaseUrl: config.DATABASE_URL,
      maxRate: config.LOAD_RUN_MAX_RATE,
      maxDurationSeconds: config.LOAD_RUN_MAX_DURATION_SECONDS,
    }),
    prometheusUrl: config.PROMETHEUS_URL,
    timeoutMs: config.OPS_SCRAPE_TIMEOUT_MS,
  }
}
