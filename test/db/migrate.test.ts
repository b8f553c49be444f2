import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sql } from 'kysely'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { runCli } from '../helpers/cli.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'

const tables = [
  'admin_audit',
  'webhook_attempts',
  'webhook_deliveries',
  'webhook_endpoints',
  'api_keys',
  'ledger_checks',
  'authorization_attempts',
  'outbox_leases',
  'payment_events',
  'relay_instances',
  'idempotency_records',
  'ledger_entries',
  'merchants',
  'outbox_events',
  'payments',
  'processed_events',
]

for (const dialect of dialects) {
  test(`${dialect}: migrations apply once and a second run changes nothing`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const handle = database.open()

    const first = await migrateToLatest(handle.db, handle.dialect)
    assert.deepEqual(first.applied, [
      '001-core-tables',
      '002-authorization-attempts-and-timeline',
      '003-relay-buckets-and-leases',
      '004-postgres-outbox-notify',
      '005-authorization-attempt-checks',
      '006-retention-indexes',
      '007-admin-audit',
      '008-ledger-checks',
      '009-webhooks',
    ])
    const second = await migrateToLatest(handle.db, handle.dialect)
    assert.deepEqual(second.applied, [])
    assert.deepEqual(second.current, [
      '001-core-tables',
      '002-authorization-attempts-and-timeline',
      '003-relay-buckets-and-leases',
      '004-postgres-outbox-notify',
      '005-authorization-attempt-checks',
      '006-retention-indexes',
      '007-admin-audit',
      '008-ledger-checks',
      '009-webhooks',
    ])

    const present = (await handle.db.introspection.getTables()).map((table) => table.name).sort()
    for (const table of tables) assert.ok(present.includes(table), `${table} exists on ${dialect}`)
  })

  test(`${dialect}: the schema holds the invariants the code relies on`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const handle = database.open()
    await migrateToLatest(handle.db, handle.dialect)
    const { db } = handle
    const now = Date.now()

    // Outbox ids increase in insertion order: the relay publishes in that order.
    const row = (n: number) => ({
      event_id: `evt-${n}`,
      payment_id: 'pay-1',
      merchant_id: 'm-1',
      sequence: n,
      topic: 'payment.authorized',
      event_type: 'PAYMENT_AUTHORIZED',
      payload: '{}',
      headers: '{}',
      created_at: now,
    })
    await db
      .insertInto('outbox_events')
      .values([row(1), row(2), row(3)])
      .execute()
    const ids = await db.selectFrom('outbox_events').select(['id', 'sequence']).orderBy('id').execute()
    assert.deepEqual(
      ids.map((r) => r.sequence),
      [1, 2, 3],
    )
    assert.ok((ids[0]?.id ?? 0) < (ids[1]?.id ?? 0) && (ids[1]?.id ?? 0) < (ids[2]?.id ?? 0))
    assert.equal(typeof ids[0]?.id, 'number', 'ids are read as numbers on every dialect')

    // One event per (payment, sequence).
    await assert.rejects(
      db
        .insertInto('outbox_events')
        .values({ ...row(2), event_id: 'evt-dup' })
        .execute(),
    )

    // One payment per (merchant, idempotency key); amounts are exact integers beyond 2^32.
    const payment = (id: string, key: string | null) => ({
      id,
      merchant_id: 'm-1',
      idempotency_key: key,
      status: 'AUTHORIZED',
      amount: 9_007_199_254_740_991,
      currency: 'KRW',
      acquirer_reference: null,
      message: null,
      created_at: now,
      updated_at: now,
    })
    await db.insertInto('payments').values(payment('p-1', 'k-1')).execute()
    await assert.rejects(db.insertInto('payments').values(payment('p-2', 'k-1')).execute())
    const stored = await db
      .selectFrom('payments')
      .select(['amount', 'captured_amount'])
      .where('id', '=', 'p-1')
      .executeTakeFirst()
    assert.deepEqual(stored, { amount: 9_007_199_254_740_991, captured_amount: 0 })

    // Dedupe: one (consumer, event) pair.
    await db
      .insertInto('processed_events')
      .values({ consumer: 'ledger', event_id: 'evt-1', processed_at: now })
      .execute()
    await assert.rejects(
      db
        .insertInto('processed_events')
        .values({ consumer: 'ledger', event_id: 'evt-1', processed_at: now })
        .execute(),
    )
    const count = await sql<{ n: number }>`select count(*) as n from processed_events`.execute(db)
    assert.equal(Number(count.rows[0]?.n), 1)
  })

  test(`${dialect}: two processes migrating at once both succeed and apply each migration once`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const { url } = database
    const [a, b] = await Promise.all([
      runCli(['migrate'], { DATABASE_URL: url }),
      runCli(['migrate'], { DATABASE_URL: url }),
    ])
    assert.equal(a.code, 0, a.stderr)
    assert.equal(b.code, 0, b.stderr)
    const applied = [a.stdout, b.stdout].filter((out) => out.includes('applied 001-core-tables'))
    assert.equal(applied.length, 1, `exactly one process applied the migration:\n${a.stdout}\n${b.stdout}`)

    const handle = database.open(1)
    const rows = await sql<{ name: string }>`select name from kysely_migration`.execute(handle.db)
    assert.deepEqual(
      rows.rows.map((r) => r.name),
      [
        '001-core-tables',
        '002-authorization-attempts-and-timeline',
        '003-relay-buckets-and-leases',
        '004-postgres-outbox-notify',
        '005-authorization-attempt-checks',
        '006-retention-indexes',
        '007-admin-audit',
        '008-ledger-checks',
        '009-webhooks',
      ],
    )
  })
}

test('a DATABASE_URL of an unknown kind is refused with a message naming it', async () => {
  const result = await runCli(['migrate'], { DATABASE_URL: 'oracle://db' })
  assert.equal(result.code, 2)
  assert.match(
    result.stderr,
    /DATABASE_URL="oracle:\/\/db": must start with sqlite:, mysql:\/\/, mariadb:\/\/ or postgres:\/\//,
  )
})
