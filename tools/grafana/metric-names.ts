// The metric names a PromQL expression selects. Prometheus 2.42 (Debian's) has no parse API
// (`/api/v1/parse_query` came later; promtool only says whether an expression parses), so this
// is a small lexical pass, sound for any expression promtool accepts: what is left of it after
// removing strings, label matchers, ranges, label lists and numbers is names, and a name is a
// metric unless it is a function or aggregation (followed by `(`) or a keyword.

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'inf',
  'nan',
])

/** Every metric name `expr` selects (one that promtool accepts), e.g. `x_bucket` in `histogram_quantile(0.9, rate(x_bucket[5m]))`. */
export function metricNamesOf(expr: string): Set<string> {
  const skeleton = expr
    // Strings first: a `}` or `)` inside a label value must not end anything.
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    // Label lists of grouping and matching clauses: by (route), on (instance), group_left (a)…
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+-?[\w$]+/g, ' ')
    // Numbers, also `1e3` and `0x1f` whose letters would look like names.
    .replace(/(?<![\w:])(?:0x[\da-f]+|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)/gi, ' ')
  const names = new Set<string>()
  for (const match of skeleton.matchAll(/[A-Za-z_:][\w:]*/g)) {
    const name = match[0]
    const rest = skeleton.slice((match.index ?? 0) + name.length)
    if (KEYWORDS.has(name.toLowerCase()) || /^\s*\(/.test(rest)) continue
    names.add(name)
  }
  return names
}

/** The metric of a Grafana `label_values(metric{…}, label)` variable query; undefined for other forms. */
export function labelValuesMetric(query: string): string | undefined {
  const argument = /^\s*label_values\(\s*([^,]+),/.exec(query)?.[1]
  return argument === undefined ? undefined : [...metricNamesOf(argument)][0]
}
