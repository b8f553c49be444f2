/**
 * The open model for a caller that brings its own requests (bench/overload): `rate` per second
 * for `durationMs`, each request timed from its due time, on the same schedule, client and
 * histograms as `payrail load`. Moved here from bench/lib so the CLI and the benchmarks share it.
 */
import { createLoadClient, type LoadRequest } from './client.ts'
import { ArrivalSchedule, runSchedule } from './schedule.ts'
import { isSuccess, LoadStats } from './stats.ts'

export interface OpenLoadOptions {
  url: string
  /** Requests offered per second. */
  rate: number
  durationMs: number
  /** The n-th request (from 0). */
  request: (n: number) => LoadRequest
  /** Connections the generator may open; beyond them requests queue here (and that counts). Default: 4096. */
  connections?: number
  /** A request not answered in this long counts as `timeout`. Default: 10000 ms. */
  timeoutMs?: number
  /** Requests open at once at most; one due beyond them is dropped. Default: 100000. */
  maxInFlight?: number
}

export interface OpenLoadResult {
  offered: number
  /** Due but never sent: `maxInFlight` were open. */
  dropped: number
  seconds: number
  /** 2xx answers per second of the run. */
  goodput: number
  /** Latency of the 2xx answers, ms from their due time. */
  p50: number
  p99: number
  /** Answers by status and problem `code` (e.g. `201`, `503 OVERLOADED`), and `timeout` / `error`. */
  answers: Record<string, number>
}

export async function runOpenLoad(options: OpenLoadOptions): Promise<OpenLoadResult> {
  const client = createLoadClient(options.url, {
    connections: options.connections ?? 4096,
    timeoutMs: options.timeoutMs ?? 10_000,
  })
  const schedule = new ArrivalSchedule([
    { from: options.rate, to: options.rate, durationMs: options.durationMs },
  ])
  const stats = new LoadStats(performance.now(), 'request')
  try {
    const result = await runSchedule({
      schedule,
      maxInFlight: options.maxInFlight ?? 100_000,
      start: async (n, due) => {
        const answer = await client.send(options.request(n))
        stats.answer(due, answer.key)
        if (isSuccess(answer.key)) stats.latency('request', due, performance.now() - due)
      },
    })
    const seconds = result.offeredForMs / 1000
    const summary = stats.summary().request
    return {
      offered: result.due,
      dropped: result.dropped,
      seconds,
      goodput: (summary?.count ?? 0) / seconds,
      p50: summary?.p50 ?? 0,
      p99: summary?.p99 ?? 0,
      answers: stats.answers,
    }
  } finally {
    await client.close()
  }
}
