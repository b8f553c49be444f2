import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '../observability/logger.ts'
import type { OutboxStore } from './store.ts'

export interface CleanupOptions {
  store: OutboxStore
  logger: Logger
  /** Published rows created longer ago than this are deleted. Default: 24 h (OUTBOX_RETENTION). */
  retentionMs?: number
  /** Time between sweeps. Default: 60000 ms. */
  intervalMs?: number
  /** Rows per delete; small, so that no delete holds locks for long. Default: 1000. */
  batch?: number
  now?: () => number
}

/** Deletes published outbox rows past their retention, a small batch at a time, until stopped. */
export class OutboxCleanup {
  readonly #options: Required<Omit<CleanupOptions, 'store' | 'logger'>> &
    Pick<CleanupOptions, 'store' | 'logger'>
  #timer: NodeJS.Timeout | undefined
  #running: Promise<number> = Promise.resolve(0)
  #stopped = false

  constructor(options: CleanupOptions) {
    this.#options = {
      retentionMs: 24 * 3_600_000,
      intervalMs: 60_000,
      batch: 1000,
      now: Date.now,
      ...options,
    }
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.#running = this.sweep().catch((error: unknown) => {
        this.#options.logger.warn({ err: error }, 'outbox cleanup failed; it runs again next interval')
        return 0
      })
    }, this.#options.intervalMs)
  }

  /** One sweep: batches until none is full; returns the rows deleted. */
  async sweep(): Promise<number> {
    const cutoff = this.#options.now() - this.#options.retentionMs
    let deleted = 0
    let after = 0
    for (;;) {
      const step = await this.#options.store.deletePublishedBefore(cutoff, this.#options.batch, after)
      deleted += step.deleted
      after = step.last
      if (step.reachedCutoff || step.scanned < this.#options.batch || this.#stopped) break
      // Let the writers in between batches.
      await sleep(10)
    }
    if (deleted > 0) this.#options.logger.info({ deleted }, 'deleted published outbox rows past retention')
    return deleted
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearInterval(this.#timer)
    await this.#running
  }
}
