import type { Selectable } from 'kysely'
import type { LedgerEntryTable, PaymentEventTable, PaymentTable } from '../db/schema.ts'
import type { PaymentStatus } from '../domain/payment.ts'

export interface LedgerEntryView {
  debitAccount: string
  creditAccount: string
  amount: number
}

export interface TimelineEntry {
  eventId: string
  type: string
  sequence: number
  occurredAt: string
  data: Record<string, unknown>
}

/** The seed's payment response, plus `capturedAmount`, `refundedAmount`, `updatedAt` and (on reads) `events`. */
export interface PaymentView {
  paymentId: string
  merchantId: string
  status: PaymentStatus
  amount: number
  currency: string
  capturedAmount: number
  refundedAmount: number
  createdAt: string
  updatedAt: string
  ledgerEntries: LedgerEntryView[]
  message: string | null
  events?: TimelineEntry[]
}

export function paymentView(
  row: Selectable<PaymentTable>,
  ledger: Selectable<LedgerEntryTable>[] = [],
  events?: Selectable<PaymentEventTable>[],
): PaymentView {
  return {
    paymentId: row.id,
    merchantId: row.merchant_id,
    status: row.status as PaymentStatus,
    amount: row.amount,
    currency: row.currency,
    capturedAmount: row.captured_amount,
    refundedAmount: row.refunded_amount,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    ledgerEntries: ledger.map((entry) => ({
      debitAccount: entry.debit_account,
      creditAccount: entry.credit_account,
      amount: entry.amount,
    })),
    message: row.message,
    ...(events === undefined
      ? {}
      : {
          events: events.map((event) => ({
            eventId: event.event_id,
            type: event.event_type,
            sequence: event.sequence,
            occurredAt: new Date(event.occurred_at).toISOString(),
            data: JSON.parse(event.data) as Record<string, unknown>,
          })),
        }),
  }
}
