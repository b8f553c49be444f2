/**
 * The ledger's accounts. A capture moves money the acquirer owes us (receivable) against what we
 * owe the merchant (payable); a refund moves it back. Every entry debits one account and credits
 * another by the same amount, so a payment's debits always equal its credits.
 */
export const ACCOUNTS = {
  acquirerReceivable: 'acquirer_receivable',
  merchantPayable: 'merchant_payable',
} as const

/** The entry an event posts. */
export function entryFor(type: 'PAYMENT_CAPTURED' | 'PAYMENT_REFUNDED'): { debit: string; credit: string } {
  return type === 'PAYMENT_CAPTURED'
    ? { debit: ACCOUNTS.acquirerReceivable, credit: ACCOUNTS.merchantPayable }
    : { debit: ACCOUNTS.merchantPayable, credit: ACCOUNTS.acquirerReceivable }
}
