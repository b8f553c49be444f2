import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { testServiceUrl } from '../../src/cli/test-services.ts'
import type { DialectName } from '../../src/db/database.ts'

/** An empty database for one benchmark run on the real server of `dialect`, and how to drop it. */
export async function freshDatabase(
  dialect: DialectName,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `payrail_bench_${randomBytes(4).toString('hex')}`
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'payrail-bench-'))
    return {
      url: `sqlite:${join(dir, 'bench.db')}`,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    }
  }
  const server = testServiceUrl(dialect)
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
        await cleanup.query(`DROP DATABASE \`${name}\``)
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
      for (let tries = 0; tries < 50; tries++) {
        const open = await cleanup.query(
          'select count(*)::int as n from pg_stat_activity where datname = $1',
          [name],
        )
        if (open.rows[0]?.n === 0) break
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      await cleanup.query(`DROP DATABASE "${name}" WITH (FORCE)`)
      await cleanup.end()
    },
  }
}
