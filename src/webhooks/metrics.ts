import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { Settled } from './deliveries.ts'

export interface WebhookObserver {
  /** Deliveries recorded by the notifier for one event. */
  recorded(count: number): void
  /** One attempt ended, with what became of its delivery. */
  attempt(settled: Settled, seconds: number): void
  /** An endpoint was disabled after failing for days. */
  endpointDisabled(): void
}

export const noopWebhookObserver: WebhookObserver = {
  recorded: () => {},
  attempt: () => {},
  endpointDisabled: () => {},
}

/**
 * The notifier's metrics. `backlog` is read from the database at each scrape, so every notifier
 * reports the same (shared) backlog: alerts take the max, not the sum.
 */
export function createWebhookMetrics(
  registry: Registry,
  backlog: () => Promise<{ pending: number; oldestAgeSeconds: number }>,
): WebhookObserver {
  const recorded = new Counter({
    name: 'payrail_webhook_recorded_total',
    help: 'Webhook deliveries recorded (one per event and endpoint that wants it)',
    registers: [registry],
  })
  const attempts = new Counter({
    name: 'payrail_webhook_attempts_total',
    help: 'Webhook delivery attempts, by what became of the delivery: delivered, retrying (failed, tried again later) or failed (given up)',
    labelNames: ['outcome'],
    registers: [registry],
  })
  // Most receivers answer in milliseconds; the timeout is 10 s by default.
  const duration = new Histogram({
    name: 'payrail_webhook_attempt_duration_seconds',
    help: 'Duration of one webhook delivery attempt, by result (ok, error)',
    labelNames: ['result'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  })
  const disabled = new Counter({
    name: 'payrail_webhook_endpoints_disabled_total',
    help: 'Webhook endpoints disabled after failing for WEBHOOK_DISABLE_AFTER',
    registers: [registry],
  })
  const read = () => backlog()
  new Gauge({
    name: 'payrail_webhook_pending',
    help: 'Webhook deliveries PENDING (due or waiting for a retry) to enabled endpoints',
    registers: [registry],
    async collect() {
      this.set((await read()).pending)
    },
  })
  new Gauge({
    name: 'payrail_webhook_oldest_pending_seconds',
    help: 'Age of the oldest PENDING webhook delivery to an enabled endpoint; 0 when none',
    registers: [registry],
    async collect() {
      this.set((await read()).oldestAgeSeconds)
    },
  })
  for (const outcome of ['delivered', 'retrying', 'failed']) attempts.labels(outcome)
  for (const result of ['ok', 'error']) duration.labels(result)
  return {
    recorded: (count) => recorded.inc(count),
    attempt: (settled, seconds) => {
      attempts.labels(settled).inc()
      duration.labels(settled === 'delivered' ? 'ok' : 'error').observe(seconds)
    },
    endpointDisabled: () => disabled.inc(),
  }
}
