import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { type DatabaseHandle, type DialectName, openDatabase } from '../../src/db/database.ts'
import { requireService } from './services.ts'

export const dialects: DialectName[] = ['sqlite', 'mysql', 'postgres']

export interface ThrowawayDatabase {
  url: string
  /** Opens a handle that is closed when the test ends, before the database is dropped. */
  open: (poolMax?: number) => DatabaseHandle
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
    open: (poolMax = 2) => {
      const handle = openDatabase({ url, poolMax })
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
  const name = `payrail_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'payrail-test-'))
    setDrop(async () => rmSync(dir, { recursive: true, force: true }))
    return `sqlite:${join(dir, `${name}.db`)}`
  }
  const server = await requireService(t, dialect)
  if (server === undefined) return undefined
  if (dialect === 'mysql') {
    const connection = await mysql.createConnection({ uri: server })
    await connection.query(`CREATE DATABASE \`${name}\``)
    await connection.end()
    setDrop(async () => {
      const cleanup = await mysql.createConnection({ uri: server })
      await cleanup.query(`DROP DATABASE IF EXISTS \`${name}\``)
      await cleanup.end()
    })
    const url = new URL(server)
    url.pathname = `/${name}`
    return url.toString()
  }
  const client = new pg.Client({ connectionString: server })
  await client.connect()
  await client.query(`CREATE DATABASE "${name}"`)
  await client.end()
  setDrop(async () => {
    const cleanup = new pg.Client({ connectionString: server })
    await cleanup.connect()
    await cleanup.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    await cleanup.end()
  })
  const url = new URL(server)
  url.pathname = `/${name}`
  return url.toString()
}
