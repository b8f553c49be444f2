import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { isUniqueViolation } from '../../src/db/errors.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import {
  kindOf,
  normalizeSql,
  StatementCounter,
  splitStatements,
  statementKinds,
} from '../../src/db/statement-count.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'

const kinds = (counts: Partial<Record<(typeof statementKinds)[number], number>>) =>
  Object.fromEntries(statementKinds.map((kind) => [kind, counts[kind] ?? 0]))

test('statement texts: kinds, splitting at top-level semicolons, one shape per statement', {
  timeout: 10_000,
}, () => {
  assert.equal(kindOf('begin immediate'), 'begin')
  assert.equal(kindOf('start transaction isolation level serializable'), 'begin')
  assert.equal(kindOf('COMMIT'), 'commit')
  assert.equal(kindOf('rollback'), 'rollback')
  assert.equal(kindOf('rollback to sp1'), 'other')
  assert.equal(kindOf('  insert into t values (?)'), 'insert')
  assert.equal(kindOf('with x as (select 1) update t set a = (select * from x)'), 'update')
  assert.equal(kindOf('with x as (select 1) select * from x'), 'select')
  assert.equal(kindOf('set transaction isolation level read committed'), 'other')
  assert.deepEqual(splitStatements("insert into t values ('a;b'); select 1;"), [
    "insert into t values ('a;b')",
    'select 1',
  ])
  assert.equal(
    normalizeSql('insert into "t" ("a", "b")\n  values ($1, $2), ($3, $4), ($5, $6)'),
    'insert into "t" ("a", "b") values (?, ?), …',
  )
  assert.equal(normalizeSql('select * from t where id in (?, ?, ?)'), 'select * from t where id in (?, …)')

  const counter = new StatementCounter()
  counter.record('insert into t values (1); insert into t values (2)')
  const tally = counter.tally()
  assert.equal(tally.roundTrips, 1, 'one text is one round trip')
  assert.equal(tally.statements, 2)
  assert.deepEqual(tally.bySql, { 'insert into t values (1)': 1, 'insert into t values (2)': 1 })
})

for (const dialect of dialects) {
  test(`${dialect}: every statement and round trip is counted, BEGIN, COMMIT and ROLLBACK included`, {
    timeout: 60_000,
  }, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const counter = new StatementCounter()
    // One pooled connection: three transactions in a row prove it goes back to the pool.
    const { db } = database.open(1, { statementCounter: counter })
    await migrateToLatest(db, dialect)
    const id = `m-${randomUUID()}`

    const { tally } = await counter.measure(async () => {
      for (let round = 0; round < 3; round++) {
        await db.transaction().execute(async (trx) => {
          await trx
            .insertInto('merchants')
            .values({ id: `${id}-${round}`, name: 'n', created_at: 1 })
            .execute()
          await trx.selectFrom('merchants').selectAll().where('id', '=', `${id}-${round}`).execute()
          await trx.updateTable('merchants').set({ name: 'm' }).where('id', '=', `${id}-${round}`).execute()
          await trx.deleteFrom('merchants').where('id', '=', `${id}-${round}`).execute()
        })
      }
    })
    assert.equal(tally.statements, 18)
    assert.equal(tally.roundTrips, 18, 'each statement is its own round trip on every dialect today')
    assert.deepEqual(tally.byKind, kinds({ begin: 3, insert: 3, select: 3, update: 3, delete: 3, commit: 3 }))
    const begin = dialect === 'sqlite' ? 'begin immediate' : 'begin'
    assert.equal(tally.bySql[begin], 3, JSON.stringify(tally.bySql))
    assert.equal(tally.bySql.commit, 3)
    const q = dialect === 'mysql' ? '`' : '"'
    assert.equal(tally.bySql[`delete from ${q}merchants${q} where ${q}id${q} = ?`], 3)

    // A failing statement still went to the server; the driver's error stays classifiable and
    // the rollback (which on PostgreSQL reaches the driver's private discard method) works.
    await db.insertInto('merchants').values({ id, name: 'n', created_at: 1 }).execute()
    const failed = await counter.measure(() =>
      db
        .transaction()
        .execute(async (trx) => {
          await trx.insertInto('merchants').values({ id, name: 'n', created_at: 1 }).execute()
        })
        .catch((error: unknown) => error),
    )
    assert.ok(isUniqueViolation(failed.value), String(failed.value))
    assert.deepEqual(failed.tally.byKind, kinds({ begin: 1, insert: 1, rollback: 1 }))
    assert.equal(failed.tally.roundTrips, 3)
    const after = await db.selectFrom('merchants').select('id').where('id', '=', id).execute()
    assert.equal(after.length, 1, 'the connection still works after the rollback')
  })

  test(`${dialect}: a handle opened without a counter counts nothing`, { timeout: 60_000 }, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const counter = new StatementCounter()
    const counted = database.open(1, { statementCounter: counter })
    const plain = database.open(1)
    await migrateToLatest(plain.db, dialect)
    const before = counter.tally().statements
    await plain.db.selectFrom('merchants').selectAll().execute()
    assert.equal(counter.tally().statements, before)
    await counted.db.selectFrom('merchants').selectAll().execute()
    assert.equal(counter.tally().statements, before + 1)
  })
}
