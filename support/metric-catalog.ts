/**
 * The metric catalog of docs/metrics.md, for tests of alert rules, dashboards and the roles' own
 * `/metrics`: which `payrail_*` metrics exist, of what type, with which labels, in which roles.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../src/cli/context.ts'

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary'

export interface CatalogEntry {
  type: MetricType
  /** Label names besides `role` (every series has it), as documented. */
  labels: string[]
  roles: string[]
}

export type MetricCatalog = Map<string, CatalogEntry>

const TYPES: readonly string[] = ['counter', 'gauge', 'histogram', 'summary']

/**
 * prom-client's default metrics as every role exports them (collectDefaultMetrics with the
 * `payrail_` prefix, Node 24 on Linux), listed from a real scrape of all five roles.
 */
export const DEFAULT_METRICS: ReadonlyMap<string, MetricType> = new Map<string, MetricType>([
  ['payrail_process_cpu_user_seconds_total', 'counter'],
  ['payrail_process_cpu_system_seconds_total', 'counter'],
  ['payrail_process_cpu_seconds_total', 'counter'],
  ['payrail_process_start_time_seconds', 'gauge'],
  ['payrail_process_resident_memory_bytes', 'gauge'],
  ['payrail_process_virtual_memory_bytes', 'gauge'],
  ['payrail_process_heap_bytes', 'gauge'],
  ['payrail_process_open_fds', 'gauge'],
  ['payrail_process_max_fds', 'gauge'],
  ['payrail_nodejs_eventloop_lag_seconds', 'gauge'],
  ['payrail_nodejs_eventloop_lag_min_seconds', 'gauge'],
  ['payrail_nodejs_eventloop_lag_max_seconds', 'gauge'],
  ['payrail_nodejs_eventloop_lag_mean_seconds', 'gauge'],
  ['payrail_nodejs_eventloop_lag_stddev_seconds', 'gauge'],
  ['payrail_nodejs_eventloop_lag_p50_seconds', 'gauge'],
  ['payrail_nodejs_eventloop_lag_p90_seconds', 'gauge'],
  ['payrail_nodejs_eventloop_lag_p99_seconds', 'gauge'],
  ['payrail_nodejs_active_resources', 'gauge'],
  ['payrail_nodejs_active_resources_total', 'gauge'],
  ['payrail_nodejs_active_handles', 'gauge'],
  ['payrail_nodejs_active_handles_total', 'gauge'],
  ['payrail_nodejs_active_requests', 'gauge'],
  ['payrail_nodejs_active_requests_total', 'gauge'],
  ['payrail_nodejs_heap_size_total_bytes', 'gauge'],
  ['payrail_nodejs_heap_size_used_bytes', 'gauge'],
  ['payrail_nodejs_external_memory_bytes', 'gauge'],
  ['payrail_nodejs_heap_space_size_total_bytes', 'gauge'],
  ['payrail_nodejs_heap_space_size_used_bytes', 'gauge'],
  ['payrail_nodejs_heap_space_size_available_bytes', 'gauge'],
  ['payrail_nodejs_version_info', 'gauge'],
  ['payrail_nodejs_gc_duration_seconds', 'histogram'],
])

/** The names in a table cell: each in backticks, comma-separated; an empty cell names none. */
function names(cell: string): string[] {
  return cell
    .split(',')
    .map((part) => part.trim().replaceAll('`', ''))
    .filter((part) => part !== '')
}

/** Parses the metric table of `markdown` (docs/metrics.md); a malformed row is an error naming it. */
export function parseMetricCatalog(markdown: string): MetricCatalog {
  const catalog: MetricCatalog = new Map()
  for (const line of markdown.split('\n')) {
    if (!line.startsWith('| `')) continue
    const cells = line.split('|').slice(1, -1)
    const [metric, type, labels, roles] = cells.map((cell) => cell.trim())
    const name = /^`([a-zA-Z_:][a-zA-Z0-9_:]*)`$/.exec(metric ?? '')?.[1]
    if (cells.length !== 5 || name === undefined || type === undefined || !TYPES.includes(type))
      throw new Error(
        `docs/metrics.md: malformed row (want | \`name\` | type | labels | roles | meaning |): ${line}`,
      )
    if (catalog.has(name)) throw new Error(`docs/metrics.md: ${name} is listed twice`)
    catalog.set(name, { type: type as MetricType, labels: names(labels ?? ''), roles: names(roles ?? '') })
  }
  return catalog
}

/** The catalog of `<root>/docs/metrics.md` (the repository's by default). */
export function readMetricCatalog(root: string = ROOT): MetricCatalog {
  return parseMetricCatalog(readFileSync(join(root, 'docs', 'metrics.md'), 'utf8'))
}

/** The series names Prometheus stores for a metric of `type` named `name`. */
export function seriesOf(name: string, type: MetricType): string[] {
  if (type === 'histogram') return [`${name}_bucket`, `${name}_sum`, `${name}_count`]
  if (type === 'summary') return [name, `${name}_sum`, `${name}_count`]
  return [name]
}

/** Every series name a PromQL query over payrail's roles may use: the catalog's and the default Node metrics'. */
export function seriesNames(catalog: MetricCatalog): Set<string> {
  const series = new Set<string>()
  for (const [name, entry] of catalog) for (const one of seriesOf(name, entry.type)) series.add(one)
  for (const [name, type] of DEFAULT_METRICS) for (const one of seriesOf(name, type)) series.add(one)
  return series
}
