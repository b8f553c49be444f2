import type {
  CompiledQuery,
  DatabaseConnection,
  Dialect,
  Driver,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely'
import { classifyDatabaseError } from './errors.ts'

type AbortOptions = Parameters<Driver['acquireConnection']>[0]

async function classified<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    throw classifyDatabaseError(error)
  }
}

/**
 * A pooled connection whose errors come out classified. The dialect's own driver gets the inner
 * connection back: Kysely's drivers release and discard theirs through private symbols.
 */
class ClassifyingConnection implements DatabaseConnection {
  readonly inner: DatabaseConnection

  constructor(inner: DatabaseConnection) {
    this.inner = inner
  }

  executeQuery<R>(compiledQuery: CompiledQuery, options?: AbortOptions): Promise<QueryResult<R>> {
    return classified(() => this.inner.executeQuery<R>(compiledQuery, options))
  }

  async *streamQuery<R>(
    compiledQuery: CompiledQuery,
    chunkSize: number,
    options?: AbortOptions,
  ): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.inner.streamQuery<R>(compiledQuery, chunkSize, options)
    } catch (error) {
      throw classifyDatabaseError(error)
    }
  }
}

function innerOf(connection: DatabaseConnection): DatabaseConnection {
  return connection instanceof ClassifyingConnection ? connection.inner : connection
}

/**
 * Every error of the driver, whichever step raised it (taking a pooled connection, begin, a
 * statement, commit, rollback), goes through `classifyDatabaseError`: the one place where the
 * three drivers' outage and contention errors become catalog codes, so that every role (the
 * workers' retry policy, the api's problem answers, the relay) sees the same codes.
 */
class ClassifyingDriver implements Driver {
  readonly #inner: Driver
  readonly #wrapped = new WeakMap<DatabaseConnection, ClassifyingConnection>()

  constructor(inner: Driver) {
    this.#inner = inner
  }

  init(options?: AbortOptions): Promise<void> {
    return classified(() => this.#inner.init(options))
  }

  async acquireConnection(options?: AbortOptions): Promise<DatabaseConnection> {
    const inner = await classified(() => this.#inner.acquireConnection(options))
    // Drivers hand the same pooled connection out again; so do we, so identity checks hold.
    let wrapped = this.#wrapped.get(inner)
    if (wrapped === undefined) {
      wrapped = new ClassifyingConnection(inner)
      this.#wrapped.set(inner, wrapped)
    }
    return wrapped
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return classified(() => this.#inner.beginTransaction(innerOf(connection), settings))
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return classified(() => this.#inner.commitTransaction(innerOf(connection)))
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return classified(() => this.#inner.rollbackTransaction(innerOf(connection)))
  }

  savepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    return classified(async () => {
      if (this.#inner.savepoint === undefined) throw new Error('the driver has no savepoints')
      await this.#inner.savepoint(innerOf(connection), name, compileQuery)
    })
  }

  rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    return classified(async () => {
      if (this.#inner.rollbackToSavepoint === undefined) throw new Error('the driver has no savepoints')
      await this.#inner.rollbackToSavepoint(innerOf(connection), name, compileQuery)
    })
  }

  releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    return classified(async () => {
      if (this.#inner.releaseSavepoint === undefined) throw new Error('the driver has no savepoints')
      await this.#inner.releaseSavepoint(innerOf(connection), name, compileQuery)
    })
  }

  releaseConnection(connection: DatabaseConnection, options?: AbortOptions): Promise<void> {
    return classified(() => this.#inner.releaseConnection(innerOf(connection), options))
  }

  destroy(options?: AbortOptions): Promise<void> {
    return this.#inner.destroy(options)
  }
}

/** The dialect with its driver's errors classified (see ClassifyingDriver). */
export function classifyingDialect(dialect: Dialect): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new ClassifyingDriver(dialect.createDriver()),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
  }
}
