// PromQL fragments the dashboards repeat. Template variables appear only as `label=~"$var"`
// (the e2e test of the queries substitutes `.*` for them) and windows only as Grafana's
// `$__rate_interval` / `$__range` or a fixed SLO window.

/** `{a, b}` from the matchers given, or nothing when there are none. */
function selector(matchers: readonly string[]): string {
  const present = matchers.filter((matcher) => matcher !== '')
  return present.length === 0 ? '' : `{${present.join(', ')}}`
}

/** `metric{matchers}`. */
export function series(metric: string, ...matchers: string[]): string {
  return `${metric}${selector(matchers)}`
}

/** `rate(metric{matchers}[$__rate_interval])`. */
export function rate(metric: string, ...matchers: string[]): string {
  return `rate(${series(metric, ...matchers)}[$__rate_interval])`
}

/** `sum by (labels) (rate(…))`; no labels: one platform-wide series. */
export function sumRate(by: string, metric: string, ...matchers: string[]): string {
  return `${sumBy(by)}(${rate(metric, ...matchers)})`
}

/** `sum by (labels) `, or `sum` alone. */
export function sumBy(by: string): string {
  return by === '' ? 'sum' : `sum by (${by}) `
}

/** The `q` quantile of a histogram over `$__rate_interval`, one series per combination of `by`. */
export function quantile(q: number, histogram: string, by: string, ...matchers: string[]): string {
  const labels = by === '' ? 'le' : `le, ${by}`
  return `histogram_quantile(${q}, sum by (${labels}) (${rate(`${histogram}_bucket`, ...matchers)}))`
}

/** The mean of a histogram over `$__rate_interval`: rate of its sum over rate of its count. */
export function mean(histogram: string, by: string, ...matchers: string[]): string {
  return `${sumRate(by, `${histogram}_sum`, ...matchers)} / ${sumRate(by, `${histogram}_count`, ...matchers)}`
}

/** `label=~"$variable"`: the one form a template variable takes in a query. */
export function matches(label: string, variable = label): string {
  return `${label}=~"$${variable}"`
}
