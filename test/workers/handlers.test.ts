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

/** Asserts the payment has exactly one `type` event, the last, at `sequence`, carrying `data`. */
async function failureEvent(
  db: Kysely<Database>,
  paymentId: string,
  type: EventType,
  sequence: number,
  data: Record<string, unknown>,
): Promise<void> {
  const all = await events(db, paymentId)
  assert.deepEqual(
    all.filter((event) => event.type === type).length,
    1,
    `exactly one ${type}: ${all.map((e) => e.type)}`,
  )
  const last = JSON.parse(all.at(-1)?.payload ?? '{}')
  assert.equal(last.type, type)
  assert.equal(last.sequence, sequence)
  assert.deepEqual(last.data, data)
  assert.equal(typeof data.reason, 'string')
  const timeline = await db
    .selectFrom('payment_events')
    .select(['event_type', 'sequence'])
    .where('payment_id', '=', paymentId)
    .where('event_type', '=', type)
    .execute()
  assert.deepEqual(
    timeline.map((row) => Number(row.sequence)),
    [sequence],
    'the timeline has it too',
  )
}

/** The ledger marks the payment's failure event processed once, posts nothing, and never dead-letters it. */
async function ignoredByLedger(
  db: Kysely<Database>,
  ledger: LedgerHandler,
  paymentId: string,
): Promise<void> {
  const failed = (await events(db, paymentId)).at(-1)
  assert.equal(await ledger.handle(failed?.payload), 'ignored')
  assert.equal(await ledger.handle(failed?.payload), 'duplicate')
  const eventId = JSON.parse(failed?.payload ?? '{}').eventId
  const processed = await db
    .selectFrom('processed_events')
    .select('event_id')
    .where('consumer', '=', 'ledger')
    .where('event_id', '=', eventId)
    .execute()
  assert.equal(processed.length, 1, 'processed once')
  const posted = await db.selectFrom('ledger_entries').select('id').where('event_id', '=', eventId).execute()
  assert.equal(posted.length, 0, 'nothing posted for it')
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

    // A decline is an outcome: CAPTURE_FAILED with exactly one PAYMENT_CAPTURE_FAILED (the next
    // sequence, the decline message as reason), which the ledger marks processed and posts nothing for.
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
    assert.equal(await settlement.handle(declinedCapture), 'duplicate', 'a redelivery writes no second event')
    const captureFailed = await payment(db, declined)
    assert.equal(captureFailed.status, 'CAPTURE_FAILED')
    await failureEvent(db, declined, 'PAYMENT_CAPTURE_FAILED', 2, {
      amount: 1052,
      currency: 'KRW',
      reason: captureFailed.message,
    })
    await ignoredByLedger(db, ledger, declined)
    assert.equal((await checkLedger(db)).entries, 3, 'a failed capture posts nothing')

    // The same for a declined refund: REFUND_FAILED with one PAYMENT_REFUND_FAILED.
    const refundDeclined = randomUUID()
    await db
      .insertInto('payments')
      .values(authorizedPayment(refundDeclined, 'm', 1000, Date.now()))
      .execute()
    const toRefund = await request(
      db,
      dialect,
      refundDeclined,
      'CAPTURE_REQUESTED',
      'PAYMENT_CAPTURE_REQUESTED',
      { amount: 1000, currency: 'KRW' },
    )
    assert.equal(await settlement.handle(toRefund), 'captured')
    const declinedRefund = await request(
      db,
      dialect,
      refundDeclined,
      'REFUND_REQUESTED',
      'PAYMENT_REFUND_REQUESTED',
      { amount: 153, currency: 'KRW', reason: 'declined by the acquirer' },
    )
    assert.equal(await refund.handle(declinedRefund), 'refund_failed')
    assert.equal(await refund.handle(declinedRefund), 'duplicate')
    const refundFailed = await payment(db, refundDeclined)
    assert.equal(refundFailed.status, 'REFUND_FAILED')
    assert.equal(refundFailed.refunded_amount, 0)
    await failureEvent(db, refundDeclined, 'PAYMENT_REFUND_FAILED', 4, {
      amount: 153,
      currency: 'KRW',
      reason: refundFailed.message,
    })
    await ignoredByLedger(db, ledger, refundDeclined)
    assert.equal((await checkLedger(db)).entries, 3, 'a failed refund posts nothing')

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
