/**
 * One load run: the open model (iterations on an arrival schedule, `runSchedule`) or the closed
 * one (`vus` virtual users, each starting its next iteration when its last one ended), the
 * scenario's iterations, the live progress callback once a second, and the scrape of the roles.
 */
import { createLoadClient } from './client.ts'
import { iterate, mainStepOf, prepare, type ScenarioContext, type ScenarioName } from './scenarios.ts'
import {
  type ArrivalSchedule,
  type LoadClock,
  realClock,
  runSchedule,
  type SchedulerResult,
} from './schedule.ts'
import { type ScrapeSample, type ScrapeTarget, startScraper } from './scrape.ts'
import { LoadStats } from './stats.ts'

export interface Progress {
  elapsedMs: number
  totalMs: number
  targetRate: number
  /** Main-step successes per second over the last interval. */
  achievedRate: number
  p50: number
  p99: number
  answers: Record<string, number>
  dropped: number
}

export interface LoadRunOptions {
  url: string
  scenario: ScenarioName
  keys: readonly string[]
  model:
    | { kind: 'open'; schedule: ArrivalSchedule; maxInFlight: number }
    | { kind: 'closed'; vus: number; durationMs: number }
  connections: number
  timeoutMs: number
  declines: boolean
  mix: ScenarioContext['mix']
  waitTimeoutMs: number
  scrape: readonly ScrapeTarget[]
  random: () => number
  tag: string
  clock?: LoadClock
  onProgress?: (progress: Progress) => void
  signal?: AbortSignal
}

export interface LoadRunResult {
  scheduler: SchedulerResult
  stats: LoadStats
  scraped: ScrapeSample[]
  targetAt: (ms: number) => number
  durationMs: number
}

/** Closed model: `vus` users, each running iterations back to back until the time is up. */
async function runClosed(
  vus: number,
  durationMs: number,
  clock: LoadClock,
  start: (n: number, due: number) => Promise<void>,
  signal: AbortSignal | undefined,
): Promise<SchedulerResult> {
  const begin = clock.now()
  let next = 0
  await Promise.all(
    Array.from({ length: vus }, async () => {
      while (clock.now() - begin < durationMs && !signal?.aborted) {
        const n = next++
        await start(n, clock.now())
      }
    }),
  )
  return {
    due: next,
    started: next,
    dropped: 0,
    late: 0,
    maxLagMs: 0,
    startedAt: begin,
    offeredForMs: clock.now() - begin,
  }
}

export async function runLoadTest(options: LoadRunOptions): Promise<LoadRunResult> {
  const clock = options.clock ?? realClock
  const client = createLoadClient(options.url, {
    connections: options.connections,
    timeoutMs: options.timeoutMs,
  })
  const ctx: ScenarioContext = {
    client,
    stats: new LoadStats(0, mainStepOf(options.scenario)),
    keys: options.keys,
    tag: options.tag,
    random: options.random,
    declines: options.declines,
    pollMs: 50,
    waitTimeoutMs: options.waitTimeoutMs,
    readable: [],
    mix: options.mix,
    sleep: clock.sleep,
  }
  try {
    if (options.scenario === 'read' || (options.scenario === 'mix' && options.mix.read > 0))
      await prepare(ctx, 20)
    const origin = clock.now()
    const stats = new LoadStats(origin, mainStepOf(options.scenario))
    ctx.stats = stats
    const model = options.model
    const durationMs = model.kind === 'open' ? model.schedule.durationMs : model.durationMs
    const targetAt = (ms: number) => (model.kind === 'open' ? model.schedule.rateAt(ms) : Number.NaN)
    const scraper = startScraper(options.scrape, clock, origin)
    let droppedSoFar = 0
    let lastTick = origin
    const ticker = setInterval(() => {
      const now = clock.now()
      const recent = stats.takeRecent()
      options.onProgress?.({
        elapsedMs: now - origin,
        totalMs: durationMs,
        targetRate: targetAt(now - origin),
        achievedRate: recent.count / ((now - lastTick) / 1000),
        p50: recent.p50,
        p99: recent.p99,
        answers: stats.answers,
        dropped: droppedSoFar,
      })
      lastTick = now
    }, 1000)
    const start = async (n: number, due: number) => {
      stats.started(due)
      await iterate(options.scenario, ctx, n, due)
    }
    let scheduler: SchedulerResult
    try {
      scheduler =
        model.kind === 'open'
          ? await runSchedule({
              schedule: model.schedule,
              maxInFlight: model.maxInFlight,
              clock,
              start,
              onDrop: (due) => {
                droppedSoFar++
                stats.dropped(due)
              },
              ...(options.signal === undefined ? {} : { signal: options.signal }),
            })
          : await runClosed(model.vus, model.durationMs, clock, start, options.signal)
    } finally {
      clearInterval(ticker)
    }
    const scraped = await scraper.stop()
    return { scheduler, stats, scraped, targetAt, durationMs }
  } finally {
    await client.close()
  }
}
