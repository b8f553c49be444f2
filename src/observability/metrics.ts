import { readFileSync } from 'node:fs'
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client'

/** payrail's version from package.json, read once when this module loads. */
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version

/**
 * One registry per process (never prom-client's global one), with the process metrics
 * (CPU, memory, event-loop lag, GC), `payrail_build_info{version,node}` and a `role` label on
 * every series.
 */
export function createMetricsRegistry(role: string): Registry {
  const registry = new Registry()
  registry.setDefaultLabels({ role })
  collectDefaultMetrics({ register: registry, prefix: 'payrail_' })
  new Gauge({
    name: 'payrail_build_info',
    help: "Always 1; payrail's version (package.json) and Node's",
    labelNames: ['version', 'node'] as const,
    registers: [registry],
  }).set({ version: VERSION, node: process.version }, 1)
  return registry
}
