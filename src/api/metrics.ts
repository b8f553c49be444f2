import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { createAcquirerBreakerGauge, createAcquirerCallHistogram } from '../acquirer/metrics.ts'
import type { GroupCommitObserver } from '../db/group-commit.ts'
import type { Admission, AdmissionObserver } from './admission.ts'
import type { PaymentObserver } from './payment-service.ts'

/** The API's metrics; the service and the server report through the small interfaces this returns. */
export function createApiMetrics(registry: Registry) {
  const requests = new Histogram({
    name: 'payrail_http_request_duration_seconds',
    help: 'API requests by route template, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  })
  const payments = new Counter({
    name: 'payrail_payment_operations_total',
    help: 'Payment operations by outcome (approved, declined, accepted, replayed, or an error code)',
    labelNames: ['operation', 'outcome'] as const,
    registers: [registry],
  })
  const recovered = new Counter({
    name: 'payrail_authorizations_recovered_total',
    help: 'Authorize attempts resolved by the recovery sweep',
    labelNames: ['resolution'] as const,
    registers: [registry],
  })
  const recoveryFailures = new Counter({
    name: 'payrail_authorize_recovery_failures_total',
    help: 'Checks of one authorize attempt by the recovery sweep that failed and were backed off, by error code',
    labelNames: ['reason'] as const,
    registers: [registry],
  })
  const breaker = createAcquirerBreakerGauge(registry, ['authorize', 'settle', 'refund'])
  const acquirerCalls = createAcquirerCallHistogram(registry)
  const shed = new Counter({
    name: 'payrail_api_shed_total',
    help: 'Requests answered 503 OVERLOADED without being processed, by reason (queue_full, queue_timeout)',
    labelNames: ['reason'] as const,
    registers: [registry],
  })
  // Present from the start, so that rate() and increase() see the first shed request.
  for (const reason of ['queue_full', 'queue_timeout']) shed.inc({ reason }, 0)
  const admission: AdmissionObserver = { rejected: (reason) => shed.inc({ reason }) }
  /** In-flight and waiting gauges read from `current` at each scrape. */
  const admissionGauges = (current: Admission) => {
    new Gauge({
      name: 'payrail_api_requests_in_flight',
      help: 'API requests admitted and in progress (at most API_MAX_IN_FLIGHT)',
      registers: [registry],
      collect() {
        this.set(current.inFlight)
      },
    })
    new Gauge({
      name: 'payrail_api_requests_queued',
      help: 'API requests waiting for admission (at most API_MAX_QUEUED)',
      registers: [registry],
      collect() {
        this.set(current.waiting)
      },
    })
  }

  const groupSizes = new Histogram({
    name: 'payrail_db_group_commit_size',
    help: 'Requests whose writes one transaction committed (group commit; 1: a transaction alone)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [registry],
  })
  const groupSplits = new Counter({
    name: 'payrail_db_group_commit_splits_total',
    help: 'Group-commit batches that failed and ran again request by request',
    registers: [registry],
  })
  const groupCommit: GroupCommitObserver = {
    committed: (size) => groupSizes.observe(size),
    split: () => groupSplits.inc(),
  }

  const observer: PaymentObserver = {
    outcome: (operation, outcome) => payments.inc({ operation, outcome }),
    recovered: (resolution) => recovered.inc({ resolution }),
    recoveryFailed: (reason) => recoveryFailures.inc({ reason }),
  }
  return {
    observer,
    request: (route: string, method: string, status: number, seconds: number) =>
      requests.observe({ route, method, status: String(status) }, seconds),
    breaker,
    acquirerCalls,
    admission,
    admissionGauges,
    groupCommit,
  }
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>
