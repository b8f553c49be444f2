import type { TestContext } from 'node:test'
import {
  type PrivateDatabaseServer,
  type ServerDialect,
  startPrivateDatabase,
} from '../../src/chaos/private-database.ts'
import { type DatabaseHandle, openDatabase } from '../../src/db/database.ts'
import { hasErrorCode } from '../../src/domain/errors.ts'
import type { ThrowawayDatabase } from './databases.ts'

export type { ServerDialect } from '../../src/chaos/private-database.ts'

/**
 * A MariaDB or PostgreSQL server of the test's own, on a spare port with a temporary data
 * directory, for fault tests that stop or kill the database (the machine's shared servers are
 * never touched). It is a ThrowawayDatabase too: `url` names a database `payrail` on it, and the
 * users registered with `beforeClose` stop before the server is killed and its folder deleted.
 * The server itself is src/chaos/private-database.ts, which `payrail chaos --full` uses too.
 */
export interface PrivateDatabase extends ThrowawayDatabase {
  dialect: ServerDialect
  port: number
  /** Starts the server again on the same port and data directory; resolves once it accepts queries. */
  start: () => Promise<void>
  /** A clean shutdown (MariaDB: SIGTERM; PostgreSQL: SIGINT, its fast shutdown); resolves once it exited. */
  stop: () => Promise<void>
  /** SIGKILL to the server and every process it started; resolves once they are gone. */
  kill: () => Promise<void>
  running: () => boolean
  /** The server's log so far, for failure messages. */
  log: () => string
}

/**
 * A private server of `dialect`, already running, with a database `payrail`; killed and deleted
 * when the test ends. Skips the test (fails it under CI) when the server programs are missing.
 */
export async function privateDatabase(
  t: TestContext,
  dialect: ServerDialect,
): Promise<PrivateDatabase | undefined> {
  let server: PrivateDatabaseServer
  try {
    server = await startPrivateDatabase(dialect)
  } catch (error) {
    if (!hasErrorCode(error, 'DEPENDENCY_MISSING') || process.env.CI === 'true') throw error
    t.skip((error as Error).message)
    return undefined
  }
  const handles: DatabaseHandle[] = []
  const users: (() => Promise<void>)[] = []
  // One hook, so that users stop, then handles close, then the server goes, whatever order
  // node:test runs hooks in.
  t.after(async () => {
    for (const stop of users.reverse()) await stop()
    // A handle on a server the test killed fails to close cleanly; the server goes next anyway.
    for (const handle of handles) await handle.close().catch(() => {})
    await server.close()
  })
  return {
    dialect,
    port: server.port,
    url: server.url,
    open: (poolMax = 2) => {
      const handle = openDatabase({ url: server.url, poolMax, onIdleConnectionError: () => {} })
      handles.push(handle)
      return handle
    },
    beforeClose: (stop) => users.push(stop),
    start: server.start,
    stop: server.stop,
    kill: server.kill,
    running: server.running,
    log: server.log,
  }
}
