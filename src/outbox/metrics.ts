import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { BREAKER_GAUGE_LEGEND, BREAKER_GAUGE_VALUE } from '../runtime/breaker.ts'
import type { RelayObserver } from './relay-observer.ts'

/** The relay's metrics, reported through RelayObserver; backlog gauges are set by `backlog`. */
export function createRelayMetrics(registry: Registry) {
  const published = new Counter({
    name: 'payrail_outbox_published_total',
    help: 'Outbox events acknowledged by Kafka, per topic',
    labelNames: ['topic'] as const,
    registers: [registry],
  })
  const commitToAck = new Histogram({
    name: 'payrail_outbox_commit_to_ack_seconds',
    help: 'Time from the commit of an outbox row to its acknowledgement by Kafka',
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  })
  const batch = new Histogram({
    name: 'payrail_outbox_batch_size',
    help: 'Events per send',
    buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000],
    registers: [registry],
  })
  const failures = new Counter({
    name: 'payrail_outbox_failures_total',
    help: 'Failed sends by reason: outage (cluster unavailable), record (refused by the broker), breaker_open',
    labelNames: ['reason'] as const,
    registers: [registry],
  })
  const dead = new Counter({
    name: 'payrail_outbox_dead_letters_total',
    help: 'Events sent to payment.dlq',
    registers: [registry],
  })
  const breaker = new Gauge({
    name: 'payrail_outbox_breaker_state',
    help: `Kafka circuit breaker: ${BREAKER_GAUGE_LEGEND}`,
    registers: [registry],
  })
  const buckets = new Gauge({
    name: 'payrail_outbox_buckets_held',
    help: 'Outbox buckets this relay leases',
    registers: [registry],
  })
  const scans = new Counter({
    name: 'payrail_outbox_scans_total',
    help: 'Scans of the outbox backlog that reached its end; an idle relay adds one per poll interval',
    registers: [registry],
  })
  const pending = new Gauge({
    name: 'payrail_outbox_pending',
    help: 'Unpublished outbox rows',
    registers: [registry],
  })
  const oldest = new Gauge({
    name: 'payrail_outbox_oldest_pending_age_seconds',
    help: 'Age of the oldest unpublished outbox row',
    registers: [registry],
  })
  const lastPublish = new Gauge({
    name: 'payrail_outbox_last_publish_timestamp_seconds',
    help: 'Unix time of the last send Kafka acknowledged; 0 until the first',
    registers: [registry],
  })
  breaker.set(BREAKER_GAUGE_VALUE.closed)

  const observer: RelayObserver = {
    published: (topic, count) => published.inc({ topic }, count),
    acknowledged: (atMs) => lastPublish.set(atMs / 1000),
    commitToAck: (seconds) => commitToAck.observe(seconds),
    batch: (size) => batch.observe(size),
    failure: (reason) => failures.inc({ reason }),
    dead: () => dead.inc(),
    breaker: (state) => breaker.set(BREAKER_GAUGE_VALUE[state]),
    buckets: (held) => buckets.set(held),
    scanned: () => scans.inc(),
  }
  return {
    observer,
    backlog: (count: number, oldestAgeSeconds: number) => {
      pending.set(count)
      oldest.set(oldestAgeSeconds)
    },
  }
}
