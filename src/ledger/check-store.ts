import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'
import { newId } from '../domain/ids.ts'
import { type LedgerReport, ledgerIsClean } from './check.ts'

/** Offenders and postings kept per stored check: enough to start looking, bounded per row. */
const DETAILS_KEPT = 50
/** Stored checks kept: the dashboard shows the last one, the others are history. */
const CHECKS_KEPT = 100

/** A stored ledger check as operators read it (GET /api/admin/ledger). */
export interface StoredLedgerCheck {
  id: string
  checkedAt: string
  source: 'cli' | 'api'
  clean: boolean
  payments: number
  entries: number
  events: number
  offenders: number
  postings: number
  unbalanced: string[]
  details: {
    offenders: LedgerReport['offenders']
    postings: LedgerReport['postings']
  }
}

/** Stores a check's result (and forgets all but the last CHECKS_KEPT); returns it as stored. */
export async function recordLedgerCheck(
  db: Kysely<Database>,
  report: LedgerReport,
  source: 'cli' | 'api',
  now = Date.now(),
): Promise<StoredLedgerCheck> {
  const stored: StoredLedgerCheck = {
    id: newId(),
    checkedAt: new Date(now).toISOString(),
    source,
    clean: ledgerIsClean(report),
    payments: report.payments,
    entries: report.entries,
    events: report.events,
    offenders: report.offenders.length,
    postings: report.postings.length,
    unbalanced: report.unbalanced,
    details: {
      offenders: report.offenders.slice(0, DETAILS_KEPT),
      postings: report.postings.slice(0, DETAILS_KEPT),
    },
  }
  await db
    .insertInto('ledger_checks')
    .values({
      id: stored.id,
      checked_at: now,
      source,
      clean: stored.clean ? 1 : 0,
      report: JSON.stringify(stored),
    })
    .execute()
  const kept = await db
    .selectFrom('ledger_checks')
    .select('checked_at')
    .orderBy('checked_at', 'desc')
    .offset(CHECKS_KEPT)
    .limit(1)
    .executeTakeFirst()
  if (kept !== undefined)
    await db.deleteFrom('ledger_checks').where('checked_at', '<=', Number(kept.checked_at)).execute()
  return stored
}

/** The newest stored check, or null when none ran. */
export async function lastLedgerCheck(db: Kysely<Database>): Promise<StoredLedgerCheck | null> {
  const row = await db
    .selectFrom('ledger_checks')
    .select('report')
    .orderBy('checked_at', 'desc')
    .limit(1)
    .executeTakeFirst()
  return row === undefined ? null : (JSON.parse(row.report) as StoredLedgerCheck)
}

export interface AccountTotal {
  currency: string
  account: string
  debit: number
  credit: number
  /** Debits minus credits. */
  balance: number
}

/** Debits and credits per currency and account over the whole ledger (one grouped scan per side). */
export async function ledgerTotals(db: Kysely<Database>): Promise<AccountTotal[]> {
  const side = (column: 'debit_account' | 'credit_account') =>
    db
      .selectFrom('ledger_entries as e')
      .innerJoin('payments as p', 'p.id', 'e.payment_id')
      .select(['p.currency', `e.${column} as account`, (eb) => eb.fn.sum<number>('e.amount').as('total')])
      .groupBy(['p.currency', `e.${column}`])
      .execute()
  const [debits, credits] = await Promise.all([side('debit_account'), side('credit_account')])
  const totals = new Map<string, AccountTotal>()
  const at = (currency: string, account: string) => {
    const key = `${currency}\u0000${account}`
    let total = totals.get(key)
    if (total === undefined) {
      total = { currency, account, debit: 0, credit: 0, balance: 0 }
      totals.set(key, total)
    }
    return total
  }
  for (const row of debits) at(row.currency, row.account).debit += Number(row.total)
  for (const row of credits) at(row.currency, row.account).credit += Number(row.total)
  for (const total of totals.values()) total.balance = total.debit - total.credit
  return [...totals.values()].sort((a, b) =>
    a.currency === b.currency ? a.account.localeCompare(b.account) : a.currency.localeCompare(b.currency),
  )
}
