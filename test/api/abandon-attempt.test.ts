import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Kysely } from 'kysely'
import { abandonAttempt, claimKey, completeKey } from '../../src/api/idempotency.ts'
import type { DialectName } from '../../src/db/database.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import type { Database } from '../../src/db/schema.ts'
import { withDeadline } from '../../src/runtime/deadline.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'

/** An attempt as authorize commits it before calling the acquirer: PENDING, its key IN_PROGRESS. */
async function pendingAttempt(db: Kysely<Database>, dialect: DialectName, paymentId: string, key: string) {
  const now = Date.now()
  await db.transaction().execute(async (trx) => {
    assert.ok(await claimKey(trx, dialect, { merchantId: 'm', key, fingerprint: 'f', paymentId }, now))
    await trx
      .insertInto('authorization_attempts')
      .values({
        payment_id: paymentId,
        merchant_id: 'm',
        idempotency_key: key,
        amount: 1000,
        currency: 'KRW',
        state: 'PENDING',
        created_at: now,
        updated_at: now,
      })
      .execute()
  })
}

for (const dialect of dialects) {
  test(`${dialect}: abandoning an attempt releases its key without waiting for other requests' keys`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const { db } = database.open(2)
    const other = database.open(2).db
    await migrateToLatest(db, dialect)
    await pendingAttempt(db, dialect, 'pay-a', 'key-a')
    await pendingAttempt(db, dialect, 'pay-b', 'key-b')
    const abandon = () =>
      withDeadline(
        abandonAttempt(other, dialect, { paymentId: 'pay-a', merchantId: 'm', idempotencyKey: 'key-a' }),
        5000,
        () => {
          throw new Error('abandoning pay-a waited for the lock of key-b, another request’s record')
        },
      )
    if (dialect === 'sqlite') {
      // One writer at a time by design: the other request's commit comes first.
      await db
        .transaction()
        .execute((trx) => completeKey(trx, 'm', 'key-b', { statusCode: 201, body: {} as never }, Date.now()))
      assert.equal(await abandon(), true)
    } else {
      await db.transaction().execute(async (trx) => {
        // Another request finishing its authorize holds key-b's record until it commits.
        await completeKey(trx, 'm', 'key-b', { statusCode: 201, body: {} as never }, Date.now())
        assert.equal(await abandon(), true)
      })
    }
    const keys = await db.selectFrom('idempotency_records').select(['idempotency_key', 'state']).execute()
    assert.deepEqual(keys, [{ idempotency_key: 'key-b', state: 'COMPLETED' }])
    const attempt = await db
      .selectFrom('authorization_attempts')
      .select('state')
      .where('payment_id', '=', 'pay-a')
      .executeTakeFirstOrThrow()
    assert.equal(attempt.state, 'ABANDONED')
  })
}
