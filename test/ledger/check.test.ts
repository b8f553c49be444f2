import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import type { Kysely } from 'kysely'
import { migrateToLatest } from '../../src/db/migrate.ts'
import type { Database } from '../../src/db/schema.ts'
import { checkLedger, ledgerIsClean } from '../../src/ledger/check.ts'
import { authorizedPayment } from '../../support/payments.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'

/** A captured payment of `amount` with its PAYMENT_CAPTURED event in the timeline; returns the event id. */
async function captured(db: Kysely<Database>, paymentId: string, amount: number, currency = 'KRW') {
  const now = Date.now()
  await db
    .insertInto('payments')
    .values({
      ...authorizedPayment(paymentId, 'm', amount, now),
      currency,
      status: 'CAPTURED',
      captured_amount: amount,
    })
    .execute()
  const eventId = randomUUID()
  await db
    .insertInto('payment_events')
    .values({
      event_id: eventId,
      payment_id: paymentId,
      sequence: 2,
      event_type: 'PAYMENT_CAPTURED',
      occurred_at: now,
      data: JSON.stringify({ amount, currency }),
    })
    .execute()
  return eventId
}

function entry(paymentId: string, eventId: string, amount: number, credit = 'merchant_payable') {
  return {
    id: randomUUID(),
    payment_id: paymentId,
    event_id: eventId,
    debit_account: 'acquirer_receivable',
    credit_account: credit,
    amount,
    created_at: Date.now(),
  }
}

for (const dialect of dialects) {
  test(`${dialect}: ledger check finds each way a ledger can be wrong, and passes a right one`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const { db } = database.open(2)
    await migrateToLatest(db, dialect)
    // Ids in the order the pages read them (pageSize 2 below: the checks hold across pages).
    const [right, usd, short, missing, twice, stray, leak] = ['1', '2', '3', '4', '5', '6', '7'].map(
      (n) => `0000000${n}-0000-7000-8000-000000000000`,
    ) as [string, string, string, string, string, string, string]
    const rightEvent = await captured(db, right, 1000)
    const usdEvent = await captured(db, usd, 500, 'USD')
    await db
      .insertInto('ledger_entries')
      .values([entry(right, rightEvent, 1000), entry(usd, usdEvent, 500)])
      .execute()
    const clean = await checkLedger(db, 2)
    assert.ok(ledgerIsClean(clean), JSON.stringify(clean))
    assert.equal(clean.events, 2)
    assert.deepEqual(Object.fromEntries(clean.trialBalance.get('USD') ?? []), {
      acquirer_receivable: 500,
      merchant_payable: -500,
    })

    const shortEvent = await captured(db, short, 1000)
    await captured(db, missing, 700)
    const twiceEvent = await captured(db, twice, 300)
    const strayEvent = await captured(db, stray, 200)
    const leakEvent = await captured(db, leak, 100)
    await db
      .insertInto('ledger_entries')
      .values([
        entry(short, shortEvent, 900),
        entry(twice, twiceEvent, 300),
        entry(twice, twiceEvent, 300),
        entry(stray, strayEvent, 200),
        entry(stray, randomUUID(), 50),
        entry(leak, leakEvent, 100, 'suspense'),
      ])
      .execute()
    const report = await checkLedger(db, 2)
    assert.ok(!ledgerIsClean(report))
    assert.deepEqual(
      report.postings.map((p) => [p.kind, p.paymentId]).sort(),
      [
        ['different', short],
        ['different', leak],
        ['missing', missing],
        ['orphan', stray],
        ['repeated', twice],
      ].sort(),
    )
    assert.deepEqual(
      report.offenders.map((o) => [o.paymentId, o.expected, o.posted]),
      [
        [short, 1000, 900],
        [missing, 700, 0],
        [twice, 300, 600],
        [stray, 200, 250],
      ],
    )
    assert.deepEqual(report.unbalanced, ['KRW'], 'money on an account the ledger does not know')
    assert.equal(report.payments, 7)
  })
}
