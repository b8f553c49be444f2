import assert from 'node:assert/strict'
import { existsSync, readdirSync } from 'node:fs'
import { connect } from 'node:net'
import { type TestContext, test } from 'node:test'
import { Redis } from 'ioredis'
import { sql } from 'kysely'
import { missingDatabasePrograms, startPrivateDatabase } from '../../src/chaos/private-database.ts'
import { startPrivateRedis } from '../../src/chaos/private-redis.ts'
import { openDatabase } from '../../src/db/database.ts'
import { hasErrorCode } from '../../src/domain/errors.ts'
import { until } from '../helpers/until.ts'

/** How a plain TCP connection to `port` ends: 'open' or the error code (ECONNREFUSED). */
function tcpConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.on('connect', () => {
      socket.destroy()
      resolve('open')
    })
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
  })
}

/** PING through the redis client payrail uses, with no retries: a refusal fails at once, with its cause. */
async function ping(url: string): Promise<string> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  // ioredis emits the socket's error (ECONNREFUSED) and rejects with "Connection is closed".
  const errors: Error[] = []
  client.on('error', (error: Error) => errors.push(error))
  try {
    await client.connect()
    return await client.ping()
  } catch (error) {
    throw errors[0] ?? error
  } finally {
    client.disconnect()
  }
}

/** The started server; undefined when the test was skipped (failed under CI) for a missing program. */
async function started<T>(t: TestContext, starting: Promise<T>): Promise<T | undefined> {
  try {
    return await starting
  } catch (error) {
    if (!hasErrorCode(error, 'DEPENDENCY_MISSING') || process.env.CI === 'true') throw error
    t.skip((error as Error).message)
    return undefined
  }
}

test('redis: starts answering PING, a kill refuses connections, a start on the same port answers again, close deletes its folder', {
  timeout: 60_000,
}, async (t) => {
  const redis = await started(t, startPrivateRedis())
  if (redis === undefined) return
  t.after(() => redis.close())
  assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`)
  assert.notEqual(redis.port, 6379, 'never the shared server')
  assert.equal(await ping(redis.url), 'PONG')
  assert.equal(existsSync(redis.dir), true)

  await redis.kill()
  assert.equal(redis.running(), false)
  assert.equal(await tcpConnect(redis.port), 'ECONNREFUSED')
  await assert.rejects(ping(redis.url), /ECONNREFUSED/)

  await redis.start()
  assert.equal(redis.running(), true)
  assert.equal(await ping(redis.url), 'PONG')
  // Nothing persisted: no dump or append-only file in its folder, even after a clean stop.
  await redis.stop()
  assert.equal(await tcpConnect(redis.port), 'ECONNREFUSED')
  assert.deepEqual(readdirSync(redis.dir), [])
  await redis.start()
  assert.equal(await ping(redis.url), 'PONG')

  await redis.close()
  assert.equal(redis.running(), false)
  assert.equal(existsSync(redis.dir), false)
  await redis.close()
  await assert.rejects(redis.start(), /is closed/)
})

/**
 * A query that keeps the server's CPU busy for about a minute, far longer than the kill takes
 * (measured here: 2·10^7 rows of generate_series in 5.4 s, 5·10^6 md5 in 4.4 s), and how to see it
 * running.
 */
const BUSY = {
  mysql: {
    query: "select benchmark(70000000, md5('payrail'))",
    running:
      "select count(*) as n from information_schema.processlist where info like 'select benchmark%' and id <> connection_id()",
  },
  postgres: {
    query: 'select count(*) from generate_series(1, 250000000)',
    running:
      "select count(*) as n from pg_stat_activity where state = 'active' and query like 'select count(*) from generate_series%' and pid <> pg_backend_pid()",
  },
} as const

for (const dialect of ['mysql', 'postgres'] as const) {
  test(`${dialect}: a committed row survives a SIGKILL of the private server and a start on the same port; close deletes its folder`, {
    timeout: 180_000,
  }, async (t) => {
    const lines: string[] = []
    const server = await started(t, startPrivateDatabase(dialect, { say: (line) => lines.push(line) }))
    if (server === undefined) return
    assert.deepEqual(missingDatabasePrograms(dialect), [])
    t.after(() => server.close())
    assert.equal(server.dialect, dialect)
    assert.match(server.url, new RegExp(`^${dialect}://[^/]+@127\\.0\\.0\\.1:${server.port}/payrail$`))
    assert.notEqual(server.port, dialect === 'mysql' ? 3306 : 5432, 'never the shared server')
    const handle = openDatabase({ url: server.url, poolMax: 2, onIdleConnectionError: () => {} })
    try {
      await sql`create table survivors (id int primary key, note varchar(40) not null)`.execute(handle.db)
      await sql`insert into survivors (id, note) values (1, 'committed before the kill')`.execute(handle.db)
      const rows = await sql<{ note: string }>`select note from survivors where id = 1`.execute(handle.db)
      assert.deepEqual(rows.rows, [{ note: 'committed before the kill' }])

      // A query busy on the CPU when the kill lands: a PostgreSQL backend only
      // notices a dead postmaster when it waits, so this one must be killed with the server.
      const busy = BUSY[dialect]
      const inFlight = sql
        .raw(busy.query)
        .execute(handle.db)
        .then(
          () => 'finished',
          (error: unknown) => (hasErrorCode(error, 'DATABASE_UNAVAILABLE') ? 'unavailable' : String(error)),
        )
      await until('the busy query to run', async () => {
        const running = await sql.raw<{ n: number | string }>(busy.running).execute(handle.db)
        return Number(running.rows[0]?.n) > 0
      })
      let outcome: string | undefined
      void inFlight.then((value) => {
        outcome = value
      })
      await server.kill()
      assert.equal(server.running(), false)
      assert.equal(
        await until('the busy query to end with the server', () => outcome, { timeoutMs: 10_000 }),
        'unavailable',
      )
      assert.equal(
        await sql`select 1`.execute(handle.db).then(
          () => 'answered',
          (error: unknown) => (hasErrorCode(error, 'DATABASE_UNAVAILABLE') ? 'unavailable' : String(error)),
        ),
        'unavailable',
      )

      await server.start()
      assert.equal(server.running(), true)
      const after = await until('the pool to reconnect and read the row', () =>
        sql<{ note: string }>`select note from survivors where id = 1`.execute(handle.db).then(
          (result) => result.rows,
          () => undefined,
        ),
      )
      assert.deepEqual(after, [{ note: 'committed before the kill' }], server.log())
    } finally {
      await handle.close().catch(() => {})
    }
    assert.ok(
      lines.some((line) => line.endsWith('killed')),
      lines.join('\n'),
    )

    await server.close()
    assert.equal(server.running(), false)
    assert.equal(existsSync(server.dir), false)
    await server.close()
  })
}
