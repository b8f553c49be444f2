import { Type } from 'typebox'
import type { Logger } from '../observability/logger.ts'
import { type OptionRule, wholeNumber } from '../runtime/options.ts'
import type { LeaseManager } from './leases.ts'
import type { KafkaPublisher } from './publisher.ts'
import type { RelayObserver } from './relay-observer.ts'
import type { OutboxStore } from './store.ts'

export interface RelayOptions {
  store: OutboxStore
  /** The Kafka producer side: batches to their topics, refused records to payment.dlq. */
  publisher: Pick<KafkaPublisher, 'send' | 'sendDead'>
  leases: LeaseManager
  logger: Logger
  /** Receives the relay's measurements (`createRelayMetrics`). Default: none. */
  observer?: RelayObserver | undefined
  /** Rows per poll and per send. Default: 1000 (OUTBOX_BATCH_SIZE). */
  batchSize: number
  /** Wait between polls that found less than a full batch. Default: 250 ms (OUTBOX_POLL_INTERVAL_MS). */
  pollIntervalMs: number
  /**
   * Least time between the starts of polls that new rows asked for (PostgreSQL's notifications),
   * so that many commits share a poll and a send. Default: 50 ms (OUTBOX_MIN_POLL_GAP_MS)
   */
  minPollGapMs: number
  /** Attempts of a record the broker refuses before it goes to payment.dlq. Default: 20 (OUTBOX_MAX_RETRIES). */
  maxRetries: number
  /** First retry delay; doubles per attempt, with jitter, up to five minutes. Default: 5000 ms (OUTBOX_RETRY_INTERVAL_MS). */
  retryIntervalMs: number
  /** A send's time limit; a bucket is published only while its lease outlasts it. Default: 3000 ms (KAFKA_DELIVERY_TIMEOUT_MS). */
  deliveryTimeoutMs: number
  /** Records the after-commit hand-off may queue; beyond that they wait for the poll. Default: 10000. */
  fastPathCapacity: number
  /** Default: `Date.now`. */
  now: () => number
  /** Random numbers in [0, 1) for the retries' jitter. Default: `Math.random`. */
  random: () => number
}

export type RelayComponents = 'store' | 'publisher' | 'leases' | 'logger' | 'observer'

export const defaultRelayOptions: Omit<RelayOptions, RelayComponents> = {
  batchSize: 1000,
  pollIntervalMs: 250,
  minPollGapMs: 50,
  maxRetries: 20,
  retryIntervalMs: 5000,
  deliveryTimeoutMs: 3000,
  fastPathCapacity: 10_000,
  now: Date.now,
  random: Math.random,
}

export const relayOptionsSchema = Type.Object({
  batchSize: wholeNumber(1, 100_000),
  pollIntervalMs: wholeNumber(1),
  minPollGapMs: wholeNumber(0, 10_000),
  maxRetries: wholeNumber(1),
  retryIntervalMs: wholeNumber(1),
  deliveryTimeoutMs: wholeNumber(1),
  fastPathCapacity: wholeNumber(0),
})

export const relayOptionRules: OptionRule<RelayOptions>[] = [
  {
    // A lease renewed every third of its length must always outlast a send started on it.
    holds: (o) => o.leases.leaseMs >= 3 * o.deliveryTimeoutMs,
    problem: (o) =>
      `OUTBOX_LEASE_MS (${o.leases.leaseMs}) must be at least three times KAFKA_DELIVERY_TIMEOUT_MS (${o.deliveryTimeoutMs})`,
  },
]
