import type { Kysely, Selectable, Transaction } from 'kysely'
import type { AuthorizationResult } from '../acquirer/protocol.ts'
import { databaseNowMs } from '../db/clock.ts'
import type { DialectName } from '../db/database.ts'
import type { Database, PaymentTable } from '../db/schema.ts'
import { PayrailError } from '../domain/errors.ts'
import type { PaymentStatus } from '../domain/payment.ts'
import type { CommitHandOff } from '../outbox/hand-off.ts'
import { type EventRows, eventRows, type OutboxRecord, writeEvent } from '../outbox/writer.ts'
import { writeOutcomePostgres } from './authorize-postgres.ts'
import { answerForTakenKey, completeKey, type Outcome, type StoredResponse } from './idempotency.ts'
import { paymentView } from './views.ts'

/** An authorize attempt as committed before the acquirer call. */
export interface AuthorizeAttempt {
  paymentId: string
  merchantId: string
  amount: number
  currency: string
  idempotencyKey: string
  fingerprint: string
}

export interface OutcomeDeps {
  db: Kysely<Database>
  dialect: DialectName
  afterCommit: CommitHandOff
  now: () => number
  /** Runs the outcome's transaction. Default: a transaction of its own (the api passes its group commit). */
  transact?: Transact
}

/** Runs `work` in a transaction and resolves after its commit (`db.transaction().execute`, or a group commit's). */
export type Transact = <T>(work: (trx: Transaction<Database>) => Promise<T>) => Promise<T>

/** The answer came after its attempt was abandoned (and its key released): nothing was written. */
export interface LateAnswer {
  late: true
  /** The answer was an approval, now VOIDING: the caller voids it at the acquirer. */
  mustVoid: boolean
}

/**
 * Writes the payment an acquirer answer decided, unless another process already did: then the
 * answer that process stored is returned. If the attempt was abandoned meanwhile, nothing is
 * written and an approval is marked VOIDING (see `LateAnswer`). Shared by authorize and the
 * recovery sweep.
 */
export async function finalizeAttempt(
  deps: OutcomeDeps,
  attempt: AuthorizeAttempt,
  result: AuthorizationResult,
  traceparent: string | undefined,
): Promise<Outcome | LateAnswer> {
  const now = deps.now()
  const transact: Transact = deps.transact ?? ((work) => deps.db.transaction().execute(work))
  const written = await transact(async (trx) => {
    const status: PaymentStatus = result.approved ? 'AUTHORIZED' : 'AUTH_FAILED'
    const message = result.approved
      ? `approved (authorization code ${result.authorizationCode})`
      : `declined: ${result.declineReason ?? 'unknown reason'}`
    // The row as written is the row answered: the view is built from it rather than re-read
    // (1 of an authorize's 13 statements); every column is given, none left to a default.
    const payment: Selectable<PaymentTable> = {
      id: attempt.paymentId,
      merchant_id: attempt.merchantId,
      idempotency_key: attempt.idempotencyKey,
      status,
      amount: attempt.amount,
      currency: attempt.currency,
      captured_amount: 0,
      refunded_amount: 0,
      // The approval's event below is the payment's first: the row is new and unseen by any
      // other transaction until commit, so its sequence is known (no increment and re-read).
      last_sequence: result.approved ? 1 : 0,
      acquirer_reference: result.authorizationCode,
      message,
      created_at: now,
      updated_at: now,
    }
    const event = result.approved
      ? eventRows(
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
          1,
        )
      : undefined
    const response: StoredResponse = { statusCode: 201, body: paymentView(payment) }
    const records = await writeOutcome(trx, deps.dialect, attempt, { payment, event, response, now })
    if (records !== undefined) return { response, records }
    // The attempt was not PENDING: another process finished it, or the sweep abandoned it.
    const abandoned = await trx
      .updateTable('authorization_attempts')
      // Due for the sweep at once: voids are safe to repeat, so racing the caller's own is harmless.
      .set({
        state: result.approved ? 'VOIDING' : 'ABANDONED',
        next_check_at: 0,
        failures: 0,
        updated_at: databaseNowMs(deps.dialect),
      })
      .where('payment_id', '=', attempt.paymentId)
      .where('state', '=', 'ABANDONED')
      .executeTakeFirst()
    if (Number(abandoned.numUpdatedRows) === 0) return undefined
    const late: LateAnswer = { late: true, mustVoid: result.approved }
    return late
  })
  if (written !== undefined && !('response' in written)) return written
  if (written === undefined) {
    const earlier = await answerForTakenKey(
      deps.db,
      attempt.merchantId,
      attempt.idempotencyKey,
      attempt.fingerprint,
    )
    if (earlier === undefined)
      throw new PayrailError('INTERNAL', `authorize attempt ${attempt.paymentId} vanished`)
    return { ...earlier, replayed: false }
  }
  deps.afterCommit.handOff(written.records)
  return { ...written.response, replayed: false }
}

/**
 * Marks a PENDING attempt DONE and writes what its answer decided: the payment, the approval's
 * event and the key's response. Undefined, with nothing written, when the attempt was not PENDING.
 * One statement on PostgreSQL (authorize-postgres.ts), four or six elsewhere; the same rows.
 */
async function writeOutcome(
  trx: Transaction<Database>,
  dialect: DialectName,
  attempt: AuthorizeAttempt,
  write: {
    payment: Selectable<PaymentTable>
    event: EventRows | undefined
    response: StoredResponse
    now: number
  },
): Promise<OutboxRecord[] | undefined> {
  const { payment, event, response, now } = write
  if (dialect === 'postgres') {
    const { claimed, outboxId } = await writeOutcomePostgres(trx, {
      paymentId: attempt.paymentId,
      payment,
      event,
      key: {
        merchantId: attempt.merchantId,
        idempotencyKey: attempt.idempotencyKey,
        responseStatus: response.statusCode,
        responseBody: JSON.stringify(response.body),
        now,
      },
    })
    if (!claimed) return undefined
    if (event === undefined) return []
    if (outboxId === undefined)
      throw new PayrailError('INTERNAL', `no outbox id for the approval of ${attempt.paymentId}`)
    return [{ id: outboxId, ...event.record }]
  }
  const claimed = await trx
    .updateTable('authorization_attempts')
    .set({ state: 'DONE', updated_at: databaseNowMs(dialect) })
    .where('payment_id', '=', attempt.paymentId)
    .where('state', '=', 'PENDING')
    .executeTakeFirst()
  if (Number(claimed.numUpdatedRows) === 0) return undefined
  await trx.insertInto('payments').values(payment).execute()
  const records = event === undefined ? [] : [await writeEvent(trx, dialect, event)]
  await completeKey(trx, attempt.merchantId, attempt.idempotencyKey, response, now)
  return records
}

/**
 * Releases at the acquirer an approval that came after its attempt was abandoned, then marks
 * the attempt VOIDED. A failure leaves it VOIDING, which the recovery sweep voids again (the
 * acquirer's void is safe to repeat).
 */
export async function voidLateApproval(
  deps: Pick<OutcomeDeps, 'db' | 'dialect'>,
  acquirer: { voidAuthorization(reference: string): Promise<unknown> },
  paymentId: string,
): Promise<void> {
  await acquirer.voidAuthorization(paymentId)
  await deps.db
    .updateTable('authorization_attempts')
    .set({ state: 'VOIDED', updated_at: databaseNowMs(deps.dialect) })
    .where('payment_id', '=', paymentId)
    .where('state', '=', 'VOIDING')
    .execute()
}
