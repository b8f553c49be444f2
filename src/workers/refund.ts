import type { AcquirerClient } from '../acquirer/client.ts'
import type { DatabaseHandle } from '../db/database.ts'
import { PayrailError } from '../domain/errors.ts'
import type { CommitHandOff } from '../outbox/hand-off.ts'
import { appendEvent } from '../outbox/writer.ts'
import { parseEnvelope } from './envelope.ts'
import { alreadyApplied, applyOnce, paymentInState } from './inbox.ts'

export const REFUND_CONSUMER = 'refund'

export interface RefundOptions {
  database: DatabaseHandle
  acquirer: Pick<AcquirerClient, 'refund'>
  /** After-commit hand-off of the PAYMENT_REFUNDED / PAYMENT_REFUND_FAILED rows; without one they wait for the relay's poll. */
  afterCommit?: CommitHandOff
  now?: () => number
}

export type RefundOutcome = 'refunded' | 'partially_refunded' | 'refund_failed' | 'duplicate'

const OUTCOME_OF = {
  REFUNDED: 'refunded',
  PARTIAL_REFUNDED: 'partially_refunded',
  REFUND_FAILED: 'refund_failed',
} as const satisfies Record<string, RefundOutcome>

/**
 * payment.refund-requested → the acquirer's refund → PARTIAL_REFUNDED or REFUNDED (with its
 * PAYMENT_REFUNDED event) or REFUND_FAILED (with its PAYMENT_REFUND_FAILED event, the decline
 * message as `reason`), in one transaction with the inbox row. The refund
 * reference is the request event's id: stable across redeliveries, new for every refund of the
 * payment, so a retry never refunds twice and a second refund is not mistaken for the first.
 */
export class RefundHandler {
  readonly #options: RefundOptions
  readonly #now: () => number

  constructor(options: RefundOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
  }

  async handle(value: string | undefined): Promise<RefundOutcome> {
    const event = parseEnvelope(value, ['PAYMENT_REFUND_REQUESTED'])
    const { db } = this.#options.database
    if (await alreadyApplied(db, REFUND_CONSUMER, event.eventId)) return 'duplicate'
    const found = await db
      .selectFrom('payments')
      .select(['status', 'merchant_id'])
      .where('id', '=', event.paymentId)
      .executeTakeFirst()
    const payment = await paymentInState(db, REFUND_CONSUMER, event, 'REFUND_REQUESTED', found)
    if (payment === 'duplicate') return 'duplicate'
    const result = await this.#options.acquirer.refund({
      reference: event.eventId,
      amount: event.data.amount,
      currency: event.data.currency,
    })
    const now = this.#now()
    const applied = await applyOnce(db, REFUND_CONSUMER, event.eventId, now, async (trx) => {
      const current = await trx
        .selectFrom('payments')
        .select(['status', 'captured_amount', 'refunded_amount'])
        .where('id', '=', event.paymentId)
        .executeTakeFirstOrThrow()
      if (current.status !== 'REFUND_REQUESTED')
        throw new PayrailError(
          'EVENT_NOT_APPLICABLE',
          `payment ${event.paymentId} left REFUND_REQUESTED meanwhile`,
        )
      const reason = result.refunded ? null : (result.failureReason ?? 'refund declined')
      const refunded = Number(current.refunded_amount) + (reason === null ? event.data.amount : 0)
      const status =
        reason !== null
          ? 'REFUND_FAILED'
          : refunded >= Number(current.captured_amount)
            ? 'REFUNDED'
            : 'PARTIAL_REFUNDED'
      await trx
        .updateTable('payments')
        .set(
          reason === null
            ? { status, refunded_amount: refunded, message: null, updated_at: now }
            : { status, message: reason, updated_at: now },
        )
        .where('id', '=', event.paymentId)
        .execute()
      const money = { amount: event.data.amount, currency: event.data.currency }
      const record = await appendEvent(
        trx,
        this.#options.database.dialect,
        {
          type: reason === null ? 'PAYMENT_REFUNDED' : 'PAYMENT_REFUND_FAILED',
          paymentId: event.paymentId,
          merchantId: payment.merchant_id,
          data: reason === null ? { ...money, refundedAmount: refunded } : { ...money, reason },
        },
        now,
      )
      return { outcome: OUTCOME_OF[status], records: [record] }
    })
    if (applied.duplicate) return 'duplicate'
    this.#options.afterCommit?.handOff(applied.result.records)
    return applied.result.outcome
  }
}
