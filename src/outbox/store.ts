import type { Kysely, Selectable } from 'kysely'
import type { Database, OutboxEventTable } from '../db/schema.ts'
import { OUTBOX_BUCKETS } from './buckets.ts'
import type { OutboxRecord } from './writer.ts'

/** An outbox row as the relay needs it: the written record and the attempts spent on it. */
export interface PendingEvent extends OutboxRecord {
  attempts: number
}

/** An `outbox_events` row as the relay handles it. */
export function toPendingEvent(
  row: Pick<
    Selectable<OutboxEventTable>,
    | 'id'
    | 'event_id'
    | 'payment_id'
    | 'sequence'
    | 'topic'
    | 'payload'
    | 'headers'
    | 'attempts'
    | 'created_at'
    | 'bucket'
  >,
): PendingEvent {
  return {
    id: Number(row.id),
    eventId: row.event_id,
    paymentId: row.payment_id,
    sequence: row.sequence,
    topic: row.topic,
    payload: row.payload,
    headers: JSON.parse(row.headers) as Record<string, string>,
    attempts: row.attempts,
    createdAt: Number(row.created_at),
    bucket: row.bucket,
  }
}

const CHUNK = 1000

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
  'id',
  'event_id',
  'payment_id',
  'sequence',
  'topic',
  'payload',
  'headers',
  'attempts',
  'created_at',
  'bucket',
] as const

/** States of a row the relay still has to publish. */
const UNPUBLISHED = ['PENDING', 'RETRY']

/** The relay's queries over `outbox_events`; each is a range of the (state, id, bucket) index. */
export class OutboxStore {
  readonly #db: Kysely<Database>

  constructor(db: Kysely<Database>) {
    this.#db = db
  }

  /** PENDING rows of these buckets after id `after`, in id order. */
  async fetchPending(buckets: number[], limit: number, after = 0): Promise<PendingEvent[]> {
    if (buckets.length === 0 || limit <= 0) return []
    let select = this.#db
      .selectFrom('outbox_events')
      .select(EVENT_COLUMNS)
      .where('state', '=', 'PENDING')
      .where('id', '>', after)
    // Holding every bucket (one relay), the condition would only cost a check per index entry.
    if (buckets.length < OUTBOX_BUCKETS) select = select.where('bucket', 'in', buckets)
    const rows = await select.orderBy('id').limit(limit).execute()
    return rows.map(toPendingEvent)
  }

  /** The RETRY rows of these buckets: few, since only records the broker refused are in that state. */
  async fetchRetries(buckets: number[], now: number): Promise<RetryRows> {
    const result: RetryRows = { due: [], held: new Set() }
    if (buckets.length === 0) return result
    const rows = await this.#db
      .selectFrom('outbox_events')
      .select([...EVENT_COLUMNS, 'available_at'])
      .where('state', '=', 'RETRY')
      .where('bucket', 'in', buckets)
      .orderBy('id')
      .execute()
    for (const row of rows) {
      if (Number(row.available_at) > now) result.held.add(row.payment_id)
      else result.due.push(toPendingEvent(row))
    }
    return result
  }

  /**
   * The lowest unpublished sequence of each payment, from the (payment_id, sequence) key: an
   * event may go out only when every earlier unpublished event of its payment goes out before it.
   */
  async firstPendingSequences(paymentIds: string[]): Promise<Map<string, number>> {
    const first = new Map<string, number>()
    for (const part of chunks([...new Set(paymentIds)])) {
      const rows = await this.#db
        .selectFrom('outbox_events')
        .select(['payment_id', (eb) => eb.fn.min('sequence').as('sequence')])
        .where('payment_id', 'in', part)
        .where('state', 'in', UNPUBLISHED)
        .groupBy('payment_id')
        .execute()
      for (const row of rows) first.set(row.payment_id, Number(row.sequence))
    }
    return first
  }

  async markPublished(ids: number[], now: number): Promise<void> {
    for (const part of chunks(ids)) {
      await this.#db
        .updateTable('outbox_events')
        .set({ state: 'PUBLISHED', published_at: now })
        .where('id', 'in', part)
        .where('state', 'in', UNPUBLISHED)
        .execute()
    }
  }

  async markRetry(id: number, attempts: number, availableAt: number, error: string): Promise<void> {
    await this.#db
      .updateTable('outbox_events')
      .set({ state: 'RETRY', attempts, available_at: availableAt, last_error: error.slice(0, 1000) })
      .where('id', '=', id)
      .execute()
  }

  async markDead(id: number, attempts: number, error: string): Promise<void> {
    await this.#db
      .updateTable('outbox_events')
      .set({ state: 'DEAD', attempts, last_error: error.slice(0, 1000) })
      .where('id', '=', id)
      .execute()
  }

  /**
   * One step of cleanup's walk over PUBLISHED rows in id order: reads up to `limit` of them after
   * id `after` and deletes, by primary key, those published before `cutoff`. Returns how many it
   * deleted and where the walk stands. Ids follow publishing time closely, so the walk can stop at
   * a step that deletes nothing; a row published late (a retry) is stepped over, not waited for.
   */
  async deletePublishedBefore(
    cutoff: number,
    limit = 1000,
    after = 0,
  ): Promise<{ deleted: number; scanned: number; last: number }> {
    const rows = await this.#db
      .selectFrom('outbox_events')
      .select(['id', 'published_at'])
      .where('state', '=', 'PUBLISHED')
      .where('id', '>', after)
      .orderBy('id')
      .limit(limit)
      .execute()
    const old = rows.filter((row) => Number(row.published_at) < cutoff).map((row) => Number(row.id))
    if (old.length > 0) await this.#db.deleteFrom('outbox_events').where('id', 'in', old).execute()
    return { deleted: old.length, scanned: rows.length, last: Number(rows.at(-1)?.id ?? after) }
  }
}
