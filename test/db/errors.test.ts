import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import SQLite from 'better-sqlite3'
import { type Kysely, sql } from 'kysely'
import { openDatabase } from '../../src/db/database.ts'
import { classifyDatabaseError, databaseErrorCode, isUniqueViolation } from '../../src/db/errors.ts'
import type { Database } from '../../src/db/schema.ts'
import { hasErrorCode, PayrailError } from '../../src/domain/errors.ts'
import { freePort } from '../../support/processes.ts'
import { throwawayDatabase } from '../helpers/databases.ts'
import { privateDatabase } from '../helpers/private-database.ts'
import { until } from '../helpers/until.ts'

/** The error `work` rejects with; fails the test if it resolves. */
async function failure(work: Promise<unknown>): Promise<unknown> {
  try {
    await work
  } catch (error) {
    return error
  }
  assert.fail('expected the statement to fail')
}

function assertCode(error: unknown, code: 'DATABASE_UNAVAILABLE' | 'DATABASE_CONTENTION', driver: RegExp) {
  assert.ok(hasErrorCode(error, code), `expected ${code}, got ${String(error)} (${JSON.stringify(error)})`)
  assert.ok(error instanceof PayrailError)
  assert.match(error.message, driver, 'the driver error is named in the message')
  assert.ok(error.cause !== undefined, 'the driver error is kept as the cause')
}

type Db = Kysely<Database>

/** Runs `steps` with one open transaction on each handle; both are rolled back after. */
async function twoTransactions(a: Db, b: Db, steps: (x: Db, y: Db) => Promise<void>): Promise<void> {
  const x = await a.startTransaction().execute()
  const y = await b.startTransaction().execute()
  try {
    await steps(x, y)
  } finally {
    await x
      .rollback()
      .execute()
      .catch(() => {})
    await y
      .rollback()
      .execute()
      .catch(() => {})
  }
}

async function table(db: Db) {
  await sql`create table t (id integer primary key, v integer not null)`.execute(db)
  await sql`insert into t values (1, 0), (2, 0)`.execute(db)
}

for (const dialect of ['mysql', 'postgres'] as const) {
  test(`${dialect}: a closed port is DATABASE_UNAVAILABLE (connection refused)`, async () => {
    const port = await freePort()
    const url =
      dialect === 'mysql' ? `mysql://root@127.0.0.1:${port}/x` : `postgres://postgres@127.0.0.1:${port}/x`
    const handle = openDatabase({ url, poolMax: 1 })
    try {
      assertCode(await failure(sql`select 1`.execute(handle.db)), 'DATABASE_UNAVAILABLE', /ECONNREFUSED/)
      assertCode(
        await failure(handle.db.transaction().execute(async () => {})),
        'DATABASE_UNAVAILABLE',
        /ECONNREFUSED/,
      )
    } finally {
      await handle.close()
    }
  })

  test(`${dialect}: a deadlock is DATABASE_CONTENTION, a unique violation keeps the driver's own error`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const a = database.open(1).db
    const b = database.open(1).db
    await table(a)
    const observer = database.open(1).db
    await twoTransactions(a, b, async (x, y) => {
      await sql`update t set v = 1 where id = 1`.execute(x)
      await sql`update t set v = 1 where id = 2`.execute(y)
      // x waits for y's row; y then asks for x's: one of them is chosen as the victim.
      const xWaits = sql`update t set v = 2 where id = 2`.execute(x).then(
        () => undefined,
        (error: unknown) => error,
      )
      await until('x to wait for the lock', async () => {
        const waiting =
          dialect === 'mysql'
            ? await sql<{
                n: number
              }>`select count(*) as n from information_schema.innodb_trx where trx_state = 'LOCK WAIT'`.execute(
                observer,
              )
            : await sql<{
                n: number
              }>`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock'`.execute(
                observer,
              )
        return Number(waiting.rows[0]?.n) > 0
      })
      const yError = await sql`update t set v = 2 where id = 1`.execute(y).then(
        () => undefined,
        (error: unknown) => error,
      )
      const victim = yError ?? (await xWaits)
      assertCode(victim, 'DATABASE_CONTENTION', dialect === 'mysql' ? /ER_LOCK_DEADLOCK\/1213/ : /40P01/)
    })

    const duplicate = await failure(sql`insert into t values (1, 5)`.execute(a))
    assert.ok(isUniqueViolation(duplicate), 'unique violations are matched on the driver fields, as before')
    assert.equal(databaseErrorCode(duplicate), undefined)
    const syntax = await failure(sql`selec 1`.execute(a))
    assert.equal(databaseErrorCode(syntax), undefined, 'a bad statement is not an outage')
  })

  test(`${dialect}: a lock wait that times out is DATABASE_CONTENTION`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const a = database.open(1).db
    const b = database.open(1).db
    await table(a)
    await twoTransactions(a, b, async (x, y) => {
      if (dialect === 'mysql') await sql`set session innodb_lock_wait_timeout = 1`.execute(y)
      else await sql`set local lock_timeout = '200ms'`.execute(y)
      await sql`update t set v = 1 where id = 1`.execute(x)
      const error = await failure(sql`update t set v = 2 where id = 1`.execute(y))
      assertCode(error, 'DATABASE_CONTENTION', dialect === 'mysql' ? /ER_LOCK_WAIT_TIMEOUT\/1205/ : /55P03/)
    })
  })

  test(`${dialect}: the server killed with SIGKILL mid-query, stopped, and starting again is DATABASE_UNAVAILABLE; the pool recovers once it is back`, async (t) => {
    const server = await privateDatabase(t, dialect)
    if (server === undefined) return
    const { db } = server.open(2)
    await sql`select 1`.execute(db)
    const sleeping = failure(
      sql`select ${sql.raw(dialect === 'mysql' ? 'sleep(30)' : 'pg_sleep(30)')}`.execute(db),
    )
    await until('the query to run', async () => {
      const rows = await sql<{ n: number }>`select 1 as n`.execute(db)
      return rows.rows.length === 1
    })
    await server.kill()
    assertCode(
      await sleeping,
      'DATABASE_UNAVAILABLE',
      dialect === 'mysql' ? /PROTOCOL_CONNECTION_LOST/ : /Connection terminated unexpectedly/,
    )
    // The pool's other connection is dead too, and a new one is refused.
    for (let n = 0; n < 3; n++)
      assertCode(await failure(sql`select 1`.execute(db)), 'DATABASE_UNAVAILABLE', /./)

    await server.start()
    await until('the pool to reconnect', () =>
      sql`select 1`.execute(db).then(
        () => true,
        () => false,
      ),
    )
    if (dialect === 'postgres') {
      // A clean (fast) shutdown ends the sessions with 57P01.
      const waiting = failure(sql`select pg_sleep(30)`.execute(db))
      await until('the query to run', () =>
        sql`select 1`.execute(db).then(
          () => true,
          () => false,
        ),
      )
      await server.stop()
      assertCode(await waiting, 'DATABASE_UNAVAILABLE', /57P01|terminated/)
    } else {
      await server.stop()
      assertCode(await failure(sql`select 1`.execute(db)), 'DATABASE_UNAVAILABLE', /./)
    }
  })
}

test('postgres: a serialization failure is DATABASE_CONTENTION', async (t) => {
  const database = await throwawayDatabase(t, 'postgres')
  if (database === undefined) return
  const a = database.open(1).db
  const b = database.open(1).db
  await table(a)
  const x = await a.startTransaction().setIsolationLevel('serializable').execute()
  const y = await b.startTransaction().setIsolationLevel('serializable').execute()
  try {
    await sql`select sum(v) from t`.execute(x)
    await sql`select sum(v) from t`.execute(y)
    await sql`update t set v = v + 1 where id = 1`.execute(x)
    await sql`update t set v = v + 1 where id = 2`.execute(y)
    await x.commit().execute()
    assertCode(await failure(y.commit().execute()), 'DATABASE_CONTENTION', /40001/)
  } finally {
    await y
      .rollback()
      .execute()
      .catch(() => {})
  }
})

test('sqlite: a writer that finds the file locked past busy_timeout is DATABASE_CONTENTION', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'payrail-busy-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'busy.db')
  const holder = new SQLite(file)
  holder.exec('create table t (id integer primary key)')
  // The raw driver error first: a second connection with no busy timeout.
  const other = new SQLite(file)
  other.pragma('busy_timeout = 0')
  holder.exec('begin immediate')
  let raw: unknown
  try {
    other.exec('begin immediate')
  } catch (error) {
    raw = error
  }
  assert.equal((raw as { code?: string }).code, 'SQLITE_BUSY')
  assert.equal(databaseErrorCode(raw), 'DATABASE_CONTENTION')
  other.close()
  // Then through payrail's handle (busy_timeout 5 s, BEGIN IMMEDIATE): the same code.
  const handle = openDatabase({ url: `sqlite:${file}` })
  try {
    const error = await failure(
      handle.db.transaction().execute(async (trx) => sql`insert into t values (1)`.execute(trx)),
    )
    assertCode(error, 'DATABASE_CONTENTION', /SQLITE_BUSY/)
  } finally {
    holder.exec('rollback')
    holder.close()
    await handle.close()
  }
})

test('the shapes the drivers report, and what is left alone', () => {
  const cases: [unknown, string | undefined][] = [
    [{ code: 'ECONNRESET', errno: -104 }, 'DATABASE_UNAVAILABLE'],
    [
      Object.assign(new AggregateError([{ code: 'ECONNREFUSED' }], 'connect'), { code: 'ECONNREFUSED' }),
      'DATABASE_UNAVAILABLE',
    ],
    [new Error('wrapped', { cause: { code: 'EPIPE' } }), 'DATABASE_UNAVAILABLE'],
    [{ code: 'PROTOCOL_CONNECTION_LOST', fatal: true, message: 'Connection lost' }, 'DATABASE_UNAVAILABLE'],
    [
      { fatal: true, message: "Can't add new command when connection is in closed state" },
      'DATABASE_UNAVAILABLE',
    ],
    [{ code: 'ER_SERVER_SHUTDOWN', errno: 1053 }, 'DATABASE_UNAVAILABLE'],
    [{ code: 'ER_CONNECTION_KILLED', errno: 1927 }, 'DATABASE_UNAVAILABLE'],
    [{ errno: 2002 }, 'DATABASE_UNAVAILABLE'],
    [{ errno: 2006 }, 'DATABASE_UNAVAILABLE'],
    [{ errno: 2013 }, 'DATABASE_UNAVAILABLE'],
    [{ code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205 }, 'DATABASE_CONTENTION'],
    [{ code: 'ER_LOCK_DEADLOCK', errno: 1213 }, 'DATABASE_CONTENTION'],
    [{ code: '57P01', severity: 'FATAL' }, 'DATABASE_UNAVAILABLE'],
    [{ code: '57P03', message: 'the database system is starting up' }, 'DATABASE_UNAVAILABLE'],
    [{ code: '08006' }, 'DATABASE_UNAVAILABLE'],
    [{ code: '08P01' }, 'DATABASE_UNAVAILABLE'],
    [{ code: '25006' }, 'DATABASE_UNAVAILABLE'],
    [{ code: '40001' }, 'DATABASE_CONTENTION'],
    [{ code: '40P01' }, 'DATABASE_CONTENTION'],
    [new Error('Connection terminated unexpectedly'), 'DATABASE_UNAVAILABLE'],
    [new Error('Client has encountered a connection error and is not queryable'), 'DATABASE_UNAVAILABLE'],
    [{ code: 'SQLITE_BUSY_SNAPSHOT' }, 'DATABASE_CONTENTION'],
    [{ code: 'SQLITE_LOCKED' }, 'DATABASE_CONTENTION'],
    [{ code: 'ER_DUP_ENTRY', errno: 1062 }, undefined],
    [{ code: '23505' }, undefined],
    [{ code: '42601' }, undefined],
    [{ code: 'SQLITE_CONSTRAINT_UNIQUE' }, undefined],
    [{ code: 'ER_ACCESS_DENIED_ERROR', errno: 1045, fatal: true, message: 'Access denied' }, undefined],
    [new Error('boom'), undefined],
    [null, undefined],
  ]
  for (const [error, code] of cases) assert.equal(databaseErrorCode(error), code, JSON.stringify(error))
  const plain = { code: '23505' }
  assert.equal(classifyDatabaseError(plain), plain, 'an unknown error passes through unchanged')
  const done = new PayrailError('DATABASE_UNAVAILABLE', 'down')
  assert.equal(classifyDatabaseError(done), done, 'a classified error is not wrapped twice')
})
