import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, test } from 'node:test'
import { sql } from 'kysely'
import pino from 'pino'
import { isUniqueViolation } from '../../src/db/errors.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { startAcquirer } from '../../support/processes.ts'
import { startApi } from '../helpers/api.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'

const acquirer = await startAcquirer()
after(() => acquirer.stop())

/** What a log line would hold of the error: pino serializes every field and the cause. */
const logged = (error: unknown) => JSON.stringify(pino.stdSerializers.err(error as Error))

for (const dialect of dialects) {
  test(`${dialect}: a driver error keeps its code but never the statement or its values`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const { db } = database.open()
    await migrateToLatest(db, dialect)
    const marker = `secret-${randomUUID()}`
    const failures: unknown[] = []
    // mysql2 keeps the statement with the value interpolated in `sql`…
    await sql`select * from no_such_table where a = ${marker}`.execute(db).catch((e) => failures.push(e))
    // …PostgreSQL quotes a value it cannot convert in the message…
    await sql`select cast(${marker} as integer) + no_such_column`.execute(db).catch((e) => failures.push(e))
    // …and a conflicting key's value in `detail`.
    await db.insertInto('merchants').values({ id: marker, name: 'x', created_at: 1 }).execute()
    const duplicate = await db
      .insertInto('merchants')
      .values({ id: marker, name: 'x', created_at: 1 })
      .execute()
      .catch((e: unknown) => e)
    failures.push(duplicate)
    assert.equal(failures.length, 3)
    for (const failure of failures) assert.ok(!logged(failure).includes(marker), logged(failure))
    assert.ok(isUniqueViolation(duplicate), `the duplicate is still recognised: ${logged(duplicate)}`)
  })

  test(`${dialect}: the api's log and problem body hold no SQL when a query fails`, async (t) => {
    const api = await startApi(t, dialect, acquirer.url)
    if (api === undefined) return
    await api.call('GET', '/api/payments') // the key is cached before the table goes
    await sql`alter table payments rename to payments_gone`.execute(api.db)
    const marker = `pay-${randomUUID()}`
    const answer = await api.call('GET', `/api/payments/${marker}`)
    assert.equal(answer.status, 500)
    assert.equal(answer.body.code, 'INTERNAL')
    assert.ok(!JSON.stringify(answer.body).includes(marker))
    assert.match(api.logs(), /request failed/)
    assert.ok(!api.logs().includes(marker), api.logs())
    assert.ok(!/select .* from/i.test(api.logs()), 'no statement in the log')
  })

  test(`${dialect}: a saturated pool answers 503 DATABASE_BUSY with Retry-After at once`, async (t) => {
    const api = await startApi(t, dialect, acquirer.url, { poolMax: 1, acquireTimeoutMs: 300 })
    if (api === undefined) return
    let release = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    let holding = () => {}
    const taken = new Promise<void>((resolve) => {
      holding = resolve
    })
    const holder = api.db.transaction().execute(async (trx) => {
      await sql`select 1`.execute(trx)
      holding()
      await held
    })
    await taken
    const started = Date.now()
    const answer = await api.call('GET', '/api/payments')
    const ms = Date.now() - started
    release()
    await holder
    assert.equal(answer.status, 503)
    assert.equal(answer.body.code, 'DATABASE_BUSY')
    assert.equal(answer.headers.get('retry-after'), '1')
    assert.ok(ms >= 250 && ms < 3000, `answered after ${ms} ms`)
    assert.equal((await api.call('GET', '/api/payments')).status, 200, 'the pool works again once released')
  })
}
