/**
 * What a load run records: a latency histogram (HdrHistogram, microseconds, 3 significant
 * digits) per measured step, answers by status and code, and the same cut into one-second
 * buckets for the charts. A bucket is the second a request was *due*, so a stall shows in the
 * second that suffered it, not in the one when the answers finally came.
 */
import {
  build,
  decodeFromCompressedBase64,
  encodeIntoCompressedBase64,
  type Histogram,
} from 'hdr-histogram-js'

export interface StepSummary {
  count: number
  p50: number
  p95: number
  p99: number
  max: number
  mean: number
}

export interface SecondSample {
  second: number
  target: number
  started: number
  dropped: number
  /** 2xx-ended iterations that were due this second. */
  ok: number
  p50: number
  p95: number
  p99: number
  answers: Record<string, number>
}

const histogram = (): Histogram => build({ numberOfSignificantValueDigits: 3 })

export const summaryOf = (h: Histogram): StepSummary => ({
  count: h.totalCount,
  p50: h.getValueAtPercentile(50) / 1000,
  p95: h.getValueAtPercentile(95) / 1000,
  p99: h.getValueAtPercentile(99) / 1000,
  max: h.maxValue / 1000,
  mean: h.totalCount === 0 ? 0 : h.mean / 1000,
})

interface Bucket {
  started: number
  dropped: number
  ok: number
  latency: Histogram
  answers: Record<string, number>
}

export class LoadStats {
  private readonly steps = new Map<string, Histogram>()
  private readonly buckets: Bucket[] = []
  readonly answers: Record<string, number> = {}
  /** GETs a flow sent while waiting for the workers: load on the target, not counted in `answers`. */
  polls = 0
  /** Answers of the last second or so, for the progress line. */
  private recent = histogram()
  private readonly origin: number
  /** The step whose latency is the run's headline (the iteration's end to end). */
  readonly mainStep: string

  constructor(origin: number, mainStep: string) {
    this.origin = origin
    this.mainStep = mainStep
  }

  private bucket(at: number): Bucket {
    const index = Math.max(0, Math.floor((at - this.origin) / 1000))
    while (this.buckets.length <= index)
      this.buckets.push({ started: 0, dropped: 0, ok: 0, latency: histogram(), answers: {} })
    return this.buckets[index] as Bucket
  }

  started(due: number): void {
    this.bucket(due).started++
  }

  dropped(due: number): void {
    this.bucket(due).dropped++
  }

  /** One answer (`201`, `503 OVERLOADED`, `timeout`, `error`) to a request of an iteration due at `due`. */
  answer(due: number, key: string): void {
    this.answers[key] = (this.answers[key] ?? 0) + 1
    const bucket = this.bucket(due).answers
    bucket[key] = (bucket[key] ?? 0) + 1
  }

  /** A step's latency in ms; the main step's also feeds its due second's percentiles. */
  latency(step: string, due: number, ms: number): void {
    let h = this.steps.get(step)
    if (h === undefined) {
      h = histogram()
      this.steps.set(step, h)
    }
    const micros = Math.max(1, Math.round(ms * 1000))
    h.recordValue(micros)
    if (step === this.mainStep) {
      const bucket = this.bucket(due)
      bucket.ok++
      bucket.latency.recordValue(micros)
      this.recent.recordValue(micros)
    }
  }

  /** p50/p99 (ms) of main-step latencies recorded since the last call, for the live line. */
  takeRecent(): { count: number; p50: number; p99: number } {
    const r = this.recent
    this.recent = histogram()
    return {
      count: r.totalCount,
      p50: r.getValueAtPercentile(50) / 1000,
      p99: r.getValueAtPercentile(99) / 1000,
    }
  }

  summary(): Record<string, StepSummary> {
    return Object.fromEntries([...this.steps].map(([step, h]) => [step, summaryOf(h)]))
  }

  /** Each step's histogram, compressed (HdrHistogram's base64 form), so runs of several processes can be merged. */
  encoded(): Record<string, string> {
    return Object.fromEntries([...this.steps].map(([step, h]) => [step, encodeIntoCompressedBase64(h)]))
  }

  seconds(targetAt: (ms: number) => number): SecondSample[] {
    return this.buckets.map((bucket, second) => {
      const s = summaryOf(bucket.latency)
      return {
        second,
        target: targetAt(second * 1000 + 500),
        started: bucket.started,
        dropped: bucket.dropped,
        ok: bucket.ok,
        p50: s.p50,
        p95: s.p95,
        p99: s.p99,
        answers: bucket.answers,
      }
    })
  }
}

/** Whether an answer key is a success. */
export const isSuccess = (key: string): boolean => /^2\d\d$/.test(key)

/** The summaries of the steps of several runs' encoded histograms, added step by step. */
export function mergeEncoded(runs: readonly Record<string, string>[]): Record<string, StepSummary> {
  const merged = new Map<string, Histogram>()
  for (const run of runs)
    for (const [step, text] of Object.entries(run)) {
      const h = decodeFromCompressedBase64(text)
      const into = merged.get(step)
      if (into === undefined) {
        const fresh = histogram()
        fresh.add(h)
        merged.set(step, fresh)
      } else into.add(h)
    }
  return Object.fromEntries([...merged].map(([step, h]) => [step, summaryOf(h)]))
}
