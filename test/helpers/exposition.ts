import type { MetricType } from '../../support/metric-catalog.ts'

export interface ExposedMetric {
  type: MetricType
  /** Label names seen on its samples, `le` and `quantile` left out; undefined when it has no sample. */
  labels: Set<string> | undefined
  /** Every value the `role` label took. */
  roles: Set<string>
}

const SUFFIXES: Record<MetricType, string[]> = {
  counter: [''],
  gauge: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
}

/** The metrics of a Prometheus text page (`# TYPE` lines) with the labels and roles of their samples. */
export function parseExposition(page: string): Map<string, ExposedMetric> {
  const metrics = new Map<string, ExposedMetric>()
  const seriesToMetric = new Map<string, ExposedMetric>()
  for (const line of page.split('\n')) {
    const typeLine = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (typeLine !== null) {
      const [, name, type] = typeLine as unknown as [string, string, MetricType]
      const metric: ExposedMetric = { type, labels: undefined, roles: new Set() }
      metrics.set(name, metric)
      for (const suffix of SUFFIXES[type] ?? ['']) seriesToMetric.set(`${name}${suffix}`, metric)
      continue
    }
    if (line === '' || line.startsWith('#')) continue
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line)
    if (sample === null) throw new Error(`not a sample line: ${line}`)
    const metric = seriesToMetric.get(sample[1] as string)
    if (metric === undefined) throw new Error(`a sample without # TYPE: ${line}`)
    const labels = new Set<string>()
    for (const [, label, value] of (sample[2] ?? '').matchAll(
      /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g,
    )) {
      if (label === 'role') metric.roles.add(value as string)
      else if (label !== 'le' && label !== 'quantile') labels.add(label as string)
    }
    metric.labels = new Set([...(metric.labels ?? []), ...labels])
  }
  return metrics
}
