/**
 * Pass/fail criteria for a run, k6-style: `p99<300ms`, `flow.p95<=2s`, `errors<0.1%`,
 * `dropped<1%`, `rate>=390`. A latency names an optional step (default: the scenario's main
 * one) and takes ms or s; `errors` and `dropped` are shares (of answers, of due iterations) in %
 * or as a fraction; `rate` is achieved successful iterations per second.
 */
import { PayrailError } from '../domain/errors.ts'
import type { StepSummary } from './stats.ts'

export type Comparison = '<' | '<=' | '>' | '>='

export interface Threshold {
  text: string
  step: string | undefined
  metric: 'p50' | 'p95' | 'p99' | 'max' | 'mean' | 'errors' | 'dropped' | 'rate'
  comparison: Comparison
  /** ms for latencies, a fraction for errors and dropped, per second for rate. */
  value: number
}

export interface ThresholdInput {
  steps: Record<string, StepSummary>
  mainStep: string
  /** Non-2xx answers, timeouts and connection errors over all answers. */
  errorShare: number
  /** Dropped over due iterations. */
  droppedShare: number
  rate: number
}

export interface ThresholdVerdict {
  text: string
  actual: number
  passed: boolean
}

const pattern =
  /^\s*(?:([a-z][a-z-]*)\.)?(p50|p95|p99|max|mean|errors|dropped|rate)\s*(<=|>=|<|>)\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|%)?\s*$/

export function parseThreshold(text: string): Threshold {
  const match = pattern.exec(text)
  const usage = (why: string) =>
    new PayrailError(
      'USAGE',
      `--threshold ${JSON.stringify(text)}: ${why} (e.g. 'p99<300ms', 'flow.p95<2s', 'errors<0.1%', 'dropped<1%', 'rate>=390')`,
    )
  if (match === null) throw usage('not a threshold')
  const [, step, metric, comparison, number, unit] = match as unknown as [
    string,
    string | undefined,
    Threshold['metric'],
    Comparison,
    string,
    string | undefined,
  ]
  let value = Number(number)
  const latency = metric.startsWith('p') || metric === 'max' || metric === 'mean'
  if (latency) {
    if (unit === '%') throw usage('a latency takes ms or s')
    if (unit === 's') value *= 1000
  } else {
    if (step !== undefined) throw usage(`${metric} is for the whole run, not a step`)
    if (metric === 'rate') {
      if (unit !== undefined) throw usage('rate takes a plain number per second')
    } else if (unit === '%') value /= 100
    else if (unit !== undefined) throw usage(`${metric} takes a share in % or as a fraction`)
    else if (value > 1) throw usage(`${metric} as a fraction must be at most 1 (or write %)`)
  }
  return { text: text.trim(), step, metric, comparison, value }
}

const holds = (actual: number, comparison: Comparison, value: number): boolean =>
  comparison === '<'
    ? actual < value
    : comparison === '<='
      ? actual <= value
      : comparison === '>'
        ? actual > value
        : actual >= value

export function evaluateThresholds(
  thresholds: readonly Threshold[],
  input: ThresholdInput,
): ThresholdVerdict[] {
  return thresholds.map((threshold) => {
    let actual: number
    if (threshold.metric === 'errors') actual = input.errorShare
    else if (threshold.metric === 'dropped') actual = input.droppedShare
    else if (threshold.metric === 'rate') actual = input.rate
    else {
      const step = threshold.step ?? input.mainStep
      const summary = input.steps[step]
      if (summary === undefined)
        // A step that never answered cannot pass a latency bound: nothing shows it was fast.
        return { text: threshold.text, actual: Number.NaN, passed: false }
      actual = summary[threshold.metric] ?? Number.NaN
    }
    return { text: threshold.text, actual, passed: holds(actual, threshold.comparison, threshold.value) }
  })
}
