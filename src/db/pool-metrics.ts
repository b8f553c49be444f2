import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { PoolObserver } from './guarded-driver.ts'

/**
 * The database pool metrics of a role: `payrail_db_pool_connections_in_use`,
 * `payrail_db_pool_waiting`, `payrail_db_pool_max`, `payrail_db_pool_acquire_timeouts_total` and
 * `payrail_db_pool_acquire_seconds`. A role with one pool passes no `pools` and its series have
 * no `pool` label; a role with several names them all here, and each gets its own series.
 * Returns the observer to pass to `openDatabase` (`poolObserver`) for each pool.
 */
export function createPoolMetrics(
  registry: Registry,
  pools: readonly string[] = [],
): (pool?: string) => PoolObserver {
  const labelNames = pools.length > 0 ? ['pool'] : []
  const gauge = (name: string, help: string) => new Gauge({ name, help, labelNames, registers: [registry] })
  const inUse = gauge(
    'payrail_db_pool_connections_in_use',
    'Database connections handed out and not yet returned',
  )
  const waiting = gauge('payrail_db_pool_waiting', 'Acquisitions waiting for a database connection')
  const max = gauge(
    'payrail_db_pool_max',
    'Configured database pool size (1 on SQLite: one connection taken in turns)',
  )
  const timeouts = new Counter({
    name: 'payrail_db_pool_acquire_timeouts_total',
    help: 'Waits for a database connection that ended in DATABASE_BUSY',
    labelNames,
    registers: [registry],
  })
  // A free connection is taken in 2-11 µs (mean of 500 queries: SQLite 2, MariaDB 7, PostgreSQL
  // 11 µs), all in the first bucket; the others span real waits up to the api's 1 s
  // DB_POOL_ACQUIRE_TIMEOUT_MS and beyond (the relay and the worker wait without a bound).
  const acquire = new Histogram({
    name: 'payrail_db_pool_acquire_seconds',
    help: 'Wait for a database connection, timed-out waits included',
    labelNames,
    buckets: [0.0001, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  })
  const observerFor = (pool?: string): PoolObserver => {
    if ((pool === undefined) !== (pools.length === 0) || (pool !== undefined && !pools.includes(pool)))
      throw new Error(`database pool ${pool ?? '(unnamed)'} is not one of [${pools.join(', ')}]`)
    const labels = pool === undefined ? {} : { pool }
    inUse.set(labels, 0)
    waiting.set(labels, 0)
    timeouts.inc(labels, 0)
    return {
      sized: (size) => max.set(labels, size),
      waiting: () => waiting.inc(labels),
      acquired: (seconds) => {
        waiting.dec(labels)
        inUse.inc(labels)
        acquire.observe(labels, seconds)
      },
      failed: (seconds, busy) => {
        waiting.dec(labels)
        if (busy) timeouts.inc(labels)
        acquire.observe(labels, seconds)
      },
      released: () => inUse.dec(labels),
    }
  }
  return observerFor
}
