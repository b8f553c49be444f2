import type { Pool, PoolConnection } from 'mysql2'

/** The part of a mysql2 pool that Kysely's MysqlDialect uses. */
export type MysqlDialectPool = Pick<Pool, 'getConnection' | 'end'>

/**
 * A mysql2 connection whose `query` with parameters runs as `execute`: a server-side prepared
 * statement, parsed once per connection and cached by mysql2 (16,000 per connection by default),
 * its values sent in binary. Kysely's MysqlDriver only ever calls `query`, so this is the one
 * place to choose; statements without parameters (BEGIN, COMMIT, `select 1`) stay text, since
 * some of them cannot be prepared. Written here because neither Kysely nor mysql2 offers it.
 */
function preparing(connection: PoolConnection): PoolConnection {
  return new Proxy(connection, {
    get(target, property) {
      // Every other method runs on the connection itself: `release()` called on the wrapper
      // would put the wrapper into mysql2's free list, and the next checkout would wrap it again
      // (each query then went through one more wrapper than the last: 400 selects on one
      // connection took 0.4 s for the first 50 and 10 s for the fourth 50).
      if (property !== 'query') {
        const value: unknown = Reflect.get(target, property, target)
        return typeof value === 'function' ? value.bind(target) : value
      }
      return (sqlText: string, values: unknown[] | undefined, callback: unknown) =>
        values !== undefined && values.length > 0
          ? (target.execute as (...args: unknown[]) => unknown).call(target, sqlText, values, callback)
          : (target.query as (...args: unknown[]) => unknown).call(target, sqlText, values, callback)
    },
  })
}

/**
 * `pool` for Kysely's MysqlDialect, handing out each connection as one wrapper for its whole
 * life: Kysely keeps its own state per connection object (a WeakMap), so a new wrapper at each
 * checkout would make that state anew every time.
 */
export function preparedStatementPool(pool: Pool): MysqlDialectPool {
  const wrapped = new WeakMap<PoolConnection, PoolConnection>()
  const wrapperOf = (connection: PoolConnection) => {
    let wrapper = wrapped.get(connection)
    if (wrapper === undefined) {
      wrapper = preparing(connection)
      wrapped.set(connection, wrapper)
    }
    return wrapper
  }
  return {
    getConnection: (callback) =>
      pool.getConnection((error, connection) =>
        callback(error, connection === undefined ? connection : wrapperOf(connection)),
      ),
    end: (callback) => pool.end(callback),
  }
}
