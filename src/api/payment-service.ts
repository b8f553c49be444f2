import type { Kysely, Selectable, Transaction } from 'kysely'
import type { AuthorizationResult } from '../acquirer/protocol.ts'
import type { DatabaseHandle, DialectName } from '../db/database.ts'
import { isUniqueViolation } from '../db/errors.ts'
import type { Database, PaymentTable } from '../db/schema.ts'
import { hasErrorCode, PayrailError } from '../domain/errors.ts'
import type { EventType } from '../domain/events.ts'
import { newId } from '../domain/ids.ts'
import { type PaymentStatus, planCapture, planRefund } from '../domain/payment.ts'
import { type OutboxDispatcher, tableOnlyDispatcher } from '../outbox/dispatcher.ts'
import { appendEvent, type OutboxRecord } from '../outbox/writer.ts'
import { answerForTakenKey, type Outcome, type StoredResponse } from './idempotency.ts'
import { type PaymentView, paymentView } from './views.ts'

/** The acquirer calls the API makes; the real client or anything that keeps its contract. */
export interface AuthorizingAcquirer {
  authorize(request: { reference: string; amount: number; currency: string }): Promise<AuthorizationResult>
  lookupAuthorization(reference: string): Promise<AuthorizationResult | undefined>
}

/** Outcomes worth counting; the API's metrics implement it. */
export interface PaymentObserver {
  outcome(operation: 'authorize' | 'capture' | 'refund', outcome: string): void
  recovered(resolution: 'authorized' | 'declined' | 'abandoned'): void
}

export interface PaymentServiceOptions {
  database: DatabaseHandle
  acquirer: AuthorizingAcquirer
  /** After-commit hand-off of new outbox rows. Default: none (the relay's poll finds them). */
  dispatcher?: OutboxDispatcher
  observer?: PaymentObserver
  /** Clock in epoch milliseconds. Default: Date.now. */
  now?: () => number
}

export interface AuthorizeCommand {
  merchantId: string
  amount: number
  currency: string
  idempotencyKey: string
  fingerprint: string
  traceparent?: string | undefined
}

export interface ChangeCommand {
  merchantId: string
  paymentId: string
  amount?: number | undefined
  idempotencyKey?: string | undefined
  fingerprint: string
  traceparent?: string | undefined
}

export interface RefundCommand extends ChangeCommand {
  reason: string
}

export interface ListQuery {
  merchantId: string
  status?: PaymentStatus | undefined
  from?: number | undefined
  to?: number | undefined
  cursor?: string | undefined
  limit: number
}

export interface PaymentPage {
  items: PaymentView[]
  nextCursor: string | null
}

const notFound = (paymentId: string) =>
  new PayrailError('NOT_FOUND', `payment ${paymentId} not found`, { details: { paymentId } })

function encodeCursor(row: { created_at: number; id: string }): string {
  return Buffer.from(`${row.created_at}:${row.id}`).toString('base64url')
}

function decodeCursor(cursor: string): { createdAt: number; id: string } {
  const [createdAt, id] = Buffer.from(cursor, 'base64url').toString().split(':')
  if (
    createdAt === undefined ||
    id === undefined ||
    !/^\d+$/.test(createdAt) ||
    id.length === 0 ||
    id.length > 36
  ) {
    throw new PayrailError('VALIDATION_FAILED', 'cursor is not one this API returned')
  }
  return { createdAt: Number(createdAt), id }
}

/**
 * Authorize, capture and refund, each committing the payment row, its outbox event and the
 * idempotency record in one transaction. Authorize is split around the acquirer call: the
 * attempt is committed first, the outcome second, and `resolveStaleAttempts` finishes attempts
 * whose process died in between.
 */
export class PaymentService {
  readonly #db: Kysely<Database>
  readonly #dialect: DialectName
  readonly #acquirer: AuthorizingAcquirer
  readonly #dispatcher: OutboxDispatcher
  readonly #observer: PaymentObserver | undefined
  readonly #now: () => number

  constructor(options: PaymentServiceOptions) {
    this.#db = options.database.db
    this.#dialect = options.database.dialect
    this.#acquirer = options.acquirer
    this.#dispatcher = options.dispatcher ?? tableOnlyDispatcher
    this.#observer = options.observer
    this.#now = options.now ?? Date.now
  }

  async authorize(command: AuthorizeCommand, retried = false): Promise<Outcome> {
    const paymentId = newId()
    const now = this.#now()
    try {
      await this.#db.transaction().execute(async (trx) => {
        await trx
          .insertInto('idempotency_records')
          .values({
            merchant_id: command.merchantId,
            idempotency_key: command.idempotencyKey,
            request_hash: command.fingerprint,
            state: 'IN_PROGRESS',
            response_status: null,
            response_body: null,
            payment_id: paymentId,
            created_at: now,
            updated_at: now,
          })
          .execute()
        await trx
          .insertInto('authorization_attempts')
          .values({
            payment_id: paymentId,
            merchant_id: command.merchantId,
            idempotency_key: command.idempotencyKey,
            amount: command.amount,
            currency: command.currency,
            state: 'PENDING',
            created_at: now,
            updated_at: now,
          })
          .execute()
      })
    } catch (error) {
      if (!isUniqueViolation(error)) throw error
      const earlier = await answerForTakenKey(
        this.#db,
        command.merchantId,
        command.idempotencyKey,
        command.fingerprint,
      )
      if (earlier !== undefined) {
        this.#observer?.outcome('authorize', 'replayed')
        return earlier
      }
      // The earlier attempt was abandoned and its key released between our insert and our read.
      if (!retried) return this.authorize(command, true)
      throw error
    }

    let result: AuthorizationResult
    try {
      result = await this.#acquirer.authorize({
        reference: paymentId,
        amount: command.amount,
        currency: command.currency,
      })
    } catch (error) {
      if (hasErrorCode(error, 'ACQUIRER_UNAVAILABLE')) {
        // Nothing reached the acquirer: release the key so that the client can simply retry.
        await this.#abandon(paymentId)
        this.#observer?.outcome('authorize', 'acquirer_unavailable')
      } else {
        // The acquirer may have approved: the attempt stays for the recovery sweep, and a retry
        // with the same key answers 409 until it is resolved.
        this.#observer?.outcome('authorize', 'acquirer_timeout')
      }
      throw error
    }
    const attempt = { paymentId, ...command }
    const outcome = await this.#finalize(attempt, result, command.traceparent)
    this.#observer?.outcome('authorize', result.approved ? 'approved' : 'declined')
    return outcome
  }

  async capture(command: ChangeCommand): Promise<Outcome> {
    return this.#change('capture', command, (trx, payment, now) => {
      const { amount } = planCapture(this.#state(payment), command.amount)
      return this.#transition(
        trx,
        payment,
        now,
        command.traceparent,
        'CAPTURE_REQUESTED',
        'PAYMENT_CAPTURE_REQUESTED',
        {
          amount,
          currency: payment.currency,
        },
      )
    })
  }

  async refund(command: RefundCommand): Promise<Outcome> {
    return this.#change('refund', command, (trx, payment, now) => {
      const { amount } = planRefund(this.#state(payment), command.amount)
      // The refund's acquirer reference is this event's id: stable across redeliveries, new per refund.
      return this.#transition(
        trx,
        payment,
        now,
        command.traceparent,
        'REFUND_REQUESTED',
        'PAYMENT_REFUND_REQUESTED',
        {
          amount,
          currency: payment.currency,
          reason: command.reason,
        },
      )
    })
  }

  async get(merchantId: string, paymentId: string): Promise<PaymentView> {
    const payment = await this.#db
      .selectFrom('payments')
      .selectAll()
      .where('id', '=', paymentId)
      .where('merchant_id', '=', merchantId)
      .executeTakeFirst()
    if (payment === undefined) throw notFound(paymentId)
    const [ledger, events] = await Promise.all([
      this.#db
        .selectFrom('ledger_entries')
        .selectAll()
        .where('payment_id', '=', paymentId)
        .orderBy('created_at')
        .orderBy('id')
        .execute(),
      this.#db
        .selectFrom('payment_events')
        .selectAll()
        .where('payment_id', '=', paymentId)
        .orderBy('sequence')
        .execute(),
    ])
    return paymentView(payment, ledger, events)
  }

  /** Newest first, by the (merchant, [status,] created_at, id) indexes: a range scan, never a full one. */
  async list(query: ListQuery): Promise<PaymentPage> {
    let select = this.#db.selectFrom('payments').selectAll().where('merchant_id', '=', query.merchantId)
    if (query.status !== undefined) select = select.where('status', '=', query.status)
    if (query.from !== undefined) select = select.where('created_at', '>=', query.from)
    if (query.to !== undefined) select = select.where('created_at', '<', query.to)
    if (query.cursor !== undefined) {
      const after = decodeCursor(query.cursor)
      select = select.where((eb) =>
        eb.or([
          eb('created_at', '<', after.createdAt),
          eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)]),
        ]),
      )
    }
    const rows = await select
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(query.limit + 1)
      .execute()
    const page = rows.slice(0, query.limit)
    const last = page.at(-1)
    return {
      items: page.map((row) => paymentView(row)),
      nextCursor: rows.length > query.limit && last !== undefined ? encodeCursor(last) : null,
    }
  }

  /**
   * Finishes authorize attempts older than `olderThanMs` whose process never recorded the
   * outcome (it crashed, or the acquirer timed out). The acquirer is asked what it did under the
   * attempt's reference: an approval or a decline is written as the payment the client would
   * have got; an attempt it never saw is abandoned and its idempotency key released.
   * Attempts whose lookup fails stay for the next sweep.
   */
  async resolveStaleAttempts(
    olderThanMs: number,
    limit = 100,
  ): Promise<{ resolved: number; pending: number }> {
    const stale = await this.#db
      .selectFrom('authorization_attempts')
      .selectAll()
      .where('state', '=', 'PENDING')
      .where('created_at', '<', this.#now() - olderThanMs)
      .orderBy('created_at')
      .limit(limit)
      .execute()
    let resolved = 0
    for (const attempt of stale) {
      let result: AuthorizationResult | undefined
      try {
        result = await this.#acquirer.lookupAuthorization(attempt.payment_id)
      } catch (error) {
        if (hasErrorCode(error, 'ACQUIRER_UNAVAILABLE') || hasErrorCode(error, 'ACQUIRER_TIMEOUT')) continue
        throw error
      }
      if (result === undefined) {
        await this.#abandon(attempt.payment_id)
        this.#observer?.recovered('abandoned')
      } else {
        const fingerprintRow = await this.#db
          .selectFrom('idempotency_records')
          .select('request_hash')
          .where('merchant_id', '=', attempt.merchant_id)
          .where('idempotency_key', '=', attempt.idempotency_key)
          .executeTakeFirst()
        await this.#finalize(
          {
            paymentId: attempt.payment_id,
            merchantId: attempt.merchant_id,
            amount: attempt.amount,
            currency: attempt.currency,
            idempotencyKey: attempt.idempotency_key,
            fingerprint: fingerprintRow?.request_hash ?? '',
          },
          result,
          undefined,
        )
        this.#observer?.recovered(result.approved ? 'authorized' : 'declined')
      }
      resolved++
    }
    return { resolved, pending: stale.length - resolved }
  }

  /** Moves the payment to `status` and appends the event that announces it, in the caller's transaction. */
  async #transition(
    trx: Transaction<Database>,
    payment: Selectable<PaymentTable>,
    now: number,
    traceparent: string | undefined,
    status: PaymentStatus,
    type: EventType,
    data: Record<string, unknown>,
  ): Promise<OutboxRecord> {
    await trx
      .updateTable('payments')
      .set({ status, updated_at: now, message: null })
      .where('id', '=', payment.id)
      .execute()
    return appendEvent(
      trx,
      { type, paymentId: payment.id, merchantId: payment.merchant_id, data, traceparent },
      now,
    )
  }

  #state(payment: Selectable<PaymentTable>) {
    return {
      id: payment.id,
      status: payment.status as PaymentStatus,
      amount: payment.amount,
      capturedAmount: payment.captured_amount,
      refundedAmount: payment.refunded_amount,
    }
  }

  /** Writes the payment an acquirer answer decided, unless another process already did. */
  async #finalize(
    attempt: Omit<AuthorizeCommand, 'traceparent'> & { paymentId: string },
    result: AuthorizationResult,
    traceparent: string | undefined,
  ): Promise<Outcome> {
    const now = this.#now()
    const written = await this.#db.transaction().execute(async (trx) => {
      const claimed = await trx
        .updateTable('authorization_attempts')
        .set({ state: 'DONE', updated_at: now })
        .where('payment_id', '=', attempt.paymentId)
        .where('state', '=', 'PENDING')
        .executeTakeFirst()
      if (Number(claimed.numUpdatedRows) === 0) return undefined
      const status: PaymentStatus = result.approved ? 'AUTHORIZED' : 'AUTH_FAILED'
      const message = result.approved
        ? `approved (authorization code ${result.authorizationCode})`
        : `declined: ${result.declineReason ?? 'unknown reason'}`
      await trx
        .insertInto('payments')
        .values({
          id: attempt.paymentId,
          merchant_id: attempt.merchantId,
          idempotency_key: attempt.idempotencyKey,
          status,
          amount: attempt.amount,
          currency: attempt.currency,
          acquirer_reference: result.authorizationCode,
          message,
          created_at: now,
          updated_at: now,
        })
        .execute()
      const records = result.approved
        ? [
            await appendEvent(
              trx,
              {
                type: 'PAYMENT_AUTHORIZED',
                paymentId: attempt.paymentId,
                merchantId: attempt.merchantId,
                data: {
                  amount: attempt.amount,
                  currency: attempt.currency,
                  authorizationCode: result.authorizationCode,
                },
                traceparent,
              },
              now,
            ),
          ]
        : []
      const payment = await trx
        .selectFrom('payments')
        .selectAll()
        .where('id', '=', attempt.paymentId)
        .executeTakeFirstOrThrow()
      const response: StoredResponse = { statusCode: 201, body: paymentView(payment) }
      await this.#complete(trx, attempt.merchantId, attempt.idempotencyKey, response, now)
      return { response, records }
    })
    if (written === undefined) {
      const earlier = await answerForTakenKey(
        this.#db,
        attempt.merchantId,
        attempt.idempotencyKey,
        attempt.fingerprint,
      )
      if (earlier === undefined)
        throw new PayrailError('INTERNAL', `authorize attempt ${attempt.paymentId} vanished`)
      return { ...earlier, replayed: false }
    }
    this.#dispatcher.handOff(written.records)
    return { ...written.response, replayed: false }
  }

  async #abandon(paymentId: string): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      const attempt = await trx
        .updateTable('authorization_attempts')
        .set({ state: 'ABANDONED', updated_at: this.#now() })
        .where('payment_id', '=', paymentId)
        .where('state', '=', 'PENDING')
        .executeTakeFirst()
      if (Number(attempt.numUpdatedRows) === 0) return
      await trx
        .deleteFrom('idempotency_records')
        .where('payment_id', '=', paymentId)
        .where('state', '=', 'IN_PROGRESS')
        .execute()
    })
  }

  async #complete(
    trx: Transaction<Database>,
    merchantId: string,
    key: string,
    response: StoredResponse,
    now: number,
  ): Promise<void> {
    await trx
      .updateTable('idempotency_records')
      .set({
        state: 'COMPLETED',
        response_status: response.statusCode,
        response_body: JSON.stringify(response.body),
        updated_at: now,
      })
      .where('merchant_id', '=', merchantId)
      .where('idempotency_key', '=', key)
      .execute()
  }

  /**
   * One state change in one transaction: the idempotency record (when a key was given), the
   * payment row under a row lock, its outbox event, and the stored response. Any failure,
   * including a refused transition, rolls all of it back.
   */
  async #change(
    operation: 'capture' | 'refund',
    command: ChangeCommand,
    apply: (
      trx: Transaction<Database>,
      payment: Selectable<PaymentTable>,
      now: number,
    ) => Promise<OutboxRecord>,
    retried = false,
  ): Promise<Outcome> {
    const now = this.#now()
    const key = command.idempotencyKey
    let written: { response: StoredResponse; record: OutboxRecord }
    try {
      written = await this.#db.transaction().execute(async (trx) => {
        if (key !== undefined) {
          await trx
            .insertInto('idempotency_records')
            .values({
              merchant_id: command.merchantId,
              idempotency_key: key,
              request_hash: command.fingerprint,
              state: 'IN_PROGRESS',
              response_status: null,
              response_body: null,
              payment_id: command.paymentId,
              created_at: now,
              updated_at: now,
            })
            .execute()
        }
        let select = trx
          .selectFrom('payments')
          .selectAll()
          .where('id', '=', command.paymentId)
          .where('merchant_id', '=', command.merchantId)
        // SQLite has no row locks; its write transactions already run one at a time.
        if (this.#dialect !== 'sqlite') select = select.forUpdate()
        const payment = await select.executeTakeFirst()
        if (payment === undefined) throw notFound(command.paymentId)
        const record = await apply(trx, payment, now)
        const updated = await trx
          .selectFrom('payments')
          .selectAll()
          .where('id', '=', payment.id)
          .executeTakeFirstOrThrow()
        // The seed's response carries the ledger as it stands (a refund's shows the capture).
        const ledger = await trx
          .selectFrom('ledger_entries')
          .selectAll()
          .where('payment_id', '=', payment.id)
          .orderBy('created_at')
          .orderBy('id')
          .execute()
        const response: StoredResponse = { statusCode: 202, body: paymentView(updated, ledger) }
        if (key !== undefined) await this.#complete(trx, command.merchantId, key, response, now)
        return { response, record }
      })
    } catch (error) {
      if (key === undefined || !isUniqueViolation(error)) {
        const code = (error as { code?: unknown }).code
        this.#observer?.outcome(operation, typeof code === 'string' ? code.toLowerCase() : 'error')
        throw error
      }
      const earlier = await answerForTakenKey(this.#db, command.merchantId, key, command.fingerprint)
      if (earlier === undefined) {
        if (!retried) return this.#change(operation, command, apply, true)
        throw error
      }
      this.#observer?.outcome(operation, 'replayed')
      return earlier
    }
    this.#dispatcher.handOff([written.record])
    this.#observer?.outcome(operation, 'accepted')
    return { ...written.response, replayed: false }
  }
}
