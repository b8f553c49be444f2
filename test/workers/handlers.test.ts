import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import type { Kysely } from 'kysely'
import { AcquirerClient } from '../../src/acquirer/client.ts'
import type { DialectName } from '../../src/db/database.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import type { Database } from '../../src/db/schema.ts'
import type { EventType } from '../../src/domain/events.ts'
import { checkLedger } from '../../src/ledger/check.ts'
import { appendEvent } from '../../src/outbox/writer.ts'
import { LedgerHandler } from '../../src/workers/ledger.ts'
import { RefundHandler } from '../../src/workers/refund.ts'
import { SettlementHandler } from '../../src/workers/settlement.ts'
import { authorizedPayment } from '../../support/payments.ts'
import { setAcquirerMode, startAcquirer } from '../../support/processes.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'

/** Moves a payment to `status` with its event, as the API does, and returns the event's envelope. */
async function request(
  db: Kysely<Database>,
  dialect: DialectName,
  paymentId: string,
  status: string,
  type: EventType,
  data: Record<string, unknown>,
): Promise<string> {
  return db.transaction().execute(async (trx) => {
    await trx.updateTable('payments').set({ status }).where('id', '=', paymentId).execute()
    const record = await appendEvent(trx, dialect, { type, paymentId, merchantId: 'm', data }, Date.now())
    return record.payload
  })
}

async function payment(db: Kysely<Database>, id: string) {
  return db
    .selectFrom('payments')
    .select(['status', 'captured_amount', 'refunded_amount', 'message'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow()
}

async function events(db: Kysely<Database>, id: string) {
  const rows = await db
    .selectFrom('outbox_events')
    .select(['event_type', 'payload'])
    .where('payment_id', '=', id)
    .orderBy('sequence')
    .execute()
  return rows.map((row) => ({ type: row.event_type, payload: row.payload }))
}

for (const dialect of dialects) {
  test(`${dialect}: settle, refund and ledger apply each event once, balance the ledger, and refuse what cannot apply`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const handle = database.open(4)
    const { db } = handle
    await migrateToLatest(db, dialect)
    const acquirerProcess = await startAcquirer()
    t.after(() => acquirerProcess.stop())
    const acquirer = new AcquirerClient({ url: acquirerProcess.url, breakerThreshold: 100 })
    t.after(() => acquirer.close())
    const settlement = new SettlementHandler({ database: handle, acquirer })
    const refund = new RefundHandler({ database: handle, acquirer })
    const ledger = new LedgerHandler({ database: handle })

    const id = randomUUID()
    await db
      .insertInto('payments')
      .values(authorizedPayment(id, 'm', 1000, Date.now()))
      .execute()
    const capture = await request(db, dialect, id, 'CAPTURE_REQUESTED', 'PAYMENT_CAPTURE_REQUESTED', {
      amount: 1000,
      currency: 'KRW',
    })
    assert.equal(await settlement.handle(capture), 'captured')
    assert.equal(await settlement.handle(capture), 'duplicate', 'a redelivery changes nothing')
    assert.deepEqual(await payment(db, id), {
      status: 'CAPTURED',
      captured_amount: 1000,
      refunded_amount: 0,
      message: null,
    })
    const captured = (await events(db, id)).filter((event) => event.type === 'PAYMENT_CAPTURED')
    assert.equal(captured.length, 1, 'one PAYMENT_CAPTURED in the outbox')
    assert.equal(JSON.parse(captured[0]?.payload ?? '{}').sequence, 2)

    assert.equal(await ledger.handle(captured[0]?.payload), 'posted')
    assert.equal(await ledger.handle(captured[0]?.payload), 'duplicate')
    assert.deepEqual((await checkLedger(db)).offenders, [])

    const partial = await request(db, dialect, id, 'REFUND_REQUESTED', 'PAYMENT_REFUND_REQUESTED', {
      amount: 400,
      currency: 'KRW',
      reason: 'one item back',
    })
    assert.equal(await refund.handle(partial), 'partially_refunded')
    assert.equal(await refund.handle(partial), 'duplicate')
    const rest = await request(db, dialect, id, 'REFUND_REQUESTED', 'PAYMENT_REFUND_REQUESTED', {
      amount: 600,
      currency: 'KRW',
      reason: 'the rest',
    })
    assert.equal(await refund.handle(rest), 'refunded', 'a second refund is not taken for the first')
    assert.deepEqual(await payment(db, id), {
      status: 'REFUNDED',
      captured_amount: 1000,
      refunded_amount: 1000,
      message: null,
    })
    for (const event of (await events(db, id)).filter((e) => e.type === 'PAYMENT_REFUNDED'))
      assert.equal(await ledger.handle(event.payload), 'posted')
    const report = await checkLedger(db)
    assert.deepEqual(report.offenders, [])
    assert.equal(report.entries, 3)

    // A decline is an outcome: CAPTURE_FAILED, no event, nothing posted.
    const declined = randomUUID()
    await db
      .insertInto('payments')
      .values(authorizedPayment(declined, 'm', 1052, Date.now()))
      .execute()
    const declinedCapture = await request(
      db,
      dialect,
      declined,
      'CAPTURE_REQUESTED',
      'PAYMENT_CAPTURE_REQUESTED',
      {
        amount: 1052,
        currency: 'KRW',
      },
    )
    assert.equal(await settlement.handle(declinedCapture), 'capture_failed')
    assert.equal((await payment(db, declined)).status, 'CAPTURE_FAILED')
    assert.deepEqual(
      (await events(db, declined)).map((e) => e.type),
      ['PAYMENT_CAPTURE_REQUESTED'],
    )

    // What can never apply is refused with a non-retryable code, and changes nothing.
    await assert.rejects(settlement.handle('not json'), { code: 'EVENT_INVALID' })
    await assert.rejects(settlement.handle(JSON.stringify({ eventId: 'x' })), { code: 'EVENT_INVALID' })
    await assert.rejects(
      settlement.handle(partial),
      { code: 'EVENT_INVALID' },
      'a refund event is not a capture',
    )
    const other = randomUUID()
    await db
      .insertInto('payments')
      .values(authorizedPayment(other, 'm', 500, Date.now()))
      .execute()
    const stale = JSON.parse(capture)
    stale.paymentId = other
    stale.eventId = randomUUID()
    await assert.rejects(settlement.handle(JSON.stringify(stale)), { code: 'EVENT_NOT_APPLICABLE' })
    assert.equal((await payment(db, other)).status, 'AUTHORIZED')

    // An acquirer that is down is an outage: the handler throws, nothing is written.
    const waiting = randomUUID()
    await db
      .insertInto('payments')
      .values(authorizedPayment(waiting, 'm', 700, Date.now()))
      .execute()
    const waitingCapture = await request(
      db,
      dialect,
      waiting,
      'CAPTURE_REQUESTED',
      'PAYMENT_CAPTURE_REQUESTED',
      {
        amount: 700,
        currency: 'KRW',
      },
    )
    await setAcquirerMode(acquirerProcess.url, 'down')
    await assert.rejects(settlement.handle(waitingCapture), { code: 'ACQUIRER_UNAVAILABLE' })
    assert.equal((await payment(db, waiting)).status, 'CAPTURE_REQUESTED')
    await setAcquirerMode(acquirerProcess.url, 'normal')
    assert.equal(await settlement.handle(waitingCapture), 'captured')
  })
}
