import { setTimeout as sleep } from 'node:timers/promises'
import { Type } from 'typebox'
import type { Logger } from '../observability/logger.ts'
import { resolveOptions, wholeNumber } from '../runtime/options.ts'

/** One batch of a prune: rows deleted, whether the table has nothing older left, where to go on. */
export interface PruneStep {
  deleted: number
  done: boolean
  /** Passed to the next batch of the same sweep (a walk's position); 0 at a sweep's start. */
  cursor: number
}

/** A table whose rows expire: names it, and deletes one batch of rows older than `cutoff` (ms). */
export interface RetentionTask {
  name: string
  retentionMs: number
  prune: (cutoff: number, batch: number, cursor: number) => Promise<PruneStep>
}

export interface RetentionSweeperOptions {
  tasks: RetentionTask[]
  logger: Logger
  /** Time between sweeps. Default: 60000 ms. */
  intervalMs: number
  /** Rows per delete; small, so that no delete holds locks for long. Default: 1000. */
  batch: number
  /** Pause between two batches of a sweep, to let the writers in. Default: 10 ms. */
  pauseMs: number
  /** Default: `Date.now`. */
  now: () => number
}

export const defaultRetentionSweeperOptions = {
  intervalMs: 60_000,
  batch: 1000,
  pauseMs: 10,
  now: Date.now,
} satisfies Partial<RetentionSweeperOptions>

const schema = Type.Object({
  intervalMs: wholeNumber(1),
  batch: wholeNumber(1, 100_000),
  pauseMs: wholeNumber(0),
})

/**
 * payrail's one way to keep tables from growing forever (published outbox rows, idempotency
 * records, processed events, resolved authorization attempts): every interval each task deletes
 * its expired rows a small batch at a time. A failing task is logged and tried again next
 * interval; it does not stop the others.
 */
export class RetentionSweeper {
  readonly #o: RetentionSweeperOptions
  #timer: NodeJS.Timeout | undefined
  #running: Promise<unknown> = Promise.resolve()
  #stopped = false

  constructor(options: Pick<RetentionSweeperOptions, 'tasks' | 'logger'> & Partial<RetentionSweeperOptions>) {
    this.#o = resolveOptions(
      'retentionSweeper',
      schema,
      defaultRetentionSweeperOptions as RetentionSweeperOptions,
      options,
    )
  }

  start(): void {
    this.#timer ??= setInterval(() => {
      this.#running = this.sweep()
    }, this.#o.intervalMs)
  }

  /** One sweep of every task; returns the rows deleted per task (a failed task counts what it deleted before failing). */
  async sweep(): Promise<Map<string, number>> {
    const deleted = new Map<string, number>()
    for (const task of this.#o.tasks) {
      if (this.#stopped) break
      let count = 0
      try {
        const cutoff = this.#o.now() - task.retentionMs
        let cursor = 0
        for (;;) {
          const step = await task.prune(cutoff, this.#o.batch, cursor)
          count += step.deleted
          cursor = step.cursor
          if (step.done || this.#stopped) break
          await sleep(this.#o.pauseMs)
        }
      } catch (error) {
        this.#o.logger.warn(
          { err: error, table: task.name },
          'retention sweep failed; it runs again next interval',
        )
      }
      deleted.set(task.name, count)
      if (count > 0) this.#o.logger.info({ table: task.name, deleted: count }, 'deleted rows past retention')
    }
    return deleted
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearInterval(this.#timer)
    await this.#running
  }
}
