import type { Kysely, Selectable, Transaction } from 'kysely'
import type { AuthorizationResult, VoidResult } from '../acquirer/protocol.ts'
import { databaseNowMs } from '../db/clock.ts'
import type { DatabaseHandle, DialectName } from '../db/database.ts'
import { isUniqueViolation } from '../db/errors.ts'
import type { GroupCommitter } from '../db/group-commit.ts'
import type { Database, PaymentTable } from '../db/schema.ts'
import { hasErrorCode, PayrailError } from '../domain/errors.ts'
import type { EventType } from '../domain/events.ts'
import { newId } from '../domain/ids.ts'
import { type PaymentStatus, planCapture, planRefund } from '../domain/payment.ts'
import { ledgerEntriesOf } from '../ledger/entries.ts'
import { type CommitHandOff, tableOnlyHandOff } from '../outbox/hand-off.ts'
import { appendEvent, type OutboxRecord } from '../outbox/writer.ts'
import { finalizeAttempt, type Transact, voidLateApproval } from './authorize-outcome.ts'
import { claimAttemptPostgres } from './authorize-postgres.ts'
import {
  abandonAttempt,
  answerForTakenKey,
  claimKey,
  keyRecord,
  type Outcome,
  recordKey,
  type StoredResponse,
} from './idempotency.ts'
import { notFound } from './payment-reads.ts'
import { paymentView } from './views.ts'

/** The acquirer calls the API makes; the real client or anything that keeps its contract. */
export interface AuthorizingAcquirer {
  authorize(request: { reference: string; amount: number; currency: string }): Promise<AuthorizationResult>
  lookupAuthorization(reference: string): Promise<AuthorizationResult | undefined>
  voidAuthorization(reference: string): Promise<VoidResult>
}

/** Outcomes worth counting; the API's metrics implement it. */
export interface PaymentObserver {
  outcome(operation: 'authorize' | 'capture' | 'refund', outcome: string): void
  recovered(resolution: 'authorized' | 'declined' | 'abandoned' | 'voided'): void
  /** A sweep's check of one attempt failed (`reason`: a catalog code, lower case); it is backed off. */
  recoveryFailed?(reason: string): void
}

export interface PaymentServiceOptions {
  database: DatabaseHandle
  acquirer: AuthorizingAcquirer
  /** After-commit hand-off of new outbox rows. Default: none (the relay's poll finds them). */
  afterCommit?: CommitHandOff
  observer?: PaymentObserver
  /** Clock in epoch milliseconds. Default: Date.now. */
  now?: () => number
  /** Commits authorize's two transactions, grouped with other requests'. Default: each its own transaction. */
  committer?: GroupCommitter
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

/** The change's own refusals, which a repeat of an earlier success with the same key also meets. */
const REFUSALS = [
  'NOT_FOUND',
  'CAPTURE_CONFLICT',
  'REFUND_CONFLICT',
  'CAPTURE_EXCEEDS_AUTHORIZED',
  'REFUND_EXCEEDS_CAPTURED',
] as const

/** A failure as an outcome label: its catalog code in lower case, or `error`. */
function outcomeOf(error: unknown): string {
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' ? code.toLowerCase() : 'error'
}

function isRefusal(error: unknown): boolean {
  return REFUSALS.some((code) => hasErrorCode(error, code))
}

/** A change as written: its outbox row, and the payment row as the change left it. */
interface Transitioned {
  record: OutboxRecord
  row: Selectable<PaymentTable>
}

export interface RefundCommand extends ChangeCommand {
  reason: string
}

/**
 * Authorize, capture and refund, each committing the payment row, its outbox event and the
 * idempotency record in one transaction. Authorize is split around the acquirer call: the
 * attempt is committed first, the outcome second, and `AuthorizeRecovery` (authorize-recovery.ts)
 * finishes attempts whose process died in between. Reads are `PaymentReads` (payment-reads.ts).
 */
export class PaymentService {
  readonly #db: Kysely<Database>
  readonly #dialect: DialectName
  readonly #acquirer: AuthorizingAcquirer
  readonly #afterCommit: CommitHandOff
  readonly #observer: PaymentObserver | undefined
  readonly #now: () => number
  readonly #transact: Transact

  constructor(options: PaymentServiceOptions) {
    this.#db = options.database.db
    this.#dialect = options.database.dialect
    this.#acquirer = options.acquirer
    this.#afterCommit = options.afterCommit ?? tableOnlyHandOff
    this.#observer = options.observer
    this.#now = options.now ?? Date.now
    const committer = options.committer
    this.#transact =
      committer === undefined ? (work) => this.#db.transaction().execute(work) : (work) => committer.run(work)
  }

  async authorize(command: AuthorizeCommand, retried = false): Promise<Outcome> {
    const paymentId = newId()
    const now = this.#now()
    const claimed = await this.#transact(async (trx) => {
      const claim = {
        merchantId: command.merchantId,
        key: command.idempotencyKey,
        fingerprint: command.fingerprint,
        paymentId,
      }
      const attempt = {
        payment_id: paymentId,
        merchant_id: command.merchantId,
        idempotency_key: command.idempotencyKey,
        amount: command.amount,
        currency: command.currency,
        state: 'PENDING',
        // The database's clock: the recovery sweep judges the attempt's age by it.
        created_at: databaseNowMs(this.#dialect),
        updated_at: databaseNowMs(this.#dialect),
      }
      if (this.#dialect === 'postgres')
        return claimAttemptPostgres(trx, keyRecord(claim, undefined, now), attempt)
      if (!(await claimKey(trx, this.#dialect, claim, now))) return false
      await trx.insertInto('authorization_attempts').values(attempt).execute()
      return true
    })
    if (!claimed) {
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
      throw new PayrailError(
        'REQUEST_IN_PROGRESS',
        `idempotency key ${JSON.stringify(command.idempotencyKey)} was taken and released twice; retry`,
      )
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
        // Proven not processed (not sent, breaker open, or the acquirer's "rejected before
        // processing" answer): release the key so that the client can simply retry.
        await abandonAttempt(this.#db, this.#dialect, {
          paymentId,
          merchantId: command.merchantId,
          idempotencyKey: command.idempotencyKey,
        })
        this.#observer?.outcome('authorize', 'acquirer_unavailable')
      } else {
        // Anything else may have authorized (a timeout, a reset after sending, a bare 5xx, an
        // unreadable answer): the attempt stays PENDING under its reference for the recovery
        // sweep, and a retry with the same key answers 409 until the sweep has resolved it.
        this.#observer?.outcome('authorize', outcomeOf(error))
      }
      throw error
    }
    const attempt = { paymentId, ...command }
    const deps = {
      db: this.#db,
      dialect: this.#dialect,
      afterCommit: this.#afterCommit,
      now: this.#now,
      transact: this.#transact,
    }
    const outcome = await finalizeAttempt(deps, attempt, result, command.traceparent)
    if ('late' in outcome) {
      // The sweep gave the attempt up while this call was out (the process stalled past every
      // limit): its key is free again, so an approval must not stand.
      this.#observer?.outcome('authorize', 'late_answer')
      if (outcome.mustVoid) {
        // A failed void leaves the attempt VOIDING, and the recovery sweep voids it again.
        await voidLateApproval(deps, this.#acquirer, paymentId).catch(() =>
          this.#observer?.outcome('authorize', 'void_deferred'),
        )
      }
      throw new PayrailError(
        'AUTHORIZATION_VOIDED',
        `the acquirer answered after attempt ${paymentId} was given up${outcome.mustVoid ? '; its approval is voided' : ''}`,
        { details: { paymentId } },
      )
    }
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

  /**
   * Moves the payment to `status` and appends the event that announces it, in the caller's
   * transaction, on the row `#change` read under its lock; answers the row as it now stands.
   */
  async #transition(
    trx: Transaction<Database>,
    payment: Selectable<PaymentTable>,
    now: number,
    traceparent: string | undefined,
    status: PaymentStatus,
    type: EventType,
    data: Record<string, unknown>,
  ): Promise<Transitioned> {
    // Why read + 1 is this event's sequence: `#change` read the row with `select … for update`
    // in this transaction (on SQLite, inside BEGIN IMMEDIATE, which holds the database's one
    // write lock), so no other transaction can move last_sequence until commit; the workers'
    // appendEvent updates the row first and so waits for that lock. The increment is folded into
    // the status update (2 of a capture's 13 statements); the guard on the value read turns a
    // broken assumption into a rollback instead of a sequence written twice or skipped.
    const sequence = payment.last_sequence + 1
    const updated = await trx
      .updateTable('payments')
      .set((eb) => ({ status, updated_at: now, message: null, last_sequence: eb('last_sequence', '+', 1) }))
      .where('id', '=', payment.id)
      .where('last_sequence', '=', payment.last_sequence)
      .executeTakeFirst()
    if (Number(updated.numUpdatedRows) !== 1)
      throw new PayrailError(
        'INTERNAL',
        `payment ${payment.id} moved past sequence ${payment.last_sequence} under its row lock`,
      )
    const record = await appendEvent(
      trx,
      this.#dialect,
      { type, paymentId: payment.id, merchantId: payment.merchant_id, data, traceparent },
      now,
      sequence,
    )
    // The row read plus what this update changed: no re-read (1 statement).
    const row = { ...payment, status, updated_at: now, message: null, last_sequence: sequence }
    return { record, row }
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
    ) => Promise<Transitioned>,
    retried = false,
  ): Promise<Outcome> {
    const now = this.#now()
    const key = command.idempotencyKey
    let written: { response: StoredResponse; record: OutboxRecord }
    try {
      written = await this.#db.transaction().execute(async (trx) => {
        let select = trx
          .selectFrom('payments')
          .selectAll()
          .where('id', '=', command.paymentId)
          .where('merchant_id', '=', command.merchantId)
        // The row lock, taken here before any write to the row and held until commit, is what
        // lets `#transition` use the read last_sequence + 1 (and the read row for the answer).
        // SQLite has no row locks; its write transactions already run one at a time.
        if (this.#dialect !== 'sqlite') select = select.forUpdate()
        const payment = await select.executeTakeFirst()
        if (payment === undefined) throw notFound(command.paymentId)
        const { record, row: updated } = await apply(trx, payment, now)
        // The seed's response carries the ledger as it stands (a refund's shows the capture).
        const ledger = await ledgerEntriesOf(trx, payment.id)
        const response: StoredResponse = { statusCode: 202, body: paymentView(updated, ledger) }
        // Last, and COMPLETED at once: the key is written by the same commit as the change. A
        // concurrent request with the same key waits for this one's row lock above (or, on
        // another payment, for this uncommitted key) and is then answered from the record.
        if (key !== undefined)
          await recordKey(
            trx,
            { merchantId: command.merchantId, key, fingerprint: command.fingerprint, paymentId: payment.id },
            response,
            now,
          )
        return { response, record }
      })
    } catch (error) {
      // A refusal (not found, a state or amount the change does not fit) may be the answer to a
      // repeat of a request that succeeded: the key, checked after the refusal, decides.
      const keyed = key !== undefined && (isUniqueViolation(error) || isRefusal(error))
      if (!keyed) {
        this.#observer?.outcome(operation, outcomeOf(error))
        throw error
      }
      const earlier = await answerForTakenKey(this.#db, command.merchantId, key, command.fingerprint)
      if (earlier === undefined) {
        if (isUniqueViolation(error) && !retried) return this.#change(operation, command, apply, true)
        this.#observer?.outcome(operation, outcomeOf(error))
        throw error
      }
      this.#observer?.outcome(operation, 'replayed')
      return earlier
    }
    this.#afterCommit.handOff([written.record])
    this.#observer?.outcome(operation, 'accepted')
    return { ...written.response, replayed: false }
  }
}
