/**
 * A finished run as data (the JSON file, and what the HTML report and the thresholds read), as a
 * summary table for the terminal, and the live progress line.
 */
import type { LoadRunResult, Progress } from './run.ts'
import type { ScrapeSample } from './scrape.ts'
import { isSuccess, type SecondSample, type StepSummary } from './stats.ts'
import type { ThresholdVerdict } from './thresholds.ts'

export interface LoadReport {
  scenario: string
  url: string
  model: string
  startedAt: string
  durationSeconds: number
  mainStep: string
  iterations: { due: number; started: number; dropped: number; late: number; maxLagMs: number }
  /** Successful main-step iterations per second of the offered time. */
  achievedRate: number
  /** Iterations due per second of the offered time; null in the closed model (no schedule). */
  targetRate: number | null
  errorShare: number
  droppedShare: number
  answers: Record<string, number>
  /** Status polls of the flows (GET while waiting for CAPTURED / REFUNDED), not in `answers`. */
  polls: number
  steps: Record<string, StepSummary>
  /** Each step's HdrHistogram, compressed base64 (`payrail load-merge` adds them). */
  histograms: Record<string, string>
  seconds: SecondSample[]
  scraped: ScrapeSample[]
  thresholds: ThresholdVerdict[]
  /** This load process's CPU over the run, and per counted request: its own ceiling is about 1 s / that. */
  generator?: { cpuSeconds: number; cpuMicrosPerRequest: number }
}

export function buildReport(
  run: LoadRunResult,
  meta: { scenario: string; url: string; model: string; startedAt: Date },
): Omit<LoadReport, 'thresholds'> {
  const steps = run.stats.summary()
  const seconds = run.scheduler.offeredForMs / 1000
  const answered = Object.values(run.stats.answers).reduce((a, b) => a + b, 0)
  const failed = Object.entries(run.stats.answers)
    .filter(([key]) => !isSuccess(key))
    .reduce((sum, [, n]) => sum + n, 0)
  const main = steps[run.stats.mainStep]
  return {
    scenario: meta.scenario,
    url: meta.url,
    model: meta.model,
    startedAt: meta.startedAt.toISOString(),
    durationSeconds: seconds,
    mainStep: run.stats.mainStep,
    iterations: {
      due: run.scheduler.due,
      started: run.scheduler.started,
      dropped: run.scheduler.dropped,
      late: run.scheduler.late,
      maxLagMs: run.scheduler.maxLagMs,
    },
    achievedRate: seconds > 0 ? (main?.count ?? 0) / seconds : 0,
    targetRate: Number.isNaN(run.targetAt(0)) ? null : seconds > 0 ? run.scheduler.due / seconds : 0,
    errorShare: answered === 0 ? 0 : failed / answered,
    droppedShare: run.scheduler.due === 0 ? 0 : run.scheduler.dropped / run.scheduler.due,
    answers: run.stats.answers,
    polls: run.stats.polls,
    steps,
    histograms: run.stats.encoded(),
    seconds: run.stats.seconds(run.targetAt),
    scraped: run.scraped,
  }
}

const ms = (value: number) => (value >= 100 ? value.toFixed(0) : value.toFixed(1))
const pct = (share: number) => `${(share * 100).toFixed(share < 0.01 && share > 0 ? 3 : 2)} %`

export function answersText(answers: Record<string, number>): string {
  return Object.entries(answers)
    .sort((a, b) => b[1] - a[1])
    .map(([key, n]) => `${key}: ${n}`)
    .join(', ')
}

export function summaryTable(report: LoadReport): string {
  const lines = [
    `payrail load ${report.scenario} → ${report.url} (${report.model}), ${report.durationSeconds.toFixed(1)} s`,
    `iterations: ${report.iterations.due} due, ${report.iterations.started} started, ${report.iterations.dropped} dropped, ${report.iterations.late} late (max start lag ${ms(report.iterations.maxLagMs)} ms)`,
    `rate: target ${report.targetRate === null ? 'none (closed model)' : `${report.targetRate.toFixed(1)}/s`}, achieved ${report.achievedRate.toFixed(1)}/s (${report.mainStep} successes); errors ${pct(report.errorShare)}`,
    `answers: ${answersText(report.answers)}${report.polls > 0 ? `; status polls: ${report.polls}` : ''}`,
    '',
    '| step | count | p50 ms | p95 ms | p99 ms | max ms | mean ms |',
    '|---|---|---|---|---|---|---|',
    ...Object.entries(report.steps).map(
      ([step, s]) =>
        `| ${step} | ${s.count} | ${ms(s.p50)} | ${ms(s.p95)} | ${ms(s.p99)} | ${ms(s.max)} | ${ms(s.mean)} |`,
    ),
  ]
  if (report.generator !== undefined)
    lines.push(
      '',
      `load process: ${report.generator.cpuSeconds.toFixed(2)} s CPU, ${report.generator.cpuMicrosPerRequest.toFixed(0)} µs per request (≈ ${(1e6 / report.generator.cpuMicrosPerRequest).toFixed(0)} requests/s per core at most)`,
    )
  if (report.thresholds.length > 0) {
    lines.push('')
    for (const verdict of report.thresholds)
      lines.push(
        `${verdict.passed ? 'ok  ' : 'FAIL'} ${verdict.text} (actual ${Number.isNaN(verdict.actual) ? 'none' : +verdict.actual.toPrecision(4)})`,
      )
  }
  return lines.join('\n')
}

/** The progress as the operations plane shows a load run's (`--progress-file`): counts, rates, milliseconds. */
export function progressSummary(p: Progress) {
  const answered = Object.entries(p.answers)
  return {
    elapsedSeconds: p.elapsedMs / 1000,
    totalSeconds: p.totalMs / 1000,
    requests: answered.reduce((sum, [, n]) => sum + n, 0),
    targetRate: Number.isNaN(p.targetRate) ? 0 : p.targetRate,
    achievedRate: p.achievedRate,
    p50Ms: p.p50,
    p99Ms: p.p99,
    errors: answered.filter(([key]) => !isSuccess(key)).reduce((sum, [, n]) => sum + n, 0),
    dropped: p.dropped,
  }
}

export function progressLine(p: Progress): string {
  const errors = Object.entries(p.answers).filter(([key]) => !isSuccess(key))
  const target = Number.isNaN(p.targetRate) ? 'closed' : `${p.targetRate.toFixed(0)}/s`
  return [
    `${(p.elapsedMs / 1000).toFixed(0)}/${(p.totalMs / 1000).toFixed(0)} s`,
    `target ${target} achieved ${p.achievedRate.toFixed(0)}/s`,
    `p50 ${ms(p.p50)} p99 ${ms(p.p99)} ms`,
    `dropped ${p.dropped}`,
    `errors ${errors.length === 0 ? 0 : answersText(Object.fromEntries(errors))}`,
  ].join(' | ')
}
