/**
 * Reads a Prometheus text page (what every role's /metrics serves) into samples, for the
 * operations plane's views. Written here because the one npm parser (parse-prometheus-text-format
 * 1.1.1) drops the labels of histogram series, and those carry the route.
 */

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

function unescapeLabel(value: string): string {
  return value.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c))
}

/** Every sample line of `page`; comments, blank and malformed lines are skipped. */
export function parseSamples(page: string): Sample[] {
  const samples: Sample[] = []
  for (const line of page.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = LINE.exec(line)
    if (match === null) continue
    const raw = match[3] as string
    const value =
      raw === '+Inf' ? Number.POSITIVE_INFINITY : raw === '-Inf' ? Number.NEGATIVE_INFINITY : Number(raw)
    if (Number.isNaN(value)) continue
    const labels: Record<string, string> = {}
    for (const [, name, text] of (match[2] ?? '').matchAll(LABEL))
      labels[name as string] = unescapeLabel(text as string)
    samples.push({ name: match[1] as string, labels, value })
  }
  return samples
}

/** The samples named `name`, optionally only those whose labels include `where`. */
export function samplesOf(
  samples: readonly Sample[],
  name: string,
  where: Record<string, string> = {},
): Sample[] {
  return samples.filter(
    (s) => s.name === name && Object.entries(where).every(([label, value]) => s.labels[label] === value),
  )
}

/** The sum of `samplesOf(...)`'s values; 0 when there are none. */
export function sumOf(samples: readonly Sample[], name: string, where: Record<string, string> = {}): number {
  return samplesOf(samples, name, where).reduce((sum, s) => sum + s.value, 0)
}

/** Sums by one label's value: `{value of label: sum}`. */
export function sumBy(samples: readonly Sample[], name: string, label: string): Record<string, number> {
  const result: Record<string, number> = {}
  for (const s of samplesOf(samples, name)) {
    const key = s.labels[label] ?? ''
    result[key] = (result[key] ?? 0) + s.value
  }
  return result
}

/**
 * The `q` quantile of a histogram from its cumulative `_bucket` counts (as Prometheus's
 * histogram_quantile: linear inside the bucket); `counts` maps upper bound to count. Undefined
 * without observations; the highest finite bound when it falls in +Inf.
 */
export function quantileOf(counts: ReadonlyMap<number, number>, q: number): number | undefined {
  const bounds = [...counts.keys()].sort((a, b) => a - b)
  const total =
    counts.get(Number.POSITIVE_INFINITY) ??
    (bounds.length > 0 ? (counts.get(bounds.at(-1) as number) ?? 0) : 0)
  if (!(total > 0)) return undefined
  const rank = q * total
  let previousBound = 0
  let previousCount = 0
  for (const bound of bounds) {
    const count = counts.get(bound) as number
    if (count >= rank) {
      if (bound === Number.POSITIVE_INFINITY) return previousBound
      const inBucket = count - previousCount
      return inBucket <= 0
        ? bound
        : previousBound + ((bound - previousBound) * (rank - previousCount)) / inBucket
    }
    previousBound = bound
    previousCount = count
  }
  return previousBound
}
