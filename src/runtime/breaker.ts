import { CircuitState } from 'cockatiel'

/** A circuit breaker's state as payrail names it in logs, APIs and metrics. */
export type BreakerState = 'closed' | 'open' | 'half-open'

/** cockatiel's state as payrail's name; an isolated breaker counts as open. */
export function breakerStateOf(state: CircuitState): BreakerState {
  if (state === CircuitState.Closed) return 'closed'
  if (state === CircuitState.HalfOpen) return 'half-open'
  return 'open'
}

/** A breaker's state as a gauge value: 0 closed, 1 half-open, 2 open (every `…_breaker_state` metric). */
export const BREAKER_GAUGE_VALUE: Readonly<Record<BreakerState, number>> = {
  closed: 0,
  'half-open': 1,
  open: 2,
}

/** The help text's legend for those values. */
export const BREAKER_GAUGE_LEGEND = '0 closed, 1 half-open, 2 open'
