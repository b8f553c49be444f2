import { Counter, Gauge, Histogram, type Metric, type Registry } from 'prom-client'
import type { ConsumerObserver } from './observer.ts'

interface MetricSpec {
  name: string
  help: string
  labelNames: string[]
  buckets?: number[]
}

/**
 * The consumer's metrics, one series per `handler` (the consumer's name) among their labels, so
 * that the settlement, refund and ledger consumers of one process share one registry.
 */
const METRICS = {
  processed: {
    name: 'payrail_worker_processed_total',
    help: 'Records done with, per handler and outcome (ok, dead_letter, or what the handler named, e.g. duplicate)',
    labelNames: ['handler', 'outcome'],
  },
  duration: {
    name: 'payrail_worker_processing_seconds',
    help: 'Duration of one handler call, per handler and result (ok, error, outage)',
    labelNames: ['handler', 'result'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30],
  },
  inFlight: {
    name: 'payrail_worker_in_flight',
    help: 'Records whose handler is running or which wait to be retried',
    labelNames: ['handler'],
  },
  queued: {
    name: 'payrail_worker_queued',
    help: 'Records taken from Kafka that wait behind an earlier record of their key',
    labelNames: ['handler'],
  },
  lag: {
    name: 'payrail_worker_lag',
    help: 'Records of a partition not yet finished: end offset minus commit position',
    labelNames: ['handler', 'topic', 'partition'],
  },
  lagSeconds: {
    name: 'payrail_worker_lag_seconds',
    help: 'Age, from its Kafka timestamp, of the oldest record of a partition not yet finished and committed; 0 when caught up',
    labelNames: ['handler', 'topic', 'partition'],
  },
  dead: {
    name: 'payrail_worker_dead_letters_total',
    help: 'Records sent to the dead-letter topic',
    labelNames: ['handler'],
  },
  retries: {
    name: 'payrail_worker_retries_total',
    help: 'Failed handler calls that will be tried again: failure (counted attempt) or outage (not counted)',
    labelNames: ['handler', 'reason'],
  },
  assigned: {
    name: 'payrail_worker_partitions_assigned',
    help: 'Partitions this consumer owns',
    labelNames: ['handler'],
  },
} satisfies Record<string, MetricSpec>

type MetricClass<T extends Metric> = new (config: MetricSpec & { registers: Registry[] }) => T

/** The metric `spec` names in `registry`, created there by the first consumer that asks for it. */
function shared<T extends Metric>(registry: Registry, Kind: MetricClass<T>, spec: MetricSpec): T {
  const existing = registry.getSingleMetric(spec.name) as T | undefined
  return existing ?? new Kind({ ...spec, registers: [registry] })
}

/**
 * The consumer's Prometheus metrics (see `METRICS`):
 * `payrail_worker_processed_total{handler,outcome}`, `payrail_worker_processing_seconds{handler,result}`,
 * `payrail_worker_in_flight`, `payrail_worker_queued`, `payrail_worker_lag{handler,topic,partition}`,
 * `payrail_worker_lag_seconds{handler,topic,partition}`,
 * `payrail_worker_dead_letters_total`, `payrail_worker_retries_total{handler,reason}`,
 * `payrail_worker_partitions_assigned`.
 */
export function createConsumerMetrics(registry: Registry, handler: string): ConsumerObserver {
  const processed = shared(registry, Counter, METRICS.processed)
  const duration = shared(registry, Histogram, METRICS.duration)
  const inFlight = shared(registry, Gauge, METRICS.inFlight)
  const queued = shared(registry, Gauge, METRICS.queued)
  const lag = shared(registry, Gauge, METRICS.lag)
  const lagSeconds = shared(registry, Gauge, METRICS.lagSeconds)
  const dead = shared(registry, Counter, METRICS.dead)
  const retries = shared(registry, Counter, METRICS.retries)
  const assigned = shared(registry, Gauge, METRICS.assigned)
  inFlight.set({ handler }, 0)
  queued.set({ handler }, 0)
  dead.inc({ handler }, 0)
  assigned.set({ handler }, 0)

  return {
    handled: (result, seconds) => duration.observe({ handler, result }, seconds),
    processed: (outcome) => processed.inc({ handler, outcome }),
    retry: (reason) => retries.inc({ handler, reason }),
    deadLettered: () => dead.inc({ handler }),
    inFlight: (count) => inFlight.set({ handler }, count),
    queued: (count) => queued.set({ handler }, count),
    lag: (topic, partition, records, seconds = 0) => {
      const labels = { handler, topic, partition: String(partition) }
      if (records === null) {
        lag.remove(labels)
        lagSeconds.remove(labels)
      } else {
        lag.set(labels, records)
        lagSeconds.set(labels, seconds)
      }
    },
    assigned: (partitions) => assigned.set({ handler }, partitions),
  }
}
