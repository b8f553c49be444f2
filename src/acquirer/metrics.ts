import { Gauge, Histogram, type Registry } from 'prom-client'
import { BREAKER_GAUGE_LEGEND, BREAKER_GAUGE_VALUE, type BreakerState } from '../runtime/breaker.ts'
import type { AcquirerCallObserver } from './client.ts'

/**
 * `payrail_acquirer_breaker_state{operation}` for the operations a role calls (all closed at
 * first); returns the setter to hand to `AcquirerClient.onBreakerStateChange`.
 */
export function createAcquirerBreakerGauge(
  registry: Registry,
  operations: readonly string[],
): (operation: string, state: BreakerState) => void {
  const gauge = new Gauge({
    name: 'payrail_acquirer_breaker_state',
    help: `Acquirer circuit breaker per operation: ${BREAKER_GAUGE_LEGEND}`,
    labelNames: ['operation'] as const,
    registers: [registry],
  })
  for (const operation of operations) gauge.set({ operation }, 0)
  return (operation, state) => gauge.set({ operation }, BREAKER_GAUGE_VALUE[state])
}

/**
 * `payrail_acquirer_request_duration_seconds{call,outcome}`: every exchange with the acquirer as
 * the calling role saw it. Buckets span the simulator's 50–150 ms authorizations and 1–3 s
 * settlements up to the 5 s settle timeout.
 */
export function createAcquirerCallHistogram(registry: Registry): AcquirerCallObserver {
  const histogram = new Histogram({
    name: 'payrail_acquirer_request_duration_seconds',
    help: 'Exchanges with the acquirer by call (authorize, lookup, void, settle, refund) and outcome (answered, not_processed, timeout, unknown, refused)',
    labelNames: ['call', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 3, 5],
    registers: [registry],
  })
  return { exchanged: (call, outcome, seconds) => histogram.observe({ call, outcome }, seconds) }
}
