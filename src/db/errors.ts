import { type ErrorCode, PayrailError } from '../domain/errors.ts'

/** Whether a write failed on a primary key or unique constraint, in any of the three dialects. */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  const { code, errno } = error as { code?: unknown; errno?: unknown }
  return (
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'ER_DUP_ENTRY' ||
    errno === 1062 ||
    code === '23505'
  )
}

/** The socket failed: the server is down, restarting, moving (failover) or unreachable. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  // mysql2's own names for a connection that closed or never finished its handshake.
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ETIMEOUT',
])

/**
 * MariaDB/MySQL server and client error numbers of a server that is going or gone: 1040 too many
 * connections, 1053 shutdown in progress, 1290/1836 read-only (a demoted primary during
 * failover), 1927 connection killed (at shutdown), 2002/2003/2006/2013 can't connect, server gone,
 * connection lost.
 */
const MYSQL_UNAVAILABLE = new Set([1040, 1053, 1290, 1836, 1927, 2002, 2003, 2006, 2013])
/** 1205 lock wait timeout, 1213 deadlock (the transaction was rolled back), 1020 record changed. */
const MYSQL_CONTENTION = new Set([1205, 1213, 1020])

/**
 * PostgreSQL SQLSTATEs of a server that is going or gone: class 08 (connection exception), 57P01
 * admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now (starting up, in recovery),
 * 53300 too many connections, 25006 read-only transaction (a standby after failover).
 */
const POSTGRES_UNAVAILABLE = new Set(['57P01', '57P02', '57P03', '53300', '25006'])
/** 40001 serialization failure, 40P01 deadlock, 55P03 lock not available (lock_timeout). */
const POSTGRES_CONTENTION = new Set(['40001', '40P01', '55P03'])

/**
 * node-postgres reports a connection that died under it with a plain Error and no code; these
 * are its messages (pg/lib/client.js, pg-pool), seen when the server is killed or stopped.
 */
const PG_CONNECTION_MESSAGES = [
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'Client has encountered a connection error and is not queryable',
  'timeout exceeded when trying to connect',
  'Query read timeout',
]

/** The error and what it wraps (`cause`, an AggregateError's `errors`, Node's happy-eyeballs connects). */
function chain(error: unknown, depth = 0): Record<string, unknown>[] {
  if (typeof error !== 'object' || error === null || depth > 4) return []
  const e = error as Record<string, unknown>
  const nested = Array.isArray(e.errors) ? e.errors : []
  return [e, ...chain(e.cause, depth + 1), ...nested.flatMap((inner) => chain(inner, depth + 1))]
}

function classifyOne(e: Record<string, unknown>): 'DATABASE_UNAVAILABLE' | 'DATABASE_CONTENTION' | undefined {
  const { code, errno, message, fatal } = e
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code)) return 'DATABASE_UNAVAILABLE'
    if (/^08[0-9A-Z]{3}$/.test(code) || POSTGRES_UNAVAILABLE.has(code)) return 'DATABASE_UNAVAILABLE'
    if (POSTGRES_CONTENTION.has(code)) return 'DATABASE_CONTENTION'
    // better-sqlite3 gives extended codes: SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED_SHAREDCACHE…
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'DATABASE_CONTENTION'
  }
  if (typeof errno === 'number') {
    if (MYSQL_UNAVAILABLE.has(errno)) return 'DATABASE_UNAVAILABLE'
    if (MYSQL_CONTENTION.has(errno)) return 'DATABASE_CONTENTION'
  }
  if (typeof message === 'string') {
    // mysql2 marks errors that end the connection as fatal; one without a code is a pooled
    // connection used after the server closed it ("…connection is in closed state").
    if (fatal === true && code === undefined) return 'DATABASE_UNAVAILABLE'
    if (PG_CONNECTION_MESSAGES.some((known) => message.startsWith(known))) return 'DATABASE_UNAVAILABLE'
  }
  return undefined
}

/**
 * The catalog code of a driver error that is the database's condition rather than the
 * statement's, for SQLite (better-sqlite3), MariaDB/MySQL (mysql2) and PostgreSQL (pg):
 * - `DATABASE_UNAVAILABLE`: connection refused, reset or lost, server shutting down or starting,
 *   failover (read-only), too many connections;
 * - `DATABASE_CONTENTION`: deadlock, lock wait timeout, serialization failure, SQLITE_BUSY/LOCKED;
 *   the transaction was rolled back and the same work may succeed when tried again.
 * Anything else (a constraint, a syntax error, a bad value) is undefined: a retry will not help.
 */
export function databaseErrorCode(
  error: unknown,
): 'DATABASE_UNAVAILABLE' | 'DATABASE_CONTENTION' | undefined {
  if (error instanceof PayrailError) {
    return error.code === 'DATABASE_UNAVAILABLE' || error.code === 'DATABASE_CONTENTION'
      ? error.code
      : undefined
  }
  let found: 'DATABASE_UNAVAILABLE' | 'DATABASE_CONTENTION' | undefined
  for (const e of chain(error)) {
    const code = classifyOne(e)
    // A lost connection outranks a deadlock reported beside it: the server is what to wait for.
    if (code === 'DATABASE_UNAVAILABLE') return code
    found ??= code
  }
  return found
}

/**
 * The error payrail throws for a driver error: the catalog code when `databaseErrorCode` knows
 * it (the driver's error kept as `cause`, its code and errno in the message), else the error
 * itself, unchanged, so that e.g. `isUniqueViolation` still sees the driver's fields.
 */
export function classifyDatabaseError(error: unknown): unknown {
  const code: ErrorCode | undefined = databaseErrorCode(error)
  if (code === undefined || error instanceof PayrailError) return error
  const { code: driverCode, errno } = error as { code?: unknown; errno?: unknown }
  const tag = [driverCode, errno].filter((part) => part !== undefined && part !== '').join('/')
  const message = error instanceof Error ? error.message : String(error)
  return new PayrailError(code, `database: ${message}${tag === '' ? '' : ` (${tag})`}`, { cause: error })
}

/** Fields of a driver error that name what failed without quoting the statement or its values. */
const SAFE_FIELDS = ['code', 'errno', 'sqlState', 'severity', 'constraint', 'table', 'fatal'] as const

/**
 * A driver error without the statement: mysql2 puts the statement with every value interpolated
 * in `sql` (and quotes it in syntax errors' messages), PostgreSQL's `detail` repeats the values of
 * a conflicting key, and loggers serialize every field and the cause. The copy keeps the fields
 * code matches on (`isUniqueViolation`, retries) and a message made of them. Node's own network
 * errors (refused, reset, timed out) carry no SQL and pass unchanged.
 */
export function withoutStatement(error: unknown): unknown {
  // A classified error (DATABASE_UNAVAILABLE…) keeps its code and message; its cause is the driver's.
  if (error instanceof PayrailError)
    return error.cause === undefined
      ? error
      : new PayrailError(error.code, error.message, {
          cause: withoutStatement(error.cause),
          details: error.details,
        })
  if (!(error instanceof Error)) return error
  if (typeof (error as { syscall?: unknown }).syscall === 'string') return error
  const fields = error as unknown as Record<string, unknown>
  const safe = new Error(
    `database error${fields.code === undefined ? '' : ` ${String(fields.code)}`}${
      typeof fields.errno === 'number' ? ` (errno ${fields.errno})` : ''
    }${typeof fields.constraint === 'string' ? ` on constraint ${fields.constraint}` : ''}`,
  )
  safe.name = 'DatabaseError'
  for (const field of SAFE_FIELDS)
    if (fields[field] !== undefined) Object.assign(safe, { [field]: fields[field] })
  return safe
}
