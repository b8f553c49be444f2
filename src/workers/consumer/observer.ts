/** Why a failed record is tried again: a counted failure, or an outage (never counted). */
export type RetryReason = 'failure' | 'outage'

/** How one handler call ended. */
export type CallResult = 'ok' | 'error' | 'outage'

/**
 * What the consumer reports, kept beside its logic rather than inside it: the Prometheus
 * implementation is `createConsumerMetrics`, tests may pass their own.
 */
export interface ConsumerObserver {
  /** One handler call ended after `seconds`. */
  handled(result: CallResult, seconds: number): void
  /** A record is done with: the handler's outcome (`ok` unless it named one) or `dead_letter`. */
  processed(outcome: string): void
  /** A failed call will be tried again. */
  retry(reason: RetryReason): void
  /** A record went to the dead-letter topic. */
  deadLettered(): void
  /** Records whose handler is running or which wait to be retried. */
  inFlight(count: number): void
  /** Records taken from Kafka that wait behind an earlier record of their key. */
  queued(count: number): void
  /**
   * Records of a partition not yet finished (its end offset minus its commit position), and the
   * age in seconds of the oldest of them known (lag-seconds.ts); null once the partition left
   * this consumer.
   */
  lag(topic: string, partition: number, records: number | null, seconds?: number): void
  /** Partitions this consumer owns. */
  assigned(partitions: number): void
}

export const noopObserver: ConsumerObserver = {
  handled: () => {},
  processed: () => {},
  retry: () => {},
  deadLettered: () => {},
  inFlight: () => {},
  queued: () => {},
  lag: () => {},
  assigned: () => {},
}
