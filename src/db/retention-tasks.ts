import type { Kysely } from 'kysely'
import type { RetentionTask } from './retention.ts'
import type { Database } from './schema.ts'

/**
 * The api's and the workers' expiring tables. Each batch selects the oldest expired keys through
 * an index (migration 006-retention-indexes) and deletes exactly those, so that a batch stays small on a table of
 * any size and never races a row being written: only rows in a final state are touched.
 */

/** Completed idempotency records (IDEMPOTENCY_RETENTION, at least 24 h: a client's retry window). */
export function idempotencyRetention(db: Kysely<Database>, retentionMs: number): RetentionTask {
  return {
    name: 'idempotency_records',
    retentionMs,
    prune: async (cutoff, batch) => {
      const keys = await db
        .selectFrom('idempotency_records')
        .select(['merchant_id', 'idempotency_key'])
        .where('state', '=', 'COMPLETED')
        .where('updated_at', '<', cutoff)
        .orderBy('updated_at')
        .limit(batch)
        .execute()
      if (keys.length === 0) return { deleted: 0, done: true, cursor: 0 }
      const result = await db
        .deleteFrom('idempotency_records')
        .where('state', '=', 'COMPLETED')
        .where((eb) =>
          eb.or(
            keys.map((key) =>
              eb.and([
                eb('merchant_id', '=', key.merchant_id),
                eb('idempotency_key', '=', key.idempotency_key),
              ]),
            ),
          ),
        )
        .executeTakeFirst()
      return { deleted: Number(result.numDeletedRows), done: keys.length < batch, cursor: 0 }
    },
  }
}

/**
 * A consumer's dedupe marks (PROCESSED_EVENTS_RETENTION): kept longer than the topics they dedupe
 * keep their records, so a record that can still be delivered again is still recognised.
 */
export function processedEventsRetention(db: Kysely<Database>, retentionMs: number): RetentionTask {
  return {
    name: 'processed_events',
    retentionMs,
    prune: async (cutoff, batch) => {
      const keys = await db
        .selectFrom('processed_events')
        .select(['consumer', 'event_id'])
        .where('processed_at', '<', cutoff)
        .orderBy('processed_at')
        .limit(batch)
        .execute()
      if (keys.length === 0) return { deleted: 0, done: true, cursor: 0 }
      const result = await db
        .deleteFrom('processed_events')
        .where((eb) =>
          eb.or(
            keys.map((key) => eb.and([eb('consumer', '=', key.consumer), eb('event_id', '=', key.event_id)])),
          ),
        )
        .executeTakeFirst()
      return { deleted: Number(result.numDeletedRows), done: keys.length < batch, cursor: 0 }
    },
  }
}

/** The states an authorization attempt ends in; PENDING and VOIDING ones are the recovery sweep's to resolve. */
export const FINAL_ATTEMPT_STATES = ['DONE', 'ABANDONED', 'VOIDED'] as const

/** Resolved authorization attempts (AUTH_ATTEMPTS_RETENTION); the payment and its timeline stay. */
export function authorizationAttemptsRetention(db: Kysely<Database>, retentionMs: number): RetentionTask {
  return {
    name: 'authorization_attempts',
    retentionMs,
    prune: async (cutoff, batch) => {
      const ids = await db
        .selectFrom('authorization_attempts')
        .select('payment_id')
        .where('state', 'in', FINAL_ATTEMPT_STATES)
        .where('created_at', '<', cutoff)
        .orderBy('created_at')
        .limit(batch)
        .execute()
      if (ids.length === 0) return { deleted: 0, done: true, cursor: 0 }
      const result = await db
        .deleteFrom('authorization_attempts')
        .where('state', 'in', FINAL_ATTEMPT_STATES)
        .where(
          'payment_id',
          'in',
          ids.map((row) => row.payment_id),
        )
        .executeTakeFirst()
      return { deleted: Number(result.numDeletedRows), done: ids.length < batch, cursor: 0 }
    },
  }
}
