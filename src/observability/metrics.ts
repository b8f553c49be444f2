import { collectDefaultMetrics, Registry } from 'prom-client'

/**
 * One registry per process (never prom-client's global one), with the process metrics
 * (CPU, memory, event-loop lag, GC) and a `role` label on every series.
 */
export function createMetricsRegistry(role: string): Registry {
  const registry = new Registry()
  registry.setDefaultLabels({ role })
  collectDefaultMetrics({ register: registry, prefix: 'payrail_' })
  return registry
}
