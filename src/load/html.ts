/**
 * The run as one self-contained HTML page: the summary, and line charts drawn as inline SVG (no
 * script, no stylesheet or font from the network), so the file opens anywhere, offline.
 */
import type { LoadReport } from './report.ts'
import { SCRAPED, type ScrapedSeries } from './scrape.ts'

interface Series {
  name: string
  points: [number, number][]
}

const COLORS = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#7f7f7f',
]

export const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  )

const nice = (value: number) =>
  value >= 100 ? value.toFixed(0) : value >= 1 ? value.toFixed(1) : value.toPrecision(2)

export function lineChart(title: string, unit: string, series: Series[]): string {
  const width = 720
  const height = 240
  const left = 56
  const bottom = 28
  const plotted = series.filter((s) => s.points.length > 0)
  const xs = plotted.flatMap((s) => s.points.map(([x]) => x))
  const ys = plotted.flatMap((s) => s.points.map(([, y]) => y)).filter(Number.isFinite)
  const xMax = Math.max(1, ...xs)
  const top = Math.max(0, ...ys)
  const yMax = top > 0 ? top * 1.05 : 1
  const px = (x: number) => left + (x / xMax) * (width - left - 10)
  const py = (y: number) => height - bottom - (y / yMax) * (height - bottom - 10)
  const grid = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => {
      const y = py(yMax * f)
      return `<line x1="${left}" x2="${width - 10}" y1="${y}" y2="${y}" stroke="#ddd"/><text x="${left - 4}" y="${y + 4}" text-anchor="end" font-size="10">${nice(yMax * f)}</text>`
    })
    .join('')
  const ticks = [0, 0.25, 0.5, 0.75, 1]
    .map(
      (f) =>
        `<text x="${px(xMax * f)}" y="${height - 10}" text-anchor="middle" font-size="10">${nice(xMax * f)} s</text>`,
    )
    .join('')
  const lines = plotted
    .map((s, i) => {
      const d = s.points
        .filter(([, y]) => Number.isFinite(y))
        .map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${px(x).toFixed(1)},${py(y).toFixed(1)}`)
        .join('')
      return `<path d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5"/>`
    })
    .join('')
  const legend = plotted
    .map(
      (s, i) => `<span style="color:${COLORS[i % COLORS.length]}">■</span> ${escapeHtml(s.name)}&nbsp;&nbsp;`,
    )
    .join('')
  const body =
    plotted.length === 0
      ? '<p><em>no samples</em></p>'
      : `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${grid}${ticks}${lines}</svg><div class="legend">${legend}</div>`
  return `<section><h2>${escapeHtml(title)} <small>(${escapeHtml(unit)})</small></h2>${body}</section>`
}

export function htmlReport(report: LoadReport): string {
  const sec = report.seconds
  const at = (i: number) => i + 0.5
  const charts = [
    lineChart('Target vs achieved rate', 'per second, by due second', [
      {
        name: 'target',
        points: sec.filter((s) => Number.isFinite(s.target)).map((s) => [at(s.second), s.target]),
      },
      { name: 'started', points: sec.map((s) => [at(s.second), s.started]) },
      { name: `achieved (${report.mainStep} ok)`, points: sec.map((s) => [at(s.second), s.ok]) },
      { name: 'dropped', points: sec.map((s) => [at(s.second), s.dropped]) },
    ]),
    lineChart(`Latency of ${report.mainStep}`, 'ms, from the due time', [
      { name: 'p50', points: sec.filter((s) => s.ok > 0).map((s) => [at(s.second), s.p50]) },
      { name: 'p95', points: sec.filter((s) => s.ok > 0).map((s) => [at(s.second), s.p95]) },
      { name: 'p99', points: sec.filter((s) => s.ok > 0).map((s) => [at(s.second), s.p99]) },
    ]),
    lineChart(
      'Answers by status and code',
      'per second',
      Object.keys(report.answers).map((key) => ({
        name: key,
        points: sec.map((s) => [at(s.second), s.answers[key] ?? 0] as [number, number]),
      })),
    ),
    ...(Object.keys(SCRAPED) as ScrapedSeries[]).map((series) => {
      const roles = [
        ...new Set(report.scraped.filter((s) => s.values[series] !== undefined).map((s) => s.role)),
      ]
      return lineChart(
        SCRAPED[series],
        'scraped from /metrics',
        roles.map((role) => ({
          name: role,
          points: report.scraped
            .filter((s) => s.role === role && s.values[series] !== undefined)
            .map((s) => [s.at, s.values[series] as number]),
        })),
      )
    }),
  ]
  const rows = Object.entries(report.steps)
    .map(
      ([step, s]) =>
        `<tr><td>${escapeHtml(step)}</td><td>${s.count}</td><td>${nice(s.p50)}</td><td>${nice(s.p95)}</td><td>${nice(s.p99)}</td><td>${nice(s.max)}</td></tr>`,
    )
    .join('')
  const verdicts = report.thresholds
    .map(
      (v) =>
        `<li class="${v.passed ? 'ok' : 'fail'}">${v.passed ? 'ok' : 'FAIL'} ${escapeHtml(v.text)} (actual ${nice(v.actual)})</li>`,
    )
    .join('')
  const answers = Object.entries(report.answers)
    .sort((a, b) => b[1] - a[1])
    .map(([key, n]) => `${escapeHtml(key)}: ${n}`)
    .join(', ')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>payrail load ${escapeHtml(report.scenario)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:780px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}.legend{font-size:12px}.ok{color:#2ca02c}.fail{color:#d62728;font-weight:bold}h2{font-size:15px;margin-top:1.5em}</style>
</head><body>
<h1>payrail load ${escapeHtml(report.scenario)}</h1>
<p>${escapeHtml(report.url)}, ${escapeHtml(report.model)}, started ${escapeHtml(report.startedAt)}, ${report.durationSeconds.toFixed(1)} s offered.</p>
<p>Iterations: ${report.iterations.due} due, ${report.iterations.started} started, ${report.iterations.dropped} dropped, ${report.iterations.late} late. Target ${report.targetRate === null ? 'none (closed model)' : `${report.targetRate.toFixed(1)}/s`}, achieved ${report.achievedRate.toFixed(1)}/s, errors ${(report.errorShare * 100).toFixed(3)} %.</p>
<p>Answers: ${answers}</p>
<table><tr><th>step</th><th>count</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th></tr>${rows}</table>
${verdicts === '' ? '' : `<ul>${verdicts}</ul>`}
${charts.join('\n')}
</body></html>
`
}
