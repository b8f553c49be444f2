import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'
import { ACCOUNTS, entryFor } from './accounts.ts'

/** A payment whose acquirer-receivable balance is not what its row says. */
export interface LedgerOffender {
  paymentId: string
  status: string
  /** captured minus refunded on the payment row. */
  expected: number
  /** The acquirer-receivable balance the ledger holds for it. */
  posted: number
}

/**
 * A capture or refund not posted exactly once as it happened: `missing` (no entry; the ledger
 * worker may still be behind), `repeated` (more than one entry for the event), `different` (an
 * amount or accounts other than the event's), `orphan` (an entry for no capture or refund of its
 * payment).
 */
export interface PostingProblem {
  kind: 'missing' | 'repeated' | 'different' | 'orphan'
  paymentId: string
  eventId: string
}

export interface LedgerReport {
  payments: number
  entries: number
  /** PAYMENT_CAPTURED and PAYMENT_REFUNDED events in the payments' timelines. */
  events: number
  offenders: LedgerOffender[]
  postings: PostingProblem[]
  /** Per currency, each account's balance (debits minus credits). */
  trialBalance: Map<string, Map<string, number>>
  /** Currencies whose receivable and payable do not sum to zero: money moved to an account the ledger does not know. */
  unbalanced: string[]
}

type Posted = 'PAYMENT_CAPTURED' | 'PAYMENT_REFUNDED'
const POSTED: Posted[] = ['PAYMENT_CAPTURED', 'PAYMENT_REFUNDED']

/** Whether the report found nothing wrong. */
export function ledgerIsClean(report: LedgerReport): boolean {
  return report.offenders.length === 0 && report.postings.length === 0 && report.unbalanced.length === 0
}

/**
 * Three checks an auditor would make. The trial balance: per currency, the ledger's accounts
 * (receivable and payable) sum to zero. Postings: every PAYMENT_CAPTURED and PAYMENT_REFUNDED event of a payment's
 * timeline (payment_events, which outlives the outbox) has exactly one entry, with its amount and
 * accounts, and no entry stands for anything else. Receivable: each payment's acquirer-receivable
 * balance is captured minus refunded on its row. Payments are read a page at a time in id order,
 * so the check runs on any table size in bounded memory (the trial balance holds one number per
 * currency and account).
 */
export async function checkLedger(db: Kysely<Database>, pageSize = 1000): Promise<LedgerReport> {
  const report: LedgerReport = {
    payments: 0,
    entries: 0,
    events: 0,
    offenders: [],
    postings: [],
    trialBalance: new Map(),
    unbalanced: [],
  }
  let after = ''
  for (;;) {
    const payments = await db
      .selectFrom('payments')
      .select(['id', 'status', 'currency', 'captured_amount', 'refunded_amount'])
      .where('id', '>', after)
      .orderBy('id')
      .limit(pageSize)
      .execute()
    if (payments.length === 0) break
    after = (payments.at(-1) as { id: string }).id
    const ids = payments.map((payment) => payment.id)
    const entries = await db
      .selectFrom('ledger_entries')
      .select(['payment_id', 'event_id', 'debit_account', 'credit_account', 'amount'])
      .where('payment_id', 'in', ids)
      .execute()
    const events = await db
      .selectFrom('payment_events')
      .select(['event_id', 'payment_id', 'event_type', 'data'])
      .where('payment_id', 'in', ids)
      .where('event_type', 'in', POSTED)
      .execute()
    report.payments += payments.length
    report.entries += entries.length
    report.events += events.length

    const currencyOf = new Map(payments.map((payment) => [payment.id, payment.currency]))
    const receivable = new Map<string, number>()
    const byEvent = new Map<string, typeof entries>()
    for (const entry of entries) {
      const amount = Number(entry.amount)
      const balances = accountsOf(report.trialBalance, currencyOf.get(entry.payment_id) ?? '?')
      balances.set(entry.debit_account, (balances.get(entry.debit_account) ?? 0) + amount)
      balances.set(entry.credit_account, (balances.get(entry.credit_account) ?? 0) - amount)
      let change = 0
      if (entry.debit_account === ACCOUNTS.acquirerReceivable) change += amount
      if (entry.credit_account === ACCOUNTS.acquirerReceivable) change -= amount
      receivable.set(entry.payment_id, (receivable.get(entry.payment_id) ?? 0) + change)
      const list = byEvent.get(entry.event_id)
      if (list === undefined) byEvent.set(entry.event_id, [entry])
      else list.push(entry)
    }

    for (const event of events) {
      const posted = byEvent.get(event.event_id) ?? []
      byEvent.delete(event.event_id)
      const problem = (kind: PostingProblem['kind']) =>
        report.postings.push({ kind, paymentId: event.payment_id, eventId: event.event_id })
      if (posted.length === 0) problem('missing')
      else if (posted.length > 1) problem('repeated')
      else if (!postedAsHappened(posted[0] as (typeof entries)[number], event)) problem('different')
    }
    for (const [eventId, orphans] of byEvent)
      for (const orphan of orphans)
        report.postings.push({ kind: 'orphan', paymentId: orphan.payment_id, eventId })

    for (const payment of payments) {
      const expected = Number(payment.captured_amount) - Number(payment.refunded_amount)
      const posted = receivable.get(payment.id) ?? 0
      if (posted !== expected)
        report.offenders.push({ paymentId: payment.id, status: payment.status, expected, posted })
    }
  }
  // Every entry is double-sided, so all accounts together always sum to zero; what can go wrong
  // is money on an account outside ACCOUNTS, which leaves receivable plus payable off zero.
  const known = new Set<string>(Object.values(ACCOUNTS))
  for (const [currency, balances] of report.trialBalance) {
    let sum = 0
    for (const [account, balance] of balances) if (known.has(account)) sum += balance
    if (sum !== 0) report.unbalanced.push(currency)
  }
  return report
}

function accountsOf(trialBalance: LedgerReport['trialBalance'], currency: string): Map<string, number> {
  let balances = trialBalance.get(currency)
  if (balances === undefined) {
    balances = new Map()
    trialBalance.set(currency, balances)
  }
  return balances
}

/** Whether an entry moves the event's amount between the accounts its type posts to. */
function postedAsHappened(
  entry: { debit_account: string; credit_account: string; amount: number | string | bigint },
  event: { event_type: string; data: string },
): boolean {
  const { debit, credit } = entryFor(event.event_type as Posted)
  let amount: unknown
  try {
    amount = (JSON.parse(event.data) as { amount?: unknown }).amount
  } catch {
    return false
  }
  return entry.debit_account === debit && entry.credit_account === credit && Number(entry.amount) === amount
}
