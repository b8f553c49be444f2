import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import SQLite from 'better-sqlite3'
import {
  CompiledQuery,
  type DatabaseConnection,
  Kysely,
  MysqlDialect,
  PostgresDialect,
  SqliteAdapter,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
  sql,
} from 'kysely'
import { createPool as createMysqlPool } from 'mysql2'
import pg from 'pg'
import { PayrailError } from '../domain/errors.ts'
import { maskCredentials } from '../runtime/options.ts'
import { classifyingDialect } from './classifying-driver.ts'
import { guardedDialect, type PoolObserver } from './guarded-driver.ts'
import { preparedStatementPool } from './mysql-prepared.ts'
import type { Database } from './schema.ts'
import { withStatementCache } from './sqlite-statement-cache.ts'
import { countingDialect, type StatementCounter } from './statement-count.ts'

export type DialectName = 'sqlite' | 'mysql' | 'postgres'

export interface DatabaseOptions {
  /** `sqlite:<path>` (`sqlite::memory:` for a private in-memory one), `mysql://…` / `mariadb://…`, or `postgres://…`. */
  url: string
  /** Connections in the pool (MariaDB/MySQL and PostgreSQL). Default: 20. */
  poolMax?: number
  /**
   * Told when a pooled connection fails outside a query: idle (the server restarted or closed
   * it), or after the query it ran failed with it. The pool replaces the connection; without a
   * listener such an error would end the process. Default: a process warning.
   */
  onIdleConnectionError?: (error: Error) => void
  /**
   * Longest wait for a free pooled connection (on SQLite, for the one connection) before the
   * query fails with DATABASE_BUSY (503, Retry-After). Default: none, the pool's own wait.
   */
  acquireTimeoutMs?: number
  /**
   * Counts every statement and round trip the handle sends, BEGIN and COMMIT included
   * (statement-count.ts), for benchmarks and tests. Default: none, and then nothing is wrapped.
   */
  statementCounter?: StatementCounter
  /** Told of the pool's size and of every connection acquired and released (pool-metrics.ts). Default: none. */
  poolObserver?: PoolObserver
  /**
   * MariaDB/MySQL: statements with parameters go as server-side prepared statements (parsed once
   * per connection) instead of text with the values spliced in. Default: false (DB_MYSQL_PREPARED)
   */
  mysqlPrepared?: boolean
}

export interface DatabaseHandle {
  db: Kysely<Database>
  dialect: DialectName
  /** The URL without its password, for logs and status output. */
  safeUrl: string
  close: () => Promise<void>
}

function dialectOf(url: string): DialectName {
  if (url.startsWith('sqlite:')) return 'sqlite'
  if (url.startsWith('mysql://') || url.startsWith('mariadb://')) return 'mysql'
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return 'postgres'
  throw new PayrailError(
    'CONFIG_INVALID',
    `DATABASE_URL must start with sqlite:, mysql://, mariadb:// or postgres:// (got ${redactUrl(url)})`,
  )
}

function redactUrl(url: string): string {
  return maskCredentials(url)
}

// PostgreSQL sends BIGINT and NUMERIC as strings. payrail's BIGINT columns hold safe integers
// (minor units, epoch milliseconds), so read them as numbers, per pool rather than globally.
const PG_INT8 = 20
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === PG_INT8) return (value: string) => Number(value)
    return pg.types.getTypeParser(oid, format as 'text')
  },
} as pg.CustomTypesConfig

/**
 * SQLite's plain BEGIN takes the write lock only at the first write, and a transaction that read
 * first cannot then wait for it: SQLite answers SQLITE_BUSY at once to avoid a deadlock. Every
 * payrail transaction writes, so take the lock up front and let busy_timeout queue the writers
 * of other processes (api, relay and workers share one file under `payrail up`).
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'))
  }
}

/**
 * SQLite runs DDL inside transactions, but Kysely's adapter says it does not and takes no lock,
 * so two processes migrating one file could both read "nothing applied" and both run 001. Saying
 * yes makes the migrator read its state and apply everything inside one BEGIN IMMEDIATE
 * transaction: the second process waits for the write lock and then finds the work done.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true
  }
}

/**
 * Kysely serializes the one SQLite connection with a lock of its own above the driver, whose
 * wait nothing bounds; payrail's guarded driver takes turns itself instead (guarded-driver.ts),
 * with the acquire timeout, so Kysely is told not to.
 */
class TurnTakingSqliteAdapter extends TransactionalDdlSqliteAdapter {
  override get supportsMultipleConnections(): boolean {
    return true
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig
  constructor(config: SqliteDialectConfig) {
    super(config)
    this.#config = config
  }
  override createDriver(): SqliteDriver {
    return new ImmediateSqliteDriver(this.#config)
  }
  override createAdapter(): SqliteAdapter {
    return new TurnTakingSqliteAdapter()
  }
}

function sqliteDialect(url: string): SqliteDialect {
  const location = url.slice('sqlite:'.length)
  const inMemory = location === ':memory:' || location === ''
  const file = inMemory ? ':memory:' : resolve(location)
  if (!inMemory) mkdirSync(dirname(file), { recursive: true })
  return new ImmediateSqliteDialect({
    database: async () => {
      const database = new SQLite(file)
      // WAL lets readers run beside the single writer; busy_timeout makes a second process
      // wait for the write lock instead of failing at once.
      database.pragma('journal_mode = WAL')
      database.pragma('synchronous = NORMAL')
      database.pragma('busy_timeout = 5000')
      database.pragma('foreign_keys = ON')
      return withStatementCache(database)
    },
  })
}

function mysqlDialect(
  url: string,
  poolMax: number,
  onIdleError: (error: Error) => void,
  prepared: boolean,
): MysqlDialect {
  const parsed = new URL(url.replace(/^mariadb:/, 'mysql:'))
  const pool = createMysqlPool({
    host: parsed.hostname,
    port: Number(parsed.port || 3306),
    user: decodeURIComponent(parsed.username || 'root'),
    password: decodeURIComponent(parsed.password),
    database: parsed.pathname.slice(1) || undefined,
    connectionLimit: poolMax,
    // Dates are stored as epoch milliseconds; keep the session in UTC for anything else.
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
    // MariaDB's max_prepared_stmt_count (16,382 by default) counts every session's prepared
    // statements server-wide, and mysql2 keeps up to 16,000 per connection: the relay's batches
    // (a statement text per batch size) on 20 connections of a few processes could reach it and
    // fail every new statement. 128 per connection (least recently used closed first) holds the
    // api's few dozen texts.
    ...(prepared ? { maxPreparedStatements: 128 } : {}),
  })
  pool.on('connection', (connection) => connection.on('error', onIdleError))
  return new MysqlDialect({ pool: prepared ? preparedStatementPool(pool) : pool })
}

function postgresDialect(url: string, poolMax: number, onIdleError: (error: Error) => void): PostgresDialect {
  const pool = new pg.Pool({ connectionString: url, max: poolMax, types: pgTypes })
  pool.on('error', onIdleError)
  // pg-pool listens for errors only on idle clients. A client whose server dies while it is
  // checked out fails its query (that error reaches the caller, classified) and then emits
  // 'error' too; with no listener that event would end the process (seen with kill -9).
  pool.on('connect', (client) => client.on('error', onIdleError))
  return new PostgresDialect({ pool })
}

export function openDatabase(options: DatabaseOptions): DatabaseHandle {
  const dialect = dialectOf(options.url)
  const poolMax = options.poolMax ?? 20
  const onIdleError =
    options.onIdleConnectionError ??
    ((error: Error) =>
      process.emitWarning(`idle database connection failed: ${error.message}`, 'PayrailDatabase'))
  const kyselyDialect =
    dialect === 'sqlite'
      ? sqliteDialect(options.url)
      : dialect === 'mysql'
        ? mysqlDialect(options.url, poolMax, onIdleError, options.mysqlPrepared ?? false)
        : postgresDialect(options.url, poolMax, onIdleError)
  // Counted innermost, so that what is counted is what the dialect's driver sends.
  const counted =
    options.statementCounter === undefined
      ? kyselyDialect
      : countingDialect(kyselyDialect, options.statementCounter)
  // Errors are classified on the driver's own (DATABASE_UNAVAILABLE…), then scrubbed of SQL.
  const db = new Kysely<Database>({
    dialect: guardedDialect(classifyingDialect(counted), {
      acquireTimeoutMs: options.acquireTimeoutMs,
      singleConnection: dialect === 'sqlite',
      observer: options.poolObserver,
    }),
  })
  options.poolObserver?.sized(dialect === 'sqlite' ? 1 : poolMax)
  return { db, dialect, safeUrl: redactUrl(options.url), close: () => db.destroy() }
}

/** A cheap round trip, for `/readyz`. */
export async function pingDatabase(db: Kysely<Database>): Promise<void> {
  await sql`select 1`.execute(db)
}
