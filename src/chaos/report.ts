/**
 * A chaos run's result as a terminal table (scenario × invariant, with the figures) and as one
 * self-contained HTML page (the table, each scenario's fault timeline, answers over time drawn
 * as inline SVG beside the faults), like `payrail load`'s report.
 */
import { escapeHtml, lineChart } from '../load/html.ts'
import type { ScenarioResult } from './run.ts'

export interface ChaosReport {
  seed: number
  startedAt: string
  scenarios: ScenarioResult[]
  passed: boolean
}

const figuresText = (figures: Record<string, number>) =>
  Object.entries(figures)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')

export function chaosTable(results: readonly ScenarioResult[]): string {
  const width = Math.max(8, ...results.map((r) => r.scenario.length))
  const lines = [`${'scenario'.padEnd(width)}  ${'invariant'.padEnd(22)}  result  figures`]
  for (const result of results) {
    for (const inv of result.invariants) {
      lines.push(
        `${result.scenario.padEnd(width)}  ${inv.name.padEnd(22)}  ${(inv.passed ? 'pass' : 'FAIL').padEnd(6)}  ${figuresText(inv.figures)}`,
      )
      if (inv.detail !== undefined) lines.push(`${''.padEnd(width)}  ${inv.detail.slice(0, 400)}`)
    }
  }
  return lines.join('\n')
}

export function chaosHtml(report: ChaosReport): string {
  const rows = report.scenarios
    .flatMap((result) =>
      result.invariants.map(
        (inv) =>
          `<tr><td>${escapeHtml(result.scenario)}</td><td>${escapeHtml(inv.name)}</td><td class="${inv.passed ? 'ok' : 'fail'}">${inv.passed ? 'pass' : 'FAIL'}</td><td class="l">${escapeHtml(figuresText(inv.figures))}${inv.detail === undefined ? '' : `<br><small>${escapeHtml(inv.detail.slice(0, 400))}</small>`}</td></tr>`,
      ),
    )
    .join('')
  const sections = report.scenarios
    .map((result) => {
      const keys = Object.keys(result.answers)
      const chart = lineChart(
        `${result.scenario}: answers by status and code`,
        'per second, by due second of the flow',
        keys.map((key) => ({
          name: key,
          points: result.seconds.map((s) => [s.second + 0.5, s.answers[key] ?? 0] as [number, number]),
        })),
      )
      const timeline = result.timeline
        .map((step) => `<li>${(step.atMs / 1000).toFixed(1)} s: ${escapeHtml(step.what)}</li>`)
        .join('')
      return `<h2>${escapeHtml(result.scenario)}: ${escapeHtml(result.about)}</h2>
<p>${escapeHtml(result.dialect)}, ${result.kafkaNodes} Kafka node(s), ${result.rate} flows/s for ${(result.durationMs / 1000).toFixed(0)} s, seed ${result.seed}: <span class="${result.passed ? 'ok' : 'fail'}">${result.passed ? 'passed' : 'FAILED'}</span></p>
<ul>${timeline}</ul>
${chart}`
    })
    .join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>payrail chaos</title>
<style>body{font-family:sans-serif;margin:2em;max-width:900px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}.l{text-align:left;font-size:12px}.legend{font-size:12px}.ok{color:#2ca02c}.fail{color:#d62728;font-weight:bold}h2{font-size:15px;margin-top:1.5em}</style>
</head><body>
<h1>payrail chaos</h1>
<p>Started ${escapeHtml(report.startedAt)}, seed ${report.seed}: <span class="${report.passed ? 'ok' : 'fail'}">${report.passed ? 'every invariant held' : 'an invariant FAILED'}</span>.</p>
<table><tr><th>scenario</th><th>invariant</th><th>result</th><th>figures</th></tr>${rows}</table>
${sections}
</body></html>
`
}
