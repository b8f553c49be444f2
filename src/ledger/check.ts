import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'
import { ACCOUNTS } from './accounts.ts'

export interface LedgerOffender {
  paymentId: string
  status: string
  /** captured minus refunded on the payment row. */
  expected: number
  /** The acquirer-receivable balance the ledger holds for it. */
  posted: number
  debits: number
  credits: number
}

export interface LedgerReport {
  payments: number
  entries: number
  offenders: LedgerOffender[]
}

/**
 * Every payment's ledger must balance (debits equal credits) and its receivable balance must be
 * what the payment row says: captured minus refunded. Payments are read a page at a time in id
 * order, so the check runs on any table size in bounded memory.
 */
export async function checkLedger(db: Kysely<Database>, pageSize = 1000): Promise<LedgerReport> {
  const report: LedgerReport = { payments: 0, entries: 0, offenders: [] }
  let after = ''
  for (;;) {
    const payments = await db
      .selectFrom('payments')
      .select(['id', 'status', 'captured_amount', 'refunded_amount'])
      .where('id', '>', after)
      .orderBy('id')
      .limit(pageSize)
      .execute()
    if (payments.length === 0) return report
    after = (payments.at(-1) as { id: string }).id
    const entries = await db
      .selectFrom('ledger_entries')
      .select(['payment_id', 'debit_account', 'credit_account', 'amount'])
      .where(
        'payment_id',
        'in',
        payments.map((payment) => payment.id),
      )
      .execute()
    const balances = new Map<string, { debits: number; credits: number; receivable: number }>()
    for (const entry of entries) {
      const balance = balances.get(entry.payment_id) ?? { debits: 0, credits: 0, receivable: 0 }
      const amount = Number(entry.amount)
      balance.debits += amount
      balance.credits += amount
      if (entry.debit_account === ACCOUNTS.acquirerReceivable) balance.receivable += amount
      if (entry.credit_account === ACCOUNTS.acquirerReceivable) balance.receivable -= amount
      if (entry.debit_account === entry.credit_account) balance.credits -= amount
      balances.set(entry.payment_id, balance)
    }
    report.payments += payments.length
    report.entries += entries.length
    for (const payment of payments) {
      const balance = balances.get(payment.id) ?? { debits: 0, credits: 0, receivable: 0 }
      const expected = Number(payment.captured_amount) - Number(payment.refunded_amount)
      if (balance.receivable !== expected || balance.debits !== balance.credits)
        report.offenders.push({
          paymentId: payment.id,
          status: payment.status,
          expected,
          posted: balance.receivable,
          debits: balance.debits,
          credits: balance.credits,
        })
    }
  }
}
