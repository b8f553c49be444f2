/**
 * Watches the relay through a fault, as an operator's dashboard would: its breaker (scraped from
 * `/metrics` twice a second) and the outbox's retry queue (from the database). An outage of the
 * cluster must open the breaker and cost no record an attempt: no send counted as a refused
 * record, no row in outbox_retries.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'
import { metricOf } from '../load/scrape.ts'
import { BREAKER_GAUGE_VALUE } from '../runtime/breaker.ts'

export interface RelayWatchFigures {
  /** 1 if the breaker was seen open. */
  opened: number
  /** When it was first seen open, ms after the watch began; -1 if never. */
  firstOpenMs: number
  /** Sends the relay counted as refused records (summed over relay restarts). */
  recordFailures: number
  /** Most rows seen in outbox_retries at once. */
  retryRowsMax: number
}

/** The `reason="record"` series of payrail_outbox_failures_total, whatever its other labels. */
function refusedRecords(page: string): number | undefined {
  const line = page
    .split('\n')
    .find((l) => l.startsWith('payrail_outbox_failures_total{') && l.includes('reason="record"'))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

export function watchRelay(
  metricsUrl: string,
  db: Kysely<Database>,
  intervalMs = 500,
): { stop(): Promise<RelayWatchFigures> } {
  const begin = Date.now()
  const figures: RelayWatchFigures = { opened: 0, firstOpenMs: -1, recordFailures: 0, retryRowsMax: 0 }
  let lastRecordFailures = 0
  const sample = async () => {
    const page = await fetch(`${metricsUrl}/metrics`).then(
      (r) => (r.ok ? r.text() : ''),
      () => '', // the relay is down (killed by the scenario): nothing to see this time
    )
    const state = metricOf(page, 'payrail_outbox_breaker_state', 'max')
    if (state === BREAKER_GAUGE_VALUE.open && figures.opened === 0) {
      figures.opened = 1
      figures.firstOpenMs = Date.now() - begin
    }
    const refused = refusedRecords(page)
    if (refused !== undefined) {
      // A restarted relay counts from 0 again.
      figures.recordFailures += refused >= lastRecordFailures ? refused - lastRecordFailures : refused
      lastRecordFailures = refused
    }
    const retries = await db
      .selectFrom('outbox_retries')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst()
      .then(
        (row) => Number(row?.n ?? 0),
        () => 0, // the database is down (faulted by the scenario): nothing to see this time
      )
    figures.retryRowsMax = Math.max(figures.retryRowsMax, retries)
  }
  let stopped = false
  const loop = (async () => {
    while (!stopped) {
      await sample()
      await sleep(intervalMs)
    }
  })()
  return {
    async stop() {
      stopped = true
      await loop
      await sample()
      return figures
    },
  }
}
