import type { Kysely, Transaction } from 'kysely'
import { Type } from 'typebox'
import { resolveOptions, wholeNumber } from '../runtime/options.ts'
import type { DatabaseHandle } from './database.ts'
import type { Database } from './schema.ts'

export interface GroupCommitOptions {
  /**
   * Units of work committed in one transaction at most; 1 turns grouping off (every unit is its
   * own transaction, as without a committer). Default: 64 (DB_GROUP_COMMIT_MAX)
   */
  maxBatch: number
  /**
   * Transactions of batched units in flight at once, each on its own connection. A batch starts
   * as soon as a lane is free, with every unit that waited meanwhile, so an idle service waits
   * no longer than the current event-loop turn and a busy one commits many units per
   * transaction. On MariaDB and PostgreSQL batches form only once every lane is busy, so that
   * the server still runs requests in parallel; on SQLite there is one lane whatever this says,
   * since its one connection runs one transaction at a time. Default: 8 (DB_GROUP_COMMIT_LANES)
   */
  lanes: number
  /**
   * How long the first unit of a batch waits for others to join it before the batch starts
   * (sooner once `maxBatch` are waiting); 0 waits only for the end of the current event-loop
   * turn. Each request waits this long twice (authorize commits twice). SQLite's one
   * connection commits one batch at a time, so only a wait makes batches there: at 1,000
   * authorizations/s through the gateway, 2 ms took them from 3 to 8 requests per commit and
   * the p99 from 440 to 230 ms (`payrail bench platform`, one api process); on MariaDB the same
   * 2 ms changed no rate and added 50 ms to the p99 at 630/s, since its lanes already batch.
   * Default: 2 ms on SQLite, 0 on MariaDB and PostgreSQL (DB_GROUP_COMMIT_WAIT_MS)
   */
  waitMs: number
}

export const GROUP_COMMIT_DEFAULTS: Omit<GroupCommitOptions, 'waitMs'> = { maxBatch: 64, lanes: 8 }
const SQLITE_WAIT_MS = 2

const schema = Type.Object({
  maxBatch: wholeNumber(1, 10_000),
  lanes: wholeNumber(1, 1000),
  waitMs: Type.Optional(wholeNumber(0, 1000)),
})

/** What the committer reports; the api's metrics implement it. */
export interface GroupCommitObserver {
  /** A transaction of `size` units committed. */
  committed(size: number): void
  /** A batch of `size` units failed and each unit ran again alone. */
  split(size: number): void
}

type Work<T> = (trx: Transaction<Database>) => Promise<T>

interface Unit {
  work: Work<unknown>
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
}

/**
 * Group commit: concurrent requests' writes run one after the other in one transaction, with
 * one BEGIN and one COMMIT for all of them, and each request is answered only once that
 * transaction committed. A commit is most of what a short write costs: on SQLite COMMIT was
 * 22 % of the api process's CPU at 800 authorizations/s (`payrail bench platform --profile-at
 * 800`), and on MariaDB and PostgreSQL it is a round trip and a log flush per transaction.
 *
 * When a batch fails (one unit threw, or the commit failed: a deadlock, a lost connection),
 * nothing of it is kept, and every unit runs again alone in a transaction of its own and gets
 * its own result or error, so that one bad request cannot fail its neighbours. Units must
 * therefore be safe to run again after a rollback (pure database work on values fixed before),
 * and should answer expected refusals with a value rather than a throw, which would cost the
 * batch a split: `claimKey` reports a taken key instead of failing on it.
 *
 * Written here because neither Kysely nor the drivers batch transactions across callers. The
 * queue is unbounded on purpose: the api's admission limit (API_MAX_IN_FLIGHT) bounds it.
 */
export class GroupCommitter {
  readonly #db: Kysely<Database>
  readonly #options: GroupCommitOptions
  readonly #observer: GroupCommitObserver | undefined
  readonly #queue: Unit[] = []
  #running = 0
  /** Cancels the pending start of the next batch; undefined when none is pending. */
  #cancelStart: (() => void) | undefined

  constructor(
    database: Pick<DatabaseHandle, 'db' | 'dialect'>,
    options: Partial<GroupCommitOptions> = {},
    observer?: GroupCommitObserver,
  ) {
    this.#db = database.db
    const { maxBatch, lanes, waitMs } = resolveOptions<typeof GROUP_COMMIT_DEFAULTS & { waitMs?: number }>(
      'groupCommit',
      schema,
      GROUP_COMMIT_DEFAULTS,
      options,
    )
    const sqlite = database.dialect === 'sqlite'
    this.#options = { maxBatch, lanes: sqlite ? 1 : lanes, waitMs: waitMs ?? (sqlite ? SQLITE_WAIT_MS : 0) }
    this.#observer = observer
  }

  /** Runs `work` in a transaction, maybe shared with other units; resolves after the commit. */
  run<T>(work: Work<T>): Promise<T> {
    if (this.#options.maxBatch === 1) return this.#db.transaction().execute(work)
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject })
      // A batch starts at the end of this turn of the event loop, with every request that the
      // turn's I/O delivered. better-sqlite3 is synchronous: a SQLite transaction ends within the
      // turn that began it, so without this wait no two requests ever met (72 units made 72
      // transactions in test/api/group-commit.test.ts).
      if (this.#cancelStart === undefined) this.#scheduleStart()
      else if (this.#queue.length >= this.#options.maxBatch) {
        // A full batch waits no longer.
        this.#cancelStart()
        this.#cancelStart = undefined
        this.#startBatches()
      }
    })
  }

  #scheduleStart(): void {
    const start = () => {
      this.#cancelStart = undefined
      this.#startBatches()
    }
    if (this.#options.waitMs === 0) {
      const immediate = setImmediate(start)
      this.#cancelStart = () => clearImmediate(immediate)
    } else {
      const timer = setTimeout(start, this.#options.waitMs)
      this.#cancelStart = () => clearTimeout(timer)
    }
  }

  #startBatches(): void {
    while (this.#running < this.#options.lanes && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#options.maxBatch)
      this.#running++
      void this.#commit(batch).finally(() => {
        this.#running--
        this.#startBatches()
      })
    }
  }

  async #commit(batch: Unit[]): Promise<void> {
    if (batch.length === 1) return this.#alone(batch[0] as Unit)
    let results: unknown[]
    try {
      results = await this.#db.transaction().execute(async (trx) => {
        const out: unknown[] = []
        for (const unit of batch) out.push(await unit.work(trx))
        return out
      })
    } catch {
      // The batch's own error is not any one unit's: each unit meets its own when run alone.
      this.#observer?.split(batch.length)
      await Promise.all(batch.map((unit) => this.#alone(unit)))
      return
    }
    this.#observer?.committed(batch.length)
    for (const [i, unit] of batch.entries()) unit.resolve(results[i])
  }

  async #alone(unit: Unit): Promise<void> {
    try {
      unit.resolve(await this.#db.transaction().execute(unit.work))
      this.#observer?.committed(1)
    } catch (error) {
      unit.reject(error)
    }
  }
}
