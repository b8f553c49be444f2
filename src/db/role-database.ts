import type { Config } from '../config/load.ts'
import type { Logger } from '../observability/logger.ts'
import { type DatabaseHandle, openDatabase } from './database.ts'
import type { PoolObserver } from './guarded-driver.ts'

/**
 * The database of a role process: DATABASE_URL with a pool of `poolMax` (DB_POOL_MAX unless the
 * role needs fewer), and a failed idle connection logged, since the pool replaces it on its own;
 * `poolObserver` (createPoolMetrics) sees its connections taken and returned.
 */
export function openRoleDatabase(
  config: Pick<Config, 'DATABASE_URL' | 'DB_POOL_MAX' | 'DB_MYSQL_PREPARED'>,
  logger: Logger,
  poolMax = config.DB_POOL_MAX,
  acquireTimeoutMs?: number,
  poolObserver?: PoolObserver,
): DatabaseHandle {
  return openDatabase({
    url: config.DATABASE_URL,
    poolMax,
    mysqlPrepared: config.DB_MYSQL_PREPARED,
    ...(acquireTimeoutMs === undefined ? {} : { acquireTimeoutMs }),
    ...(poolObserver === undefined ? {} : { poolObserver }),
    onIdleConnectionError: (error) =>
      logger.warn({ err: error }, 'idle database connection failed; the pool replaces it'),
  })
}
