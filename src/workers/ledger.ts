import type { DatabaseHandle } from '../db/database.ts'
import { newId } from '../domain/ids.ts'
import { entryFor } from '../ledger/accounts.ts'
import { parseEnvelope } from './envelope.ts'
import { applyOnce } from './inbox.ts'

export const LEDGER_CONSUMER = 'ledger'

export interface LedgerOptions {
  database: DatabaseHandle
  now?: () => number
}

export type LedgerOutcome = 'posted' | 'ignored' | 'duplicate'

/**
 * payment.captured and payment.refunded → one double-entry row per PAYMENT_CAPTURED /
 * PAYMENT_REFUNDED, once per event. The failure events on the same topics move no money: they
 * post nothing but are still marked processed (the inbox row), so a redelivery is a duplicate.
 */
export class LedgerHandler {
  readonly #options: LedgerOptions
  readonly #now: () => number

  constructor(options: LedgerOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
  }

  async handle(value: string | undefined): Promise<LedgerOutcome> {
    const event = parseEnvelope(value, [
      'PAYMENT_CAPTURED',
      'PAYMENT_REFUNDED',
      'PAYMENT_CAPTURE_FAILED',
      'PAYMENT_REFUND_FAILED',
    ])
    const now = this.#now()
    const { db } = this.#options.database
    if (event.type === 'PAYMENT_CAPTURE_FAILED' || event.type === 'PAYMENT_REFUND_FAILED') {
      const marked = await applyOnce(db, LEDGER_CONSUMER, event.eventId, now, async () => undefined)
      return marked.duplicate ? 'duplicate' : 'ignored'
    }
    const { debit, credit } = entryFor(event.type as 'PAYMENT_CAPTURED' | 'PAYMENT_REFUNDED')
    const applied = await applyOnce(db, LEDGER_CONSUMER, event.eventId, now, (trx) =>
      trx
        .insertInto('ledger_entries')
        .values({
          id: newId(),
          payment_id: event.paymentId,
          event_id: event.eventId,
          debit_account: debit,
          credit_account: credit,
          amount: event.data.amount,
          created_at: now,
        })
        .execute(),
    )
    return applied.duplicate ? 'duplicate' : 'posted'
  }
}
