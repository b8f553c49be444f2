import { Gauge, type Registry } from 'prom-client'
import { BREAKER_GAUGE_LEGEND, BREAKER_GAUGE_VALUE, type BreakerState } from '../runtime/breaker.ts'

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
