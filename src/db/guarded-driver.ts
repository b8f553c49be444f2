import type {
  DatabaseConnection,
  Dialect,
  Driver,
  Kysely,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely'
import { PayrailError } from '../domain/errors.ts'
import { withDeadline } from '../runtime/deadline.ts'
import { withoutStatement } from './errors.ts'

/**
 * What a pool reports, kept beside the driver rather than inside it: the Prometheus
 * implementation is `createPoolMetrics` (pool-metrics.ts).
 */
export interface PoolObserver {
  /** The pool's size, once known: 1 on SQLite (one connection, taken in turns). */
  sized(max: number): void
  /** An acquisition began to wait for a connection. */
  waiting(): void
  /** It got one after `seconds`; that connection is now in use. */
  acquired(seconds: number): void
  /** It ended without one after `seconds`; `busy` when it gave up with DATABASE_BUSY. */
  failed(seconds: number, busy: boolean): void
  /** A connection in use went back to the pool. */
  released(): void
}

/** What every dialect's driver gets from payrail: a bounded wait for a connection and errors without SQL. */
export interface GuardOptions {
  /** Told of every acquisition and release. Default: none. */
  observer?: PoolObserver | undefined
  /** Longest wait for a pooled connection before DATABASE_BUSY (503); undefined waits as long as the pool does. */
  acquireTimeoutMs?: number | undefined
  /**
   * The driver has one connection (SQLite): this driver takes turns on it itself, so that the
   * wait for a turn is bounded too (Kysely's own lock above the driver cannot be). The dialect's
   * adapter must then say it supports several connections, or Kysely locks as well.
   */
  singleConnection?: boolean
}

/** Turns on one connection, first come first served; a waiter that gives up leaves the line. */
class Turns {
  #busy = false
  readonly #waiting: (() => void)[] = []

  /** A turn, and a way to leave the line: false when the turn was already given (hand it back). */
  take(): { turn: Promise<void>; leave: () => boolean } {
    if (!this.#busy) {
      this.#busy = true
      return { turn: Promise.resolve(), leave: () => false }
    }
    let served: () => void = () => {}
    const turn = new Promise<void>((resolve) => {
      served = resolve
    })
    this.#waiting.push(served)
    return {
      turn,
      leave: () => {
        const at = this.#waiting.indexOf(served)
        if (at === -1) return false
        this.#waiting.splice(at, 1)
        return true
      },
    }
  }

  give(): void {
    const next = this.#waiting.shift()
    if (next === undefined) this.#busy = false
    else next()
  }
}

/** A connection whose failures never carry the statement or its values. */
class ScrubbedConnection implements DatabaseConnection {
  readonly inner: DatabaseConnection
  constructor(inner: DatabaseConnection) {
    this.inner = inner
  }
  async executeQuery<R>(query: Parameters<DatabaseConnection['executeQuery']>[0]): Promise<QueryResult<R>> {
    try {
      return await this.inner.executeQuery<R>(query)
    } catch (error) {
      throw withoutStatement(error)
    }
  }
  async *streamQuery<R>(
    query: Parameters<DatabaseConnection['streamQuery']>[0],
    chunkSize?: number,
  ): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.inner.streamQuery<R>(query, chunkSize as number)
    } catch (error) {
      throw withoutStatement(error)
    }
  }
}

const innerOf = (connection: DatabaseConnection) =>
  connection instanceof ScrubbedConnection ? connection.inner : connection

class GuardedDriver implements Driver {
  readonly #inner: Driver
  readonly #acquireTimeoutMs: number | undefined
  readonly #turns: Turns | undefined
  readonly #observer: PoolObserver | undefined

  constructor(inner: Driver, options: GuardOptions) {
    this.#inner = inner
    this.#acquireTimeoutMs = options.acquireTimeoutMs
    this.#turns = options.singleConnection === true ? new Turns() : undefined
    this.#observer = options.observer
  }

  #busy(timeoutMs: number): PayrailError {
    return new PayrailError(
      'DATABASE_BUSY',
      `every database connection stayed busy for ${timeoutMs} ms; try again shortly`,
      { details: { retryAfterSeconds: 1 } },
    )
  }

  init(): Promise<void> {
    return this.#inner.init()
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const observer = this.#observer
    if (observer === undefined) return this.#acquire()
    const started = performance.now()
    observer.waiting()
    try {
      const connection = await this.#acquire()
      observer.acquired((performance.now() - started) / 1000)
      return connection
    } catch (error) {
      const busy = (error as { code?: unknown }).code === 'DATABASE_BUSY'
      observer.failed((performance.now() - started) / 1000, busy)
      throw error
    }
  }

  async #acquire(): Promise<DatabaseConnection> {
    const turns = this.#turns
    if (turns !== undefined) await this.#takeTurn(turns)
    const acquiring = this.#inner.acquireConnection().catch((error: unknown) => {
      turns?.give()
      throw withoutStatement(error)
    })
    if (this.#acquireTimeoutMs === undefined) return new ScrubbedConnection(await acquiring)
    const timeoutMs = this.#acquireTimeoutMs
    const connection = await withDeadline(acquiring, timeoutMs, () => {
      // The pool still hands the connection over later: give it straight back.
      void acquiring.then(
        (got) => this.#inner.releaseConnection(got),
        () => {},
      )
      throw this.#busy(timeoutMs)
    })
    return new ScrubbedConnection(connection)
  }

  async #takeTurn(turns: Turns): Promise<void> {
    const { turn, leave } = turns.take()
    const timeoutMs = this.#acquireTimeoutMs
    if (timeoutMs === undefined) return turn
    await withDeadline(turn, timeoutMs, () => {
      // Still in line: leave it. Already served: hand the turn on, since no one will use it.
      if (!leave()) void turn.then(() => turns.give())
      throw this.#busy(timeoutMs)
    })
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#inner.beginTransaction(innerOf(connection), settings).catch((error: unknown) => {
      throw withoutStatement(error)
    })
  }
  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.commitTransaction(innerOf(connection)).catch((error: unknown) => {
      throw withoutStatement(error)
    })
  }
  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.rollbackTransaction(innerOf(connection)).catch((error: unknown) => {
      throw withoutStatement(error)
    })
  }
  async savepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await this.#inner.savepoint?.(innerOf(connection), name, compile)
  }
  async rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await this.#inner.rollbackToSavepoint?.(innerOf(connection), name, compile)
  }
  async releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await this.#inner.releaseSavepoint?.(innerOf(connection), name, compile)
  }
  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    try {
      await this.#inner.releaseConnection(innerOf(connection))
    } finally {
      this.#turns?.give()
      this.#observer?.released()
    }
  }
  destroy(): Promise<void> {
    return this.#inner.destroy()
  }
}

/** `dialect` with its driver guarded (see GuardOptions); everything else is the dialect's own. */
export function guardedDialect(dialect: Dialect, options: GuardOptions): Dialect {
  return {
    createDriver: () => new GuardedDriver(dialect.createDriver(), options),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createAdapter: () => dialect.createAdapter(),
    // biome-ignore lint/suspicious/noExplicitAny: Kysely's introspector takes any database
    createIntrospector: (db: Kysely<any>) => dialect.createIntrospector(db),
  }
}
