/**
 * Samples the roles' `/metrics` once a second while a run lasts, for the report's charts:
 * outbox pending and oldest pending age, consumer lag, event-loop lag (p99) and CPU (cores,
 * from the process CPU counter's rate). A role that does not answer leaves a gap, not a zero.
 */
import type { LoadClock } from './schedule.ts'

export interface ScrapeTarget {
  role: string
  url: string
}

export const SCRAPED = {
  outboxPending: 'outbox pending',
  outboxOldestSeconds: 'outbox oldest (s)',
  consumerLag: 'consumer lag',
  eventLoopLagMs: 'event-loop lag p99 (ms)',
  cpuCores: 'CPU (cores)',
} as const
export type ScrapedSeries = keyof typeof SCRAPED

export interface ScrapeSample {
  /** Seconds from the run's start. */
  at: number
  role: string
  values: Partial<Record<ScrapedSeries, number>>
}

/** Sum (or max) of every series named `name` on a Prometheus text page; undefined if absent. */
export function metricOf(page: string, name: string, combine: 'sum' | 'max' = 'sum'): number | undefined {
  let result: number | undefined
  for (const line of page.split('\n')) {
    if (!(line.startsWith(`${name}{`) || line.startsWith(`${name} `))) continue
    const value = Number(line.slice(line.lastIndexOf(' ') + 1))
    if (!Number.isFinite(value)) continue
    result = result === undefined ? value : combine === 'sum' ? result + value : Math.max(result, value)
  }
  return result
}

export function startScraper(
  targets: readonly ScrapeTarget[],
  clock: LoadClock,
  origin: number,
  fetchPage: (url: string) => Promise<string> = async (url) => {
    const response = await fetch(url, { signal: AbortSignal.timeout(900) })
    if (!response.ok) throw new Error(`${url}: ${response.status}`)
    return response.text()
  },
): { stop: () => Promise<ScrapeSample[]> } {
  const samples: ScrapeSample[] = []
  const cpu = new Map<string, { at: number; seconds: number }>()
  let stopped = false
  const once = async (target: ScrapeTarget) => {
    const page = await fetchPage(`${target.url.replace(/\/$/, '')}/metrics`).catch(() => undefined)
    if (page === undefined) return
    const at = (clock.now() - origin) / 1000
    const values: ScrapeSample['values'] = {}
    const set = (series: ScrapedSeries, value: number | undefined) => {
      if (value !== undefined) values[series] = value
    }
    set('outboxPending', metricOf(page, 'payrail_outbox_pending'))
    set('outboxOldestSeconds', metricOf(page, 'payrail_outbox_oldest_pending_age_seconds', 'max'))
    set('consumerLag', metricOf(page, 'payrail_worker_lag'))
    const lag = metricOf(page, 'payrail_nodejs_eventloop_lag_p99_seconds', 'max')
    set('eventLoopLagMs', lag === undefined ? undefined : lag * 1000)
    const cpuSeconds = metricOf(page, 'payrail_process_cpu_seconds_total')
    if (cpuSeconds !== undefined) {
      const before = cpu.get(target.role)
      if (before !== undefined && at > before.at)
        set('cpuCores', (cpuSeconds - before.seconds) / (at - before.at))
      cpu.set(target.role, { at, seconds: cpuSeconds })
    }
    samples.push({ at, role: target.role, values })
  }
  const loop = (async () => {
    while (!stopped) {
      await Promise.all(targets.map(once))
      await clock.sleep(1000)
    }
  })()
  return {
    stop: async () => {
      stopped = true
      await loop
      return samples
    },
  }
}
