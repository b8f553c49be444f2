import type { Kysely, Selectable, Transaction } from 'kysely'
import type { Database, OutboxEventTable } from '../db/schema.ts'
import { OUTBOX_BUCKETS } from './buckets.ts'
import type { OutboxRecord } from './writer.ts'

/** An outbox row as the relay needs it: the written record and the attempts spent on it. */
export interface PendingEvent extends OutboxRecord {
  attempts: number
  /** Whether the row waits in outbox_retries (the broker refused it before), not outbox_pending. */
  refused: boolean
}

type EventRow = Pick<
  Selectable<OutboxEventTable>,
  'id' | 'event_id' | 'payment_id' | 'sequence' | 'topic' | 'payload' | 'headers' | 'created_at' | 'bucket'
>

/** An `outbox_events` row as the relay handles it. */
export function toPendingEvent(row: EventRow, attempts = 0, refused = false): PendingEvent {
  return {
    id: Number(row.id),
    eventId: row.event_id,
    paymentId: row.payment_id,
    sequence: row.sequence,
    topic: row.topic,
    payload: row.payload,
    headers: JSON.parse(row.headers) as Record<string, string>,
    attempts,
    refused,
    createdAt: Number(row.created_at),
    bucket: row.bucket,
  }
}

const CHUNK = 1000

/**
 * The first and last of `ids` when they are every integer in between (in any order, each once):
 * then `id between first and last` selects exactly the rows `id in (ids)` does, and a relay
 * draining a backlog alone meets such runs in nearly every batch. The range costs the database
 * far less than the list: measured per event, MariaDB 3.1–4.4 → 1.0–1.4 µs to read and
 * 3.0–3.6 → 1.5–2.2 µs to delete, PostgreSQL 2.5–2.9 → 1.5 and 1.4–1.8 → 0.5.
 */
export function idRun(ids: readonly number[]): { first: number; last: number } | undefined {
  if (ids.length === 0) return undefined
  const sorted = Float64Array.from(ids).sort()
  const first = sorted[0] as number
  const last = sorted[sorted.length - 1] as number
  return last - first + 1 === sorted.length && sorted.every((id, i) => id === first + i)
    ? { first, last }
    : undefined
}

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK))
  return out
}

/** Rows the broker refused, as the relay sees them at the start of a pass. */
export interface RetryRows {
  /** Due again: they go out first, ahead of their payments' later events. */
  due: PendingEvent[]
  /** Payments whose refused row is not due yet: none of their events may go out. */
  held: Set<string>
}

const EVENT_COLUMNS = [
  'e.id',
  'e.event_id',
  'e.payment_id',
  'e.sequence',
  'e.topic',
  'e.payload',
  'e.headers',
  'e.created_at',
  'e.bucket',
] as const

/**
 * Takes a row out of both queues the relay sends from, inside the transaction that puts it in
 * its next one; says whether it was in either. A row in neither is published (or dead) already,
 * by another relay that took the bucket over, and must not be queued again: it would go out a
 * second time, after its payment's later events.
 */
async function leaveQueues(trx: Transaction<Database>, id: number): Promise<boolean> {
  const pending = await trx.deleteFrom('outbox_pending').where('id', '=', id).executeTakeFirst()
  const retry = await trx.deleteFrom('outbox_retries').where('id', '=', id).executeTakeFirst()
  return Number(pending.numDeletedRows) + Number(retry.numDeletedRows) > 0
}

/**
 * The relay's queries. An outbox row's state is the table holding its id (see migration 003):
 * every change the relay makes is to a narrow table, and the event row is only read.
 */
export class OutboxStore {
  readonly #db: Kysely<Database>

  constructor(db: Kysely<Database>) {
    this.#db = db
  }

  /**
   * Up to `limit` pending ids of these buckets after id `after`, in id order: a range of
   * outbox_pending's key, read without the events so that the next range can be asked for
   * while these events are still being read (see fetchEvents).
   */
  async fetchPendingIds(buckets: number[], limit: number, after = 0): Promise<number[]> {
    if (buckets.length === 0 || limit <= 0) return []
    let query = this.#db.selectFrom('outbox_pending').select('id').where('id', '>', after)
    // Holding every bucket (one relay), the condition would only cost a check per row.
    if (buckets.length < OUTBOX_BUCKETS) query = query.where('bucket', 'in', buckets)
    const rows = await query.orderBy('id').limit(limit).execute()
    return rows.map((row) => Number(row.id))
  }

  /** The events with these ids, in id order, as the relay sends them; unknown ids are left out. */
  async fetchEvents(ids: number[]): Promise<PendingEvent[]> {
    const events: PendingEvent[] = []
    for (const part of chunks(ids)) {
      const run = idRun(part)
      let query = this.#db.selectFrom('outbox_events as e').select(EVENT_COLUMNS)
      query = run
        ? query.where('e.id', '>=', run.first).where('e.id', '<=', run.last)
        : query.where('e.id', 'in', part)
      const rows = await query.orderBy('e.id').execute()
      for (const row of rows) events.push(toPendingEvent(row))
    }
    return events
  }

  /** The refused rows of these buckets: few, since only records the broker refused are there. */
  async fetchRetries(buckets: number[], now: number): Promise<RetryRows> {
    const result: RetryRows = { due: [], held: new Set() }
    if (buckets.length === 0) return result
    const rows = await this.#db
      .selectFrom('outbox_retries as r')
      .innerJoin('outbox_events as e', 'e.id', 'r.id')
      .select([...EVENT_COLUMNS, 'r.attempts', 'r.available_at'])
      .where('r.bucket', 'in', buckets)
      .orderBy('r.id')
      .execute()
    for (const row of rows) {
      if (Number(row.available_at) > now) result.held.add(row.payment_id)
      else result.due.push(toPendingEvent(row, row.attempts, true))
    }
    return result
  }

  /**
   * The lowest unpublished sequence of each payment: an event may go out only when every earlier
   * unpublished event of its payment goes out before it. The (payment_id, sequence) key finds a
   * payment's few events; each is looked up by id in the two queues.
   */
  async firstPendingSequences(paymentIds: string[]): Promise<Map<string, number>> {
    const first = new Map<string, number>()
    for (const part of chunks([...new Set(paymentIds)])) {
      const rows = await this.#db
        .selectFrom('outbox_events as e')
        .select(['e.payment_id', (eb) => eb.fn.min('e.sequence').as('sequence')])
        .where('e.payment_id', 'in', part)
        .where((eb) =>
          eb.or([
            eb.exists(eb.selectFrom('outbox_pending as p').select('p.id').whereRef('p.id', '=', 'e.id')),
            eb.exists(eb.selectFrom('outbox_retries as r').select('r.id').whereRef('r.id', '=', 'e.id')),
          ]),
        )
        .groupBy('e.payment_id')
        .execute()
      for (const row of rows) first.set(row.payment_id, Number(row.sequence))
    }
    return first
  }

  /** Published: the rows leave their queue, and that is all; the event rows are not touched. */
  async markPublished(events: Pick<PendingEvent, 'id' | 'refused'>[]): Promise<void> {
    const pending = events.filter((event) => !event.refused).map((event) => event.id)
    const refused = events.filter((event) => event.refused).map((event) => event.id)
    await this.#deleteIds('outbox_pending', pending)
    await this.#deleteIds('outbox_retries', refused)
  }

  async #deleteIds(queue: 'outbox_pending' | 'outbox_retries', ids: number[]): Promise<void> {
    for (const part of chunks(ids)) {
      const run = idRun(part)
      let query = this.#db.deleteFrom(queue)
      query = run
        ? query.where('id', '>=', run.first).where('id', '<=', run.last)
        : query.where('id', 'in', part)
      await query.execute()
    }
  }

  /** Refused by the broker: the row waits in outbox_retries until `availableAt` (unless it left the queues meanwhile). */
  async markRetry(
    event: Pick<PendingEvent, 'id' | 'bucket'>,
    attempts: number,
    availableAt: number,
    error: string,
  ): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      if (!(await leaveQueues(trx, event.id))) return
      await trx
        .insertInto('outbox_retries')
        .values({
          id: event.id,
          bucket: event.bucket,
          attempts,
          available_at: availableAt,
          last_error: error.slice(0, 1000),
        })
        .execute()
    })
  }

  /** In payment.dlq: the row leaves the queues for outbox_dead, where `payrail dlq` finds it (unless it left them meanwhile). */
  async markDead(
    event: Pick<PendingEvent, 'id'>,
    attempts: number,
    error: string,
    now: number,
  ): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      if (!(await leaveQueues(trx, event.id))) return
      await trx
        .insertInto('outbox_dead')
        .values({ id: event.id, attempts, last_error: error.slice(0, 1000), dead_at: now })
        .execute()
    })
  }

  /**
   * One step of cleanup's walk over the outbox in id order: reads up to `limit` rows after id
   * `after` and deletes those created before `cutoff` that are published (in none of the queues).
   * Returns how many it deleted, how many it read, whether it reached a row created after the
   * cutoff (ids follow creation time, so the walk can stop there), and where the walk stands.
   */
  async deletePublishedBefore(
    cutoff: number,
    limit = 1000,
    after = 0,
  ): Promise<{ deleted: number; scanned: number; reachedCutoff: boolean; last: number }> {
    const rows = await this.#db
      .selectFrom('outbox_events')
      .select(['id', 'created_at'])
      .where('id', '>', after)
      .orderBy('id')
      .limit(limit)
      .execute()
    const old = rows.filter((row) => Number(row.created_at) < cutoff).map((row) => Number(row.id))
    let deleted = 0
    if (old.length > 0) {
      // The queue check is part of the delete, so that a row replayed from outbox_dead between
      // a read and the delete is never deleted: one statement sees one snapshot.
      const result = await this.#db
        .deleteFrom('outbox_events')
        .where('id', 'in', old)
        .where((eb) =>
          eb.and(
            (['outbox_pending', 'outbox_retries', 'outbox_dead'] as const).map((queue) =>
              eb.not(
                eb.exists(
                  eb.selectFrom(queue).select(`${queue}.id`).whereRef(`${queue}.id`, '=', 'outbox_events.id'),
                ),
              ),
            ),
          ),
        )
        .executeTakeFirst()
      deleted = Number(result.numDeletedRows)
    }
    return {
      deleted,
      scanned: rows.length,
      reachedCutoff: old.length < rows.length,
      last: Number(rows.at(-1)?.id ?? after),
    }
  }
}
