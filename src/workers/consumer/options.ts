import { Type } from 'typebox'
import type { Config } from '../../config/load.ts'
import { bootstrapBrokers } from '../../kafka/connection.ts'
import { TOPICS } from '../../kafka/topics.ts'
import type { Logger } from '../../observability/logger.ts'
import {
  callable,
  nonEmptyText,
  type OptionRule,
  resolveOptions,
  wholeNumber,
} from '../../runtime/options.ts'
import type { DeadLetterSink } from './dead-letter.ts'
import { defaultIsOutage } from './failure-policy.ts'
import { type ConsumerObserver, noopObserver } from './observer.ts'
import type { ConsumedRecord } from './record.ts'

/** A commit's time limit; a rebalance may spend `revokeTimeoutMs` plus this before rejoining. */
export const COMMIT_TIMEOUT_MS = 5000

/**
 * Handles one record. Resolving means done (the record counts as finished and its offset may be
 * committed); it may resolve with an outcome name for the `processed` metric (`duplicate`,
 * `declined`…), else the outcome is `ok`. Rejecting means failed: the record is retried, or
 * dead-lettered (see `maxAttempts`, `isOutage`). The signal aborts when the consumer gives the
 * record up (stop or rebalance deadline passed): stop soon, the record will be delivered again.
 * Delivery is at least once, so a handler must tolerate seeing a record twice.
 */
export type RecordHandler = (record: ConsumedRecord, signal: AbortSignal) => Promise<unknown>

export interface KeyedConsumerOptions {
  /** Bootstrap brokers, e.g. `bootstrapBrokers(config)`. */
  brokers: string[]
  /** The consumer group: its members share the topics' partitions, and it owns the committed offsets. */
  groupId: string
  /** The topics to consume. */
  topics: string[]
  handler: RecordHandler
  logger: Logger
  /** Names the consumer in logs, in the metrics' `handler` label and in the `failed-by` dead-letter header. Default: `groupId`. */
  name?: string
  /** Kafka client id. Default: `payrail` (KAFKA_CLIENT_ID). */
  clientId?: string
  /** Receives the consumer's measurements (`createConsumerMetrics` for Prometheus). Default: none. */
  observer?: ConsumerObserver
  /** Records in flight or queued behind their key, at most; fetching pauses at this many. Default: 256 (WORKER_CONCURRENCY). */
  concurrency?: number
  /** Failed attempts (outages not counted) after which a record is dead-lettered. Default: 10 (WORKER_MAX_ATTEMPTS). */
  maxAttempts?: number
  /** Wait before the first retry of a failed record; doubles per attempt, with jitter. Default: 500 ms (WORKER_RETRY_DELAY_MS). */
  retryDelayMs?: number
  /** Longest wait between two attempts. Default: 30000 ms (WORKER_RETRY_MAX_DELAY_MS). */
  retryMaxDelayMs?: number
  /** Wait before trying a record again after an outage error; doubles while the outage lasts, with jitter. Default: 1000 ms (WORKER_OUTAGE_DELAY_MS). */
  outageDelayMs?: number
  /** Longest wait between two tries during an outage (they go on as long as the outage does). Default: 30000 ms (WORKER_OUTAGE_MAX_DELAY_MS). */
  outageMaxDelayMs?: number
  /** Whether an error means a dependency is down rather than the record being bad: such failures never use up attempts nor dead-letter. Default: `defaultIsOutage`. */
  isOutage?: (error: unknown) => boolean
  /** Where records that failed for good go. Default: `payment.dlq`. */
  deadLetterTopic?: string
  /** Sends the dead letters. Default: a `KafkaDeadLetterSink` on `brokers` and `deadLetterTopic`. */
  deadLetterSink?: DeadLetterSink
  /** Where a partition without a committed offset starts. Default: `earliest` (nothing published before the group existed is skipped). */
  startFrom?: 'earliest' | 'latest'
  /** How often finished offsets are committed (they also are on rebalance and stop). Default: 1000 ms. */
  commitIntervalMs?: number
  /** How long `close()` lets the records already taken (running or queued behind their key) finish before aborting them, and a rebalance under way finish before the last commit (past it, what finished since the previous commit is delivered again). Default: 10000 ms. */
  closeTimeoutMs?: number
  /** Same on a rebalance, for the records of revoked partitions (the other members wait meanwhile); at most `sessionTimeoutMs` minus 5000 ms. Default: 10000 ms. */
  revokeTimeoutMs?: number
  /** The group forgets a member silent for this long and moves its partitions. Default: 30000 ms. */
  sessionTimeoutMs?: number
  /** How long the group waits for its members to rejoin during a rebalance; at least `sessionTimeoutMs`. Default: 60000 ms. */
  rebalanceTimeoutMs?: number
  /** Heartbeat period; below `sessionTimeoutMs`. Default: 3000 ms. */
  heartbeatIntervalMs?: number
  /** Longest time the broker holds a fetch that has no records yet. Default: 500 ms. */
  fetchMaxWaitMs?: number
  /** Most bytes one fetch returns. Default: 1048576 (1 MiB). */
  fetchMaxBytes?: number
  /** How often the lag per partition is measured. Default: 10000 ms. */
  lagIntervalMs?: number
  /** First wait before reconnecting after the Kafka session failed (doubles up to 30 s). Default: 1000 ms. */
  restartDelayMs?: number
  /** Random numbers in [0, 1) for the jitter. Default: `Math.random`. */
  random?: () => number
}

export type ResolvedConsumerOptions = Required<Omit<KeyedConsumerOptions, 'deadLetterSink'>> & {
  deadLetterSink: DeadLetterSink | undefined
}

/** The options that come from payrail's configuration (KAFKA_BROKERS, KAFKA_CLIENT_ID, WORKER_*). */
export function consumerOptionsFromConfig(
  config: Pick<
    Config,
    | 'KAFKA_BROKERS'
    | 'KAFKA_CLIENT_ID'
    | 'WORKER_CONCURRENCY'
    | 'WORKER_MAX_ATTEMPTS'
    | 'WORKER_RETRY_DELAY_MS'
    | 'WORKER_RETRY_MAX_DELAY_MS'
    | 'WORKER_OUTAGE_DELAY_MS'
    | 'WORKER_OUTAGE_MAX_DELAY_MS'
  >,
): Pick<
  KeyedConsumerOptions,
  | 'brokers'
  | 'clientId'
  | 'concurrency'
  | 'maxAttempts'
  | 'retryDelayMs'
  | 'retryMaxDelayMs'
  | 'outageDelayMs'
  | 'outageMaxDelayMs'
> {
  return {
    brokers: bootstrapBrokers(config),
    clientId: config.KAFKA_CLIENT_ID,
    concurrency: config.WORKER_CONCURRENCY,
    maxAttempts: config.WORKER_MAX_ATTEMPTS,
    retryDelayMs: config.WORKER_RETRY_DELAY_MS,
    retryMaxDelayMs: config.WORKER_RETRY_MAX_DELAY_MS,
    outageDelayMs: config.WORKER_OUTAGE_DELAY_MS,
    outageMaxDelayMs: config.WORKER_OUTAGE_MAX_DELAY_MS,
  }
}

/** The options without a default (`name` defaults to `groupId`). */
type RequiredConsumerOption = 'brokers' | 'groupId' | 'topics' | 'handler' | 'logger' | 'name'

/** The defaults of every option that has one (besides `name`, which defaults to `groupId`). */
export const defaultKeyedConsumerOptions: Omit<ResolvedConsumerOptions, RequiredConsumerOption> = {
  clientId: 'payrail',
  observer: noopObserver,
  concurrency: 256,
  maxAttempts: 10,
  retryDelayMs: 500,
  retryMaxDelayMs: 30_000,
  outageDelayMs: 1000,
  outageMaxDelayMs: 30_000,
  isOutage: defaultIsOutage,
  deadLetterTopic: TOPICS.dlq.name,
  deadLetterSink: undefined,
  startFrom: 'earliest',
  commitIntervalMs: 1000,
  closeTimeoutMs: 10_000,
  revokeTimeoutMs: 10_000,
  sessionTimeoutMs: 30_000,
  rebalanceTimeoutMs: 60_000,
  heartbeatIntervalMs: 3000,
  fetchMaxWaitMs: 500,
  fetchMaxBytes: 1_048_576,
  lagIntervalMs: 10_000,
  restartDelayMs: 1000,
  random: Math.random,
}

/** An object field that has the method `method`. */
function withMethod(method: string, problem: string) {
  return Type.Refine(
    Type.Unknown({ problem }),
    (value) => typeof (value as Record<string, unknown> | null | undefined)?.[method] === 'function',
    () => problem,
  )
}

const hostPort = Type.String({ pattern: '^[^\\s,:]+:\\d+$' })

const schema = Type.Object({
  brokers: Type.Array(hostPort, { minItems: 1, problem: 'must be a non-empty list of host:port' }),
  groupId: nonEmptyText(),
  topics: Type.Array(nonEmptyText(), { minItems: 1, problem: 'must be a non-empty list of topic names' }),
  handler: callable(),
  logger: withMethod('child', 'must be a pino logger'),
  name: nonEmptyText(),
  clientId: nonEmptyText(),
  // Not checked: any object with the observer's methods.
  observer: Type.Unknown(),
  concurrency: wholeNumber(1),
  maxAttempts: wholeNumber(1),
  retryDelayMs: wholeNumber(0),
  retryMaxDelayMs: wholeNumber(0),
  outageDelayMs: wholeNumber(1),
  outageMaxDelayMs: wholeNumber(1),
  isOutage: callable(),
  deadLetterTopic: nonEmptyText(),
  deadLetterSink: Type.Optional(withMethod('send', 'must have a send method')),
  startFrom: Type.Union([Type.Literal('earliest'), Type.Literal('latest')], {
    problem: 'must be earliest or latest',
  }),
  commitIntervalMs: wholeNumber(10),
  closeTimeoutMs: wholeNumber(0),
  revokeTimeoutMs: wholeNumber(0),
  sessionTimeoutMs: wholeNumber(1),
  rebalanceTimeoutMs: wholeNumber(1),
  heartbeatIntervalMs: wholeNumber(1),
  fetchMaxWaitMs: wholeNumber(0),
  fetchMaxBytes: wholeNumber(1024),
  lagIntervalMs: wholeNumber(100),
  restartDelayMs: wholeNumber(1),
  random: callable(),
})

// Each rule names the fields it reads, so that it is checked beside the other fields' problems.
const rules: OptionRule<ResolvedConsumerOptions>[] = [
  {
    fields: ['retryDelayMs', 'retryMaxDelayMs'],
    holds: (o) => o.retryDelayMs <= o.retryMaxDelayMs,
    problem: (o) => `retryDelayMs (${o.retryDelayMs}) must not exceed retryMaxDelayMs (${o.retryMaxDelayMs})`,
  },
  {
    fields: ['outageDelayMs', 'outageMaxDelayMs'],
    holds: (o) => o.outageDelayMs <= o.outageMaxDelayMs,
    problem: (o) =>
      `outageDelayMs (${o.outageDelayMs}) must not exceed outageMaxDelayMs (${o.outageMaxDelayMs})`,
  },
  {
    // While a rebalance waits for the revoked partitions' records and their commit (up to
    // COMMIT_TIMEOUT_MS), this member sends no heartbeat: the group must not forget it meanwhile.
    fields: ['revokeTimeoutMs', 'sessionTimeoutMs'],
    holds: (o) => o.revokeTimeoutMs + COMMIT_TIMEOUT_MS <= o.sessionTimeoutMs,
    problem: (o) =>
      `revokeTimeoutMs (${o.revokeTimeoutMs}) plus ${COMMIT_TIMEOUT_MS} ms (the commit) must not exceed sessionTimeoutMs (${o.sessionTimeoutMs})`,
  },
  {
    fields: ['sessionTimeoutMs', 'rebalanceTimeoutMs'],
    holds: (o) => o.sessionTimeoutMs <= o.rebalanceTimeoutMs,
    problem: (o) =>
      `rebalanceTimeoutMs (${o.rebalanceTimeoutMs}) must be at least sessionTimeoutMs (${o.sessionTimeoutMs})`,
  },
  {
    fields: ['heartbeatIntervalMs', 'sessionTimeoutMs'],
    holds: (o) => o.heartbeatIntervalMs < o.sessionTimeoutMs,
    problem: (o) =>
      `heartbeatIntervalMs (${o.heartbeatIntervalMs}) must be below sessionTimeoutMs (${o.sessionTimeoutMs})`,
  },
]

/** Applies the defaults and checks every option; throws CONFIG_INVALID naming each bad one. */
export function resolveConsumerOptions(options: KeyedConsumerOptions): ResolvedConsumerOptions {
  // The options without a default are taken as given: a missing one is named as bad.
  const { brokers, groupId, topics, handler, logger } = options
  const defaults: ResolvedConsumerOptions = {
    ...defaultKeyedConsumerOptions,
    brokers,
    groupId,
    topics,
    handler,
    logger,
    name: groupId,
  }
  return resolveOptions<ResolvedConsumerOptions>('consumer', schema, defaults, options, rules)
}
