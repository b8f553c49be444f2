import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { testServiceUrl } from '../src/cli/test-services.ts'
import type { DialectName } from '../src/db/database.ts'

/** A new, empty database and how to drop it. */
export interface ScratchDatabase {
  url: string
  drop: () => Promise<void>
}

/**
 * Creates an empty database on `server` (the server's URL, for MariaDB and PostgreSQL) or a
 * SQLite file in a new temporary folder, named `<prefix>_<time>_<random>` so that concurrent
 * runs never meet. Shared by the tests (`test/helpers/databases.ts`) and the benchmarks.
 */
export async function createScratchDatabase(
  dialect: DialectName,
  server: string,
  prefix: string,
): Promise<ScratchDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), `${prefix.replaceAll('_', '-')}-`))
    return {
      url: `sqlite:${join(dir, `${name}.db`)}`,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    }
  }
  const url = new URL(server)
  url.pathname = `/${name}`
  if (dialect === 'mysql') {
    const connection = await mysql.createConnection({ uri: server })
    await connection.query(`CREATE DATABASE \`${name}\``)
    await connection.end()
    return {
      url: url.toString(),
      drop: async () => {
        const cleanup = await mysql.createConnection({ uri: server })
        await cleanup.query(`DROP DATABASE IF EXISTS \`${name}\``)
        await cleanup.end()
      },
    }
  }
  const client = new pg.Client({ connectionString: server })
  await client.connect()
  await client.query(`CREATE DATABASE "${name}"`)
  await client.end()
  return {
    url: url.toString(),
    drop: async () => {
      const cleanup = new pg.Client({ connectionString: server })
      await cleanup.connect()
      // A pool's end() resolves before its connections are gone from the server; forcing the
      // drop at once would cut them and make their (closed) pool report errors. Wait a little.
      const deadline = Date.now() + 5000
      while (Date.now() < deadline) {
        const open = await cleanup.query(
          'select count(*)::int as n from pg_stat_activity where datname = $1',
          [name],
        )
        if (open.rows[0]?.n === 0) break
        await sleep(100)
      }
      await cleanup.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      await cleanup.end()
    },
  }
}

/** The server of `dialect` the tests and benchmarks use (`PAYRAIL_TEST_*_URL`); empty for SQLite. */
export function scratchServerOf(dialect: DialectName): string {
  return dialect === 'sqlite' ? '' : testServiceUrl(dialect)
}
