import type { BreakerState } from '../runtime/breaker.ts'

/** What the relay reports; its metrics (`createRelayMetrics`) implement it. */
export interface RelayObserver {
  published(topic: string, count: number): void
  /** Kafka acknowledged a send at `atMs` (ms since the epoch), before the events are marked published. */
  acknowledged(atMs: number): void
  commitToAck(seconds: number): void
  batch(size: number): void
  failure(reason: 'outage' | 'record' | 'breaker_open'): void
  dead(): void
  breaker(state: BreakerState): void
  buckets(held: number): void
  /** A scan of the backlog reached its end (a poll found less than a full batch). */
  scanned(): void
}
