import { createHash } from 'node:crypto'
import type { Kysely, Transaction } from 'kysely'
import { databaseNowMs } from '../db/clock.ts'
import type { DialectName } from '../db/database.ts'
import { isUniqueViolation } from '../db/errors.ts'
import type { Database } from '../db/schema.ts'
import { PayrailError } from '../domain/errors.ts'
import type { PaymentView } from './views.ts'

/** What a request answered, kept so that a repeat with the same key gets the same answer. */
export interface StoredResponse {
  statusCode: number
  body: PaymentView
}

export interface Outcome extends StoredResponse {
  /** True when this is the answer to an earlier request with the same idempotency key. */
  replayed: boolean
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical)
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    )
  }
  return value
}

/**
 * The fingerprint that decides "same request": operation, target and body, with field order
 * and the idempotency key itself left out.
 */
export function requestFingerprint(operation: string, target: string, body: Record<string, unknown>): string {
  const { idempotencyKey: _key, ...rest } = body
  return createHash('sha256')
    .update(JSON.stringify(canonical({ operation, target, body: rest })))
    .digest('hex')
}

/**
 * The answer for a key that is already taken: the stored response when the request is the same
 * and finished, 409 while the first is still running, 422 when the key was used for another request.
 * Returns undefined when the record disappeared meanwhile (an abandoned attempt), so the caller may retry.
 */
export async function answerForTakenKey(
  db: Kysely<Database> | Transaction<Database>,
  merchantId: string,
  key: string,
  fingerprint: string,
): Promise<Outcome | undefined> {
  const record = await db
    .selectFrom('idempotency_records')
    .selectAll()
    .where('merchant_id', '=', merchantId)
    .where('idempotency_key', '=', key)
    .executeTakeFirst()
  if (record === undefined) return undefined
  if (record.request_hash !== fingerprint) {
    throw new PayrailError(
      'IDEMPOTENCY_KEY_REUSED',
      `idempotency key ${JSON.stringify(key)} was already used for a different request`,
      { details: record.payment_id === null ? {} : { paymentId: record.payment_id } },
    )
  }
  if (record.state !== 'COMPLETED' || record.response_status === null || record.response_body === null) {
    throw new PayrailError(
      'REQUEST_IN_PROGRESS',
      `a request with idempotency key ${JSON.stringify(key)} is still in progress`,
      {
        details: record.payment_id === null ? {} : { paymentId: record.payment_id },
      },
    )
  }
  return {
    statusCode: record.response_status,
    body: JSON.parse(record.response_body) as PaymentView,
    replayed: true,
  }
}

/**
 * Takes `key` for a request: inserts its IN_PROGRESS record in the caller's transaction, and
 * answers false when the key is already taken (the caller answers with `answerForTakenKey`).
 * A taken key is an answer, not an error, so that the transaction goes on: it may be a group
 * commit's, shared with other requests (db/group-commit.ts). PostgreSQL aborts a transaction on
 * any failed statement, so there (and on SQLite) the insert skips a conflict; MariaDB undoes only
 * the failed statement, and its duplicate-key error is caught, since its ON DUPLICATE KEY cannot
 * tell a skipped row from an inserted one under mysql2's FOUND_ROWS flag.
 */
export async function claimKey(
  trx: Transaction<Database>,
  dialect: DialectName,
  claim: KeyClaim,
  now: number,
): Promise<boolean> {
  const insert = trx.insertInto('idempotency_records').values(keyRecord(claim, undefined, now))
  if (dialect !== 'mysql') {
    const result = await insert.onConflict((conflict) => conflict.doNothing()).executeTakeFirst()
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0
  }
  try {
    await insert.execute()
    return true
  } catch (error) {
    if (isUniqueViolation(error)) return false
    throw error
  }
}

export type KeyClaim = { merchantId: string; key: string; fingerprint: string; paymentId: string }

/** The record of a key just taken: IN_PROGRESS, or COMPLETED with its response. */
export function keyRecord(claim: KeyClaim, response: StoredResponse | undefined, now: number) {
  return {
    merchant_id: claim.merchantId,
    idempotency_key: claim.key,
    request_hash: claim.fingerprint,
    state: response === undefined ? 'IN_PROGRESS' : 'COMPLETED',
    response_status: response?.statusCode ?? null,
    response_body: response === undefined ? null : JSON.stringify(response.body),
    payment_id: claim.paymentId,
    created_at: now,
    updated_at: now,
  }
}

/**
 * Takes `key` and stores its response at once, for a request whose whole change is the caller's
 * one transaction (capture, refund): the record is COMPLETED when it becomes visible, so there is
 * no IN_PROGRESS row to update (1 statement). A unique violation means the key is taken; the
 * caller rolls back and answers with `answerForTakenKey`.
 */
export async function recordKey(
  trx: Transaction<Database>,
  claim: KeyClaim,
  response: StoredResponse,
  now: number,
): Promise<void> {
  await trx
    .insertInto('idempotency_records')
    .values(keyRecord(claim, response, now))
    .execute()
}

/** Stores the response of the request that holds `key`, in the caller's transaction. */
export async function completeKey(
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

/** The attempt whose key is released, by the key record's primary key. */
export interface AbandonedAttempt {
  paymentId: string
  merchantId: string
  idempotencyKey: string
}

/**
 * Abandons a still pending authorize attempt and releases its idempotency key, so that the
 * client may retry with the same key. Only for an attempt the acquirer is known not to hold.
 * Does nothing (and answers false) when the attempt was already finished. The key record is
 * found by its primary key: found by `payment_id`, which has no index, MariaDB scanned the
 * state index and locked every IN_PROGRESS record (349 in one deadlock seen under 500
 * authorizations/s), so that each abandon stalled or deadlocked the authorizes in flight.
 */
export async function abandonAttempt(
  db: Kysely<Database>,
  dialect: DialectName,
  attempt: AbandonedAttempt,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const abandoned = await trx
      .updateTable('authorization_attempts')
      .set({ state: 'ABANDONED', updated_at: databaseNowMs(dialect) })
      .where('payment_id', '=', attempt.paymentId)
      .where('state', '=', 'PENDING')
      .executeTakeFirst()
    if (Number(abandoned.numUpdatedRows) === 0) return false
    await trx
      .deleteFrom('idempotency_records')
      .where('merchant_id', '=', attempt.merchantId)
      .where('idempotency_key', '=', attempt.idempotencyKey)
      .where('payment_id', '=', attempt.paymentId)
      .where('state', '=', 'IN_PROGRESS')
      .execute()
    return true
  })
}
