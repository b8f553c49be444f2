import type { AcquirerClient } from '../acquirer/client.ts'
import type { DatabaseHandle } from '../db/database.ts'
import { PayrailError } from '../domain/errors.ts'
import type { CommitHandOff } from '../outbox/hand-off.ts'
import { appendEvent, type OutboxRecord } from '../outbox/writer.ts'
import { parseEnvelope } from './envelope.ts'
import { alreadyApplied, applyOnce, paymentInState } from './inbox.ts'

export const SETTLEMENT_CONSUMER = 'settlement'

export interface SettlementOptions {
  database: DatabaseHandle
  acquirer: Pick<AcquirerClient, 'settle'>
  /** After-commit hand-off of the PAYMENT_CAPTURED / PAYMENT_CAPTURE_FAILED rows; without one they wait for the relay's poll. */
  afterCommit?: CommitHandOff
  now?: () => number
}

export type SettlementOutcome = 'captured' | 'capture_failed' | 'duplicate'

/**
 * payment.capture-requested → the acquirer's settle → CAPTURED (with its PAYMENT_CAPTURED event)
 * or CAPTURE_FAILED (with its PAYMENT_CAPTURE_FAILED event, the decline message as `reason`), in
 * one transaction with the inbox row. The settle reference is the payment
 * id: the acquirer answers a repeat with its first result, so a redelivery or a retry after a
 * lost answer never settles twice. A decline is an outcome, not a failure; an unreachable
 * acquirer throws, and the record waits.
 */
export class SettlementHandler {
  readonly #options: SettlementOptions
  readonly #now: () => number

  constructor(options: SettlementOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
  }

  async handle(value: string | undefined): Promise<SettlementOutcome> {
    const event = parseEnvelope(value, ['PAYMENT_CAPTURE_REQUESTED'])
    const { db } = this.#options.database
    if (await alreadyApplied(db, SETTLEMENT_CONSUMER, event.eventId)) return 'duplicate'
    const found = await db
      .selectFrom('payments')
      .select(['status', 'merchant_id', 'currency'])
      .where('id', '=', event.paymentId)
      .executeTakeFirst()
    const payment = await paymentInState(db, SETTLEMENT_CONSUMER, event, 'CAPTURE_REQUESTED', found)
    if (payment === 'duplicate') return 'duplicate'
    const result = await this.#options.acquirer.settle({
      reference: event.paymentId,
      amount: event.data.amount,
      currency: event.data.currency,
    })
    const now = this.#now()
    const reason = result.settled ? null : (result.failureReason ?? 'settlement declined')
    const applied = await applyOnce(db, SETTLEMENT_CONSUMER, event.eventId, now, async (trx) => {
      const updated = await trx
        .updateTable('payments')
        .set(
          reason === null
            ? { status: 'CAPTURED', captured_amount: event.data.amount, message: null, updated_at: now }
            : { status: 'CAPTURE_FAILED', message: reason, updated_at: now },
        )
        .where('id', '=', event.paymentId)
        .where('status', '=', 'CAPTURE_REQUESTED')
        .executeTakeFirst()
      if (Number(updated.numUpdatedRows) !== 1)
        throw new PayrailError(
          'EVENT_NOT_APPLICABLE',
          `payment ${event.paymentId} left CAPTURE_REQUESTED meanwhile`,
        )
      const money = { amount: event.data.amount, currency: event.data.currency }
      const record: OutboxRecord = await appendEvent(
        trx,
        this.#options.database.dialect,
        {
          type: reason === null ? 'PAYMENT_CAPTURED' : 'PAYMENT_CAPTURE_FAILED',
          paymentId: event.paymentId,
          merchantId: payment.merchant_id,
          data: reason === null ? money : { ...money, reason },
        },
        now,
      )
      return [record]
    })
    if (applied.duplicate) return 'duplicate'
    this.#options.afterCommit?.handOff(applied.result)
    return result.settled ? 'captured' : 'capture_failed'
  }
}
