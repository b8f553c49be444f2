import { Gauge, type Registry } from 'prom-client'
import type { BreakerState } from './client.ts'

/** A circuit breaker's state as a gauge value: 0 closed, 1 half-open, 2 open. */
export const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 }

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
    help: 'Acquirer circuit breaker per operation: 0 closed, 1 half-open, 2 open',
    labelNames: ['operation'] as const,
    registers: [registry],
  })
  for (const operation of operations) gauge.set({ operation }, 0)
  return (operation, state) => gauge.set({ operation }, BREAKER_VALUE[state])
}
