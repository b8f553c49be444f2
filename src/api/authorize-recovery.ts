import type { Kysely, Selectable } from 'kysely'
import { Type } from 'typebox'
import type { AuthorizationResult } from '../acquirer/protocol.ts'
import { databaseNowMs, readDatabaseNow } from '../db/clock.ts'
import type { DatabaseHandle, DialectName } from '../db/database.ts'
import type { AuthorizationAttemptTable, Database } from '../db/schema.ts'
import { hasErrorCode, PayrailError } from '../domain/errors.ts'
import type { Logger } from '../observability/logger.ts'
import { type CommitHandOff, tableOnlyHandOff } from '../outbox/hand-off.ts'
import { backoff } from '../runtime/backoff.ts'
import { resolveOptions, wholeNumber } from '../runtime/options.ts'
import { finalizeAttempt, voidLateApproval } from './authorize-outcome.ts'
import { abandonAttempt } from './idempotency.ts'
import type { AuthorizingAcquirer, PaymentObserver } from './payment-service.ts'

export interface AuthorizeRecoveryTuning {
  /**
   * The acquirer client's authorize timeout: two "unknown" lookups must be more than this apart
   * before an attempt is abandoned, and a check holds its attempt for twice this.
   * Default: 1000 ms (ACQUIRER_AUTH_TIMEOUT_MS).
   */
  acquirerTimeoutMs: number
  /** First pause after a failed check of one attempt; doubled per failure in a row. Default: 1000 ms. */
  retryBaseMs: number
  /** Longest pause after failed checks. Default: 300000 ms (5 minutes). */
  retryCapMs: number
  /** Attempts checked per pass. Default: 100. */
  batchSize: number
  /**
   * How long an abandoned attempt is still looked up, at spacings that double from its
   * abandonment, in case the acquirer carried it out after all; an approval found is voided.
   * Default: 86400000 ms, 24 h (AUTH_ABANDONED_WATCH).
   */
  abandonedWatchMs: number
}

export const defaultAuthorizeRecoveryTuning: AuthorizeRecoveryTuning = {
  acquirerTimeoutMs: 1000,
  retryBaseMs: 1000,
  retryCapMs: 300_000,
  batchSize: 100,
  abandonedWatchMs: 86_400_000,
}

const tuningSchema = Type.Object({
  acquirerTimeoutMs: wholeNumber(1),
  retryBaseMs: wholeNumber(1),
  retryCapMs: wholeNumber(1),
  batchSize: wholeNumber(1, 10_000),
  abandonedWatchMs: wholeNumber(0),
})

export interface AuthorizeRecoveryOptions extends Partial<AuthorizeRecoveryTuning> {
  database: DatabaseHandle
  acquirer: AuthorizingAcquirer
  /** After-commit hand-off of new outbox rows. Default: none (the relay's poll finds them). */
  afterCommit?: CommitHandOff
  observer?: PaymentObserver
  /** Clock in epoch milliseconds for the rows the payment carries. Default: Date.now. */
  now?: () => number
  /** A number in [0, 1) for the backoff's jitter. Default: Math.random. */
  random?: () => number
}

export interface SweepResult {
  /** Attempts finished this pass: written as a payment, abandoned, or voided. */
  resolved: number
  /** Attempts checked and still open (a first "unknown", or a check that failed and is backed off). */
  pending: number
}

type Attempt = Selectable<AuthorizationAttemptTable>
type Verdict = 'resolved' | 'pending' | 'skipped'

/** The error's catalog code in lower case, for a bounded metric label. */
function reasonOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  return error instanceof PayrailError && typeof code === 'string' ? code.toLowerCase() : 'internal'
}

/**
 * The authorize recovery sweep: finishes authorize attempts whose outcome was never recorded
 * (the process died between the attempt's commit and the outcome's, or the acquirer's answer
 * was late or lost), and voids approvals that surfaced after their attempt was abandoned.
 * `start` runs it until `stop`; `resolveStaleAttempts` runs one pass. Passes never overlap.
 */
export class AuthorizeRecovery {
  readonly #db: Kysely<Database>
  readonly #dialect: DialectName
  readonly #acquirer: AuthorizingAcquirer
  readonly #afterCommit: CommitHandOff
  readonly #observer: PaymentObserver | undefined
  readonly #now: () => number
  readonly #random: () => number
  readonly #tuning: AuthorizeRecoveryTuning
  #timer: NodeJS.Timeout | undefined
  #stopped = true
  #pass: Promise<SweepResult> | undefined

  constructor(options: AuthorizeRecoveryOptions) {
    this.#tuning = resolveOptions('authorizeRecovery', tuningSchema, defaultAuthorizeRecoveryTuning, {
      acquirerTimeoutMs: options.acquirerTimeoutMs,
      retryBaseMs: options.retryBaseMs,
      retryCapMs: options.retryCapMs,
      batchSize: options.batchSize,
      abandonedWatchMs: options.abandonedWatchMs,
    })
    this.#db = options.database.db
    this.#dialect = options.database.dialect
    this.#acquirer = options.acquirer
    this.#afterCommit = options.afterCommit ?? tableOnlyHandOff
    this.#observer = options.observer
    this.#now = options.now ?? Date.now
    this.#random = options.random ?? Math.random
  }

  /**
   * Sweeps attempts older than `olderThanMs` (by the database's clock) every `intervalMs`,
   * counted from the end of the previous pass, so that a slow pass is never joined by the next.
   */
  start(options: { intervalMs: number; olderThanMs: number; logger: Logger }): void {
    const { logger } = options
    this.#stopped = false
    const schedule = () => {
      if (this.#stopped) return
      this.#timer = setTimeout(async () => {
        try {
          const result = await this.resolveStaleAttempts(options.olderThanMs, logger)
          if (result.resolved > 0 || result.pending > 0)
            logger.info(result, 'resolved stale authorize attempts')
        } catch (error) {
          // Only the pass's own queries get here (each attempt is isolated): the database is down.
          logger.error({ err: error }, 'authorize recovery sweep failed; it runs again next interval')
        }
        schedule()
      }, options.intervalMs)
    }
    schedule()
  }

  /** Stops the sweep; resolves once a pass under way has finished. */
  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#pass?.catch(() => undefined)
  }

  /**
   * One pass. A call while a pass is running gets that pass's result instead of starting a second.
   * A PENDING attempt older than `olderThanMs` is looked up at the acquirer under its reference:
   * an approval or a decline is written as the payment the client would have got; "unknown" twice,
   * more than the acquirer timeout apart, abandons it and releases its key. A VOIDING attempt is
   * voided at the acquirer, and so is an ABANDONED one whose lookup, repeated for a while (see
   * abandonedWatchMs), finds it approved after all. A check that fails for any reason is backed off and counted, and the
   * pass goes on with the next attempt.
   */
  resolveStaleAttempts(olderThanMs: number, logger?: Logger): Promise<SweepResult> {
    if (this.#pass !== undefined) return this.#pass
    const pass = this.#runPass(olderThanMs, logger).finally(() => {
      this.#pass = undefined
    })
    this.#pass = pass
    return pass
  }

  async #runPass(olderThanMs: number, logger: Logger | undefined): Promise<SweepResult> {
    const now = await readDatabaseNow(this.#db, this.#dialect)
    const due = await this.#db
      .selectFrom('authorization_attempts')
      .selectAll()
      .where((eb) =>
        eb.or([
          eb.and([eb('state', '=', 'PENDING'), eb('created_at', '<', now - olderThanMs)]),
          eb('state', '=', 'VOIDING'),
          eb.and([eb('state', '=', 'ABANDONED'), eb('updated_at', '>', now - this.#tuning.abandonedWatchMs)]),
        ]),
      )
      .where('next_check_at', '<=', now)
      .orderBy('created_at')
      .limit(this.#tuning.batchSize)
      .execute()
    const result: SweepResult = { resolved: 0, pending: 0 }
    for (const attempt of due) {
      let verdict: Verdict
      try {
        verdict = await this.#check(attempt, now)
      } catch (error) {
        verdict = 'pending'
        await this.#backOff(attempt, error, logger)
      }
      if (verdict !== 'skipped') result[verdict]++
    }
    return result
  }

  /** Takes `attempt` for this check (another process's sweep may hold it), then checks it. */
  async #check(attempt: Attempt, now: number): Promise<Verdict> {
    // A check holds the attempt past its own longest lookup, so two api processes never check it
    // at once; its outcome then moves next_check_at on (or the state).
    const held = await this.#db
      .updateTable('authorization_attempts')
      .set({ next_check_at: now + 2 * this.#tuning.acquirerTimeoutMs })
      .where('payment_id', '=', attempt.payment_id)
      .where('state', '=', attempt.state)
      .where('next_check_at', '=', attempt.next_check_at)
      .executeTakeFirst()
    if (Number(held.numUpdatedRows) === 0) return 'skipped'
    if (attempt.state === 'VOIDING') {
      await voidLateApproval({ db: this.#db, dialect: this.#dialect }, this.#acquirer, attempt.payment_id)
      this.#observer?.recovered('voided')
      return 'resolved'
    }
    const result = await this.#acquirer.lookupAuthorization(attempt.payment_id)
    if (attempt.state === 'ABANDONED') return this.#watch(attempt, result, now)
    if (result !== undefined) return this.#finalize(attempt, result)
    if (attempt.unknown_since !== null && now - attempt.unknown_since > this.#tuning.acquirerTimeoutMs) {
      // Two lookups, more than the acquirer timeout apart, both found nothing: a request still on
      // its way when the first was asked has been given up by the client since.
      const abandoned = {
        paymentId: attempt.payment_id,
        merchantId: attempt.merchant_id,
        idempotencyKey: attempt.idempotency_key,
      }
      if (await abandonAttempt(this.#db, this.#dialect, abandoned)) this.#observer?.recovered('abandoned')
      return 'resolved'
    }
    // First "unknown" (the time is taken after the answer, so the spacing errs long): ask again
    // once the acquirer timeout has passed.
    await this.#db
      .updateTable('authorization_attempts')
      .set((eb) => ({
        unknown_since: eb.fn.coalesce('unknown_since', databaseNowMs(this.#dialect)),
        next_check_at: eb(databaseNowMs(this.#dialect), '+', this.#tuning.acquirerTimeoutMs + 1),
        failures: 0,
      }))
      .where('payment_id', '=', attempt.payment_id)
      .where('state', '=', 'PENDING')
      .execute()
    return 'pending'
  }

  /**
   * An abandoned attempt looked up again: the acquirer may have carried it out after both
   * lookups found nothing (a request stuck in its queue), and then holds the cardholder's money
   * for a payment nobody has. Such an approval is voided at once; otherwise the next look comes
   * after as long again as the attempt has been abandoned, so a day's watch costs about 17 lookups.
   */
  async #watch(attempt: Attempt, result: AuthorizationResult | undefined, now: number): Promise<Verdict> {
    if (result?.approved === true) {
      const marked = await this.#db
        .updateTable('authorization_attempts')
        .set({ state: 'VOIDING', next_check_at: 0, failures: 0, updated_at: databaseNowMs(this.#dialect) })
        .where('payment_id', '=', attempt.payment_id)
        .where('state', '=', 'ABANDONED')
        .executeTakeFirst()
      if (Number(marked.numUpdatedRows) === 0) return 'skipped'
      await voidLateApproval({ db: this.#db, dialect: this.#dialect }, this.#acquirer, attempt.payment_id)
      this.#observer?.recovered('voided')
      return 'resolved'
    }
    const abandonedFor = Math.max(0, now - attempt.updated_at)
    await this.#db
      .updateTable('authorization_attempts')
      .set({ next_check_at: now + Math.max(this.#tuning.acquirerTimeoutMs, abandonedFor) })
      .where('payment_id', '=', attempt.payment_id)
      .where('state', '=', 'ABANDONED')
      .execute()
    return 'skipped'
  }

  async #finalize(attempt: Attempt, result: AuthorizationResult): Promise<Verdict> {
    const fingerprintRow = await this.#db
      .selectFrom('idempotency_records')
      .select('request_hash')
      .where('merchant_id', '=', attempt.merchant_id)
      .where('idempotency_key', '=', attempt.idempotency_key)
      .executeTakeFirst()
    await finalizeAttempt(
      { db: this.#db, dialect: this.#dialect, afterCommit: this.#afterCommit, now: this.#now },
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
    return 'resolved'
  }

  /** A failed check: the attempt waits longer each time, the others are not held up. */
  async #backOff(attempt: Attempt, error: unknown, logger: Logger | undefined): Promise<void> {
    const reason = reasonOf(error)
    this.#observer?.recoveryFailed?.(reason)
    const failures = attempt.failures + 1
    const pause = backoff(failures, this.#tuning.retryBaseMs, this.#tuning.retryCapMs, this.#random)
    const message = error instanceof Error ? error.message : String(error)
    const outage = hasErrorCode(error, 'ACQUIRER_UNAVAILABLE') || hasErrorCode(error, 'DATABASE_UNAVAILABLE')
    logger?.[outage ? 'warn' : 'error'](
      { paymentId: attempt.payment_id, failures, reason, retryInMs: pause, err: error },
      'authorize attempt check failed; backing it off',
    )
    await this.#db
      .updateTable('authorization_attempts')
      .set((eb) => ({
        failures,
        last_error: `${reason}: ${message}`.slice(0, 500),
        next_check_at: eb(databaseNowMs(this.#dialect), '+', pause),
      }))
      .where('payment_id', '=', attempt.payment_id)
      .where('state', '=', attempt.state)
      .execute()
  }
}
