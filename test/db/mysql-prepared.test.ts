import assert from 'node:assert/strict'
import { test } from 'node:test'
import { types } from 'node:util'
import { Kysely, MysqlDialect, sql } from 'kysely'
import { createPool, type PoolConnection } from 'mysql2'
import { preparedStatementPool } from '../../src/db/mysql-prepared.ts'
import { requireService } from '../helpers/services.ts'

/** This session's prepared-statement counters (MariaDB's Com_stmt_*). */
async function statementCounters(db: Kysely<unknown>): Promise<{ prepare: number; execute: number }> {
  const { rows } = await sql<{
    Variable_name: string
    Value: string
  }>`show session status like 'Com_stmt_%'`.execute(db)
  const of = (name: string) => Number(rows.find((row) => row.Variable_name === name)?.Value)
  return { prepare: of('Com_stmt_prepare'), execute: of('Com_stmt_execute') }
}

test('mysql: statements with parameters run prepared (parsed once per connection), the rest as text; checkouts hand out one wrapper per connection and return the connection itself to the pool', {
  timeout: 30_000,
}, async (t) => {
  const url = await requireService(t, 'mysql')
  if (url === undefined) return
  // One connection, so that every statement below shares its session counters.
  const pool = createPool({ uri: url, connectionLimit: 1 })
  const db = new Kysely<unknown>({ dialect: new MysqlDialect({ pool: preparedStatementPool(pool) }) })
  try {
    const before = await statementCounters(db)
    for (let i = 0; i < 50; i++) {
      const { rows } = await sql<{ x: number; y: string }>`select ${i} as x, ${'abc'} as y`.execute(db)
      assert.deepEqual(rows, [{ x: i, y: 'abc' }])
    }
    await sql`select 1`.execute(db)
    const after = await statementCounters(db)
    assert.deepEqual(
      { prepare: after.prepare - before.prepare, execute: after.execute - before.execute },
      {
        prepare: 1,
        execute: 50,
      },
    )
    // What the pool keeps between checkouts is mysql2's own connection, never a wrapper of it.
    const raw = await new Promise<PoolConnection>((resolve, reject) =>
      pool.getConnection((error, connection) => (error ? reject(error) : resolve(connection))),
    )
    assert.equal(types.isProxy(raw), false, 'the pool handed out a wrapper it was given back')
    raw.release()
    const wrappers = new Set<PoolConnection>()
    const wrapped = preparedStatementPool(pool)
    for (let i = 0; i < 3; i++) {
      const connection = await new Promise<PoolConnection>((resolve, reject) =>
        wrapped.getConnection((error, c) => (error ? reject(error) : resolve(c))),
      )
      wrappers.add(connection)
      connection.release()
    }
    assert.equal(wrappers.size, 1, 'one wrapper per connection across checkouts')
  } finally {
    await db.destroy()
  }
})
