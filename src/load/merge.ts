/**
 * Several load processes' reports as one: what one process cannot offer (about 2,000/s here) is
 * split over several, and their results add up here. Counts and rates add; percentiles come from
 * the steps' HdrHistograms added together (percentiles themselves do not add).
 */
import { PayrailError } from '../domain/errors.ts'
import type { LoadReport } from './report.ts'
import { mergeEncoded } from './stats.ts'

export function mergeReports(reports: readonly LoadReport[]): LoadReport {
  const first = reports[0]
  if (first === undefined) throw new PayrailError('USAGE', 'load-merge needs at least one report')
  for (const report of reports)
    if (report.scenario !== first.scenario || report.histograms === undefined)
      throw new PayrailError('USAGE', 'load-merge takes reports of one scenario, written by payrail load')
  const sum = (value: (report: LoadReport) => number) => reports.reduce((total, r) => total + value(r), 0)
  const answers: Record<string, number> = {}
  for (const report of reports)
    for (const [key, n] of Object.entries(report.answers)) answers[key] = (answers[key] ?? 0) + n
  const due = sum((r) => r.iterations.due)
  const dropped = sum((r) => r.iterations.dropped)
  const answered = Object.values(answers).reduce((a, b) => a + b, 0)
  const failed = Object.entries(answers)
    .filter(([key]) => !/^2\d\d$/.test(key))
    .reduce((total, [, n]) => total + n, 0)
  // Each process's own CPU stays in its own report: summed it would describe no process.
  const { generator: _ownCpu, ...shared } = first
  return {
    ...shared,
    url: [...new Set(reports.map((r) => r.url))].join(', '),
    model: `${reports.length} processes: ${[...new Set(reports.map((r) => r.model))].join('; ')}`,
    durationSeconds: Math.max(...reports.map((r) => r.durationSeconds)),
    iterations: {
      due,
      started: sum((r) => r.iterations.started),
      dropped,
      late: sum((r) => r.iterations.late),
      maxLagMs: Math.max(...reports.map((r) => r.iterations.maxLagMs)),
    },
    achievedRate: sum((r) => r.achievedRate),
    targetRate: reports.some((r) => r.targetRate === null) ? null : sum((r) => r.targetRate ?? 0),
    errorShare: answered === 0 ? 0 : failed / answered,
    droppedShare: due === 0 ? 0 : dropped / due,
    answers,
    polls: sum((r) => r.polls),
    steps: mergeEncoded(reports.map((r) => r.histograms)),
    histograms: {},
    seconds: [],
    scraped: [],
    thresholds: [],
  }
}
