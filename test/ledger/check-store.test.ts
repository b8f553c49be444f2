import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { issueApiKey, listMerchants, revokeApiKey } from '../../src/db/merchants.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { checkLedger } from '../../src/ledger/check.ts'
import { lastLedgerCheck, ledgerTotals, recordLedgerCheck } from '../../src/ledger/check-store.ts'
import { authorizedPayment } from '../../support/payments.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'

// The database parts of the operations plane on every dialect: stored ledger checks (migration
// 008), ledger totals per account and currency, and the merchants list.
for (const dialect of dialects) {
  test(`${dialect}: ledger checks are stored and read back newest first, totals per account and currency, merchants without secrets`, {
    timeout: 60_000,
  }, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const { db } = database.open(2)
    await migrateToLatest(db, dialect)
    assert.equal(await lastLedgerCheck(db), null, 'no check yet')
    assert.deepEqual(await ledgerTotals(db), [])

    const now = Date.now()
    const ids = ['a', 'b', 'c'].map(() => randomUUID())
    const rows: [string, string, number][] = [
      [ids[0] as string, 'KRW', 15_000],
      [ids[1] as string, 'USD', 700],
      [ids[2] as string, 'USD', 300],
    ]
    for (const [id, currency, amount] of rows) {
      await db
        .insertInto('payments')
        .values({
          ...authorizedPayment(id, 'm', amount, now),
          currency,
          status: 'CAPTURED',
          captured_amount: amount,
        })
        .execute()
      await db
        .insertInto('ledger_entries')
        .values({
          id: randomUUID(),
          payment_id: id,
          event_id: randomUUID(),
          debit_account: 'acquirer_receivable',
          credit_account: 'merchant_payable',
          amount,
          created_at: now,
        })
        .execute()
    }
    // A partial refund of the second: the reverse entry.
    await db
      .insertInto('ledger_entries')
      .values({
        id: randomUUID(),
        payment_id: ids[1] as string,
        event_id: randomUUID(),
        debit_account: 'merchant_payable',
        credit_account: 'acquirer_receivable',
        amount: 200,
        created_at: now,
      })
      .execute()
    assert.deepEqual(await ledgerTotals(db), [
      { currency: 'KRW', account: 'acquirer_receivable', debit: 15_000, credit: 0, balance: 15_000 },
      { currency: 'KRW', account: 'merchant_payable', debit: 0, credit: 15_000, balance: -15_000 },
      { currency: 'USD', account: 'acquirer_receivable', debit: 1000, credit: 200, balance: 800 },
      { currency: 'USD', account: 'merchant_payable', debit: 200, credit: 1000, balance: -800 },
    ])

    // The rows hold no timeline events, so the check finds postings wrong: stored as not clean.
    const report = await checkLedger(db)
    const first = await recordLedgerCheck(db, report, 'cli', now - 1000)
    assert.equal(first.clean, false)
    assert.equal(first.postings, report.postings.length)
    const second = await recordLedgerCheck(
      db,
      { ...report, offenders: [], postings: [], unbalanced: [] },
      'api',
      now,
    )
    assert.equal(second.clean, true)
    assert.deepEqual(await lastLedgerCheck(db), second)

    // Only the last 100 checks are kept.
    for (let i = 0; i < 101; i++) await recordLedgerCheck(db, report, 'cli', now + 1 + i)
    const kept = await db
      .selectFrom('ledger_checks')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow()
    assert.equal(Number(kept.n), 100)
    assert.equal((await lastLedgerCheck(db))?.checkedAt, new Date(now + 101).toISOString())

    const one = await issueApiKey(db, 'shop-1', 'Shop one')
    const two = await issueApiKey(db, 'shop-1')
    await issueApiKey(db, 'shop-2')
    await revokeApiKey(db, one.prefix)
    const merchants = await listMerchants(db)
    assert.deepEqual(
      merchants.map((m) => [m.merchantId, m.name, m.activeKeys]),
      [
        ['shop-1', 'Shop one', [two.prefix]],
        ['shop-2', 'shop-2', [expectPrefix(merchants, 'shop-2')]],
      ],
    )
    assert.ok(!JSON.stringify(merchants).includes(two.key), 'never a key')
  })
}

function expectPrefix(merchants: Awaited<ReturnType<typeof listMerchants>>, id: string): string {
  const prefix = merchants.find((m) => m.merchantId === id)?.activeKeys[0]
  assert.match(prefix ?? '', /^prk_[A-Za-z0-9_-]{8}$/)
  return prefix as string
}
