import type { TestContext } from 'node:test'
import { type DatabaseHandle, type DialectName, openDatabase } from '../../src/db/database.ts'
import type { PoolObserver } from '../../src/db/guarded-driver.ts'
import type { StatementCounter } from '../../src/db/statement-count.ts'
import { createScratchDatabase } from '../../support/databases.ts'
import { requireService } from './services.ts'

export const dialects: DialectName[] = ['sqlite', 'mysql', 'postgres']

export interface ThrowawayDatabase {
  url: string
  /** Opens a handle that is closed when the test ends, before the database is dropped. */
  open: (
    poolMax?: number,
    options?: { acquireTimeoutMs?: number; statementCounter?: StatementCounter; poolObserver?: PoolObserver },
  ) => DatabaseHandle
  /** Runs `stop` when the test ends, before the handles close (for whatever still uses them). */
  beforeClose: (stop: () => Promise<void>) => void
}

/**
 * A new, empty database on the real server of `dialect`, dropped when the test ends; undefined
 * when the test was skipped because the server is missing.
 */
export async function throwawayDatabase(
  t: TestContext,
  dialect: DialectName,
): Promise<ThrowawayDatabase | undefined> {
  const handles: DatabaseHandle[] = []
  const users: (() => Promise<void>)[] = []
  // One hook, so that users stop, then handles close, then the database is dropped, whatever
  // order node:test runs hooks in.
  let drop: () => Promise<void> = async () => {}
  t.after(async () => {
    for (const stop of users.reverse()) await stop()
    for (const handle of handles) await handle.close()
    await drop()
  })
  const url = await createDatabase(t, dialect, (dropper) => {
    drop = dropper
  })
  if (url === undefined) return undefined
  return {
    url,
    open: (poolMax = 2, options = {}) => {
      const handle = openDatabase({ url, poolMax, ...options })
      handles.push(handle)
      return handle
    },
    beforeClose: (stop) => users.push(stop),
  }
}

async function createDatabase(
  t: TestContext,
  dialect: DialectName,
  setDrop: (drop: () => Promise<void>) => void,
): Promise<string | undefined> {
  const server = dialect === 'sqlite' ? '' : await requireService(t, dialect)
  if (server === undefined) return undefined
  const scratch = await createScratchDatabase(dialect, server, 'payrail_test')
  setDrop(scratch.drop)
  return scratch.url
}
