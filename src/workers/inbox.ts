import type { Kysely, Transaction } from 'kysely'
import { isUniqueViolation } from '../db/errors.ts'
import type { Database } from '../db/schema.ts'
import { PayrailError } from '../domain/errors.ts'

export type InboxResult<T> = { duplicate: true } | { duplicate: false; result: T }

/**
 * Applies `effect` once per (consumer, eventId): the inbox row and the effect commit in one
 * transaction, so a redelivered event finds the row and is skipped. The row is inserted first:
 * a second delivery running at the same moment waits on its key and then fails on it, and its
 * transaction, effect included, rolls back.
 */
export async function applyOnce<T>(
  db: Kysely<Database>,
  consumer: string,
  eventId: string,
  now: number,
  effect: (trx: Transaction<Database>) => Promise<T>,
): Promise<InboxResult<T>> {
  try {
    return await db.transaction().execute(async (trx) => {
      if (await alreadyApplied(trx, consumer, eventId)) return { duplicate: true as const }
      await trx
        .insertInto('processed_events')
        .values({ consumer, event_id: eventId, processed_at: now })
        .execute()
      return { duplicate: false as const, result: await effect(trx) }
    })
  } catch (error) {
    if (isUniqueViolation(error)) return { duplicate: true }
    throw error
  }
}

/** Whether this consumer already applied the event: lets a handler skip its external call too. */
export async function alreadyApplied(
  db: Kysely<Database>,
  consumer: string,
  eventId: string,
): Promise<boolean> {
  const row = await db
    .selectFrom('processed_events')
    .select('event_id')
    .where('consumer', '=', consumer)
    .where('event_id', '=', eventId)
    .executeTakeFirst()
  return row !== undefined
}

/**
 * The payment an event acts on, checked to be in the state the event expects before the handler
 * calls the acquirer. `'duplicate'` when it is not because this consumer applied the event
 * meanwhile (a twin delivery on another worker, mid-rebalance); throws EVENT_NOT_APPLICABLE
 * (dead-lettered at once) when the event can never apply.
 */
export async function paymentInState<P extends { status: string }>(
  db: Kysely<Database>,
  consumer: string,
  event: { eventId: string; paymentId: string },
  expected: string,
  payment: P | undefined,
): Promise<P | 'duplicate'> {
  if (payment !== undefined && payment.status === expected) return payment
  if (await alreadyApplied(db, consumer, event.eventId)) return 'duplicate'
  throw new PayrailError(
    'EVENT_NOT_APPLICABLE',
    `payment ${event.paymentId} is ${payment?.status ?? 'unknown'}, not ${expected}`,
  )
}
