import type { Kysely } from 'kysely'
import type { AuthorizationResult } from '../acquirer/protocol.ts'
import type { DatabaseHandle } from '../db/database.ts'
import type { Database } from '../db/schema.ts'
import { hasErrorCode } from '../domain/errors.ts'
import type { Logger } from '../observability/logger.ts'
import { type CommitHandOff, tableOnlyHandOff } from '../outbox/hand-off.ts'
import { finalizeAttempt } from './authorize-outcome.ts'
import { abandonAttempt } from './idempotency.ts'
import type { AuthorizingAcquirer, PaymentObserver } from './payment-service.ts'

export interface AuthorizeRecoveryOptions {
  database: DatabaseHandle
  acquirer: AuthorizingAcquirer
  /** After-commit hand-off of new outbox rows. Default: none (the relay's poll finds them). */
  afterCommit?: CommitHandOff
  observer?: PaymentObserver
  /** Clock in epoch milliseconds. Default: Date.now. */
  now?: () => number
}

/**
 * The authorize recovery sweep: finishes authorize attempts whose process died between the
 * attempt's commit and the outcome's (or whose acquirer call timed out). `start` runs it on an
 * interval; `resolveStaleAttempts` runs one pass.
 */
export class AuthorizeRecovery {
  readonly #db: Kysely<Database>
  readonly #acquirer: AuthorizingAcquirer
  readonly #afterCommit: CommitHandOff
  readonly #observer: PaymentObserver | undefined
  readonly #now: () => number
  #timer: NodeJS.Timeout | undefined
  #sweeping: Promise<unknown> = Promise.resolve()

  constructor(options: AuthorizeRecoveryOptions) {
    this.#db = options.database.db
    this.#acquirer = options.acquirer
    this.#afterCommit = options.afterCommit ?? tableOnlyHandOff
    this.#observer = options.observer
    this.#now = options.now ?? Date.now
  }

  /** Sweeps attempts older than `olderThanMs` every `intervalMs`, logging what it did and any failure. */
  start(options: { intervalMs: number; olderThanMs: number; logger: Logger }): void {
    const { logger } = options
    this.#timer = setInterval(() => {
      this.#sweeping = this.resolveStaleAttempts(options.olderThanMs).then(
        (result) => {
          if (result.resolved > 0 || result.pending > 0)
            logger.info(result, 'resolved stale authorize attempts')
        },
        (error: unknown) =>
          logger.error({ err: error }, 'authorize recovery sweep failed; it runs again next interval'),
      )
    }, options.intervalMs)
  }

  /** Stops the interval; resolves once a sweep under way has finished. */
  stop(): Promise<unknown> {
    clearInterval(this.#timer)
    this.#timer = undefined
    return this.#sweeping
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
        await abandonAttempt(this.#db, attempt.payment_id, this.#now())
        this.#observer?.recovered('abandoned')
      } else {
        const fingerprintRow = await this.#db
          .selectFrom('idempotency_records')
          .select('request_hash')
          .where('merchant_id', '=', attempt.merchant_id)
          .where('idempotency_key', '=', attempt.idempotency_key)
          .executeTakeFirst()
        await finalizeAttempt(
          { db: this.#db, afterCommit: this.#afterCommit, now: this.#now },
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
}
