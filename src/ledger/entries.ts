import type { Kysely, Selectable, Transaction } from 'kysely'
import type { Database, LedgerEntryTable } from '../db/schema.ts'

/** A payment's ledger entries in posting order (created_at, then id). */
export function ledgerEntriesOf(
  db: Kysely<Database> | Transaction<Database>,
  paymentId: string,
): Promise<Selectable<LedgerEntryTable>[]> {
  return db
    .selectFrom('ledger_entries')
    .selectAll()
    .where('payment_id', '=', paymentId)
    .orderBy('created_at')
    .orderBy('id')
    .execute()
}
