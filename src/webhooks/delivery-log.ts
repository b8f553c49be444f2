import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'
import { PayrailError } from '../domain/errors.ts'
import type { DeliveryRow } from './deliveries.ts'
import { findEndpoint } from './endpoints.ts'

export interface AttemptView {
  attempt: number
  at: string
  status: number | null
  error: string | null
  latencyMs: number
}

export interface DeliveryView {
  id: string
  endpointId: string
  eventId: string
  eventType: string
  paymentId: string
  sequence: number
  state: string
  attempts: number
  nextAttemptAt: string | null
  lastStatus: number | null
  lastError: string | null
  lastLatencyMs: number | null
  createdAt: string
  deliveredAt: string | null
}

const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString())

export function deliveryView(row: DeliveryRow): DeliveryView {
  return {
    id: row.id,
    endpointId: row.endpoint_id,
    eventId: row.event_id,
    eventType: row.event_type,
    paymentId: row.payment_id,
    sequence: Number(row.sequence),
    state: row.state,
    attempts: Number(row.attempts),
    nextAttemptAt: row.state === 'PENDING' ? iso(row.next_attempt_at) : null,
    lastStatus: row.last_status === null ? null : Number(row.last_status),
    lastError: row.last_error,
    lastLatencyMs: row.last_latency_ms === null ? null : Number(row.last_latency_ms),
    createdAt: iso(row.created_at) as string,
    deliveredAt: iso(row.delivered_at),
  }
}

export interface DeliveryFilter {
  endpointId?: string | undefined
  eventId?: string | undefined
  state?: string | undefined
  limit: number
}

/** A merchant's deliveries, newest first, optionally of one endpoint, event or state. */
export async function listDeliveries(
  db: Kysely<Database>,
  merchantId: string,
  filter: DeliveryFilter,
): Promise<DeliveryView[]> {
  let query = db.selectFrom('webhook_deliveries').selectAll().where('merchant_id', '=', merchantId)
  if (filter.endpointId !== undefined) query = query.where('endpoint_id', '=', filter.endpointId)
  if (filter.eventId !== undefined) query = query.where('event_id', '=', filter.eventId)
  if (filter.state !== undefined) query = query.where('state', '=', filter.state)
  const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute()
  return rows.map(deliveryView)
}

/** One delivery of this merchant with every attempt; 404 for another merchant's. */
export async function deliveryWithAttempts(
  db: Kysely<Database>,
  merchantId: string,
  id: string,
): Promise<DeliveryView & { attemptLog: AttemptView[] }> {
  const row = await db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('id', '=', id)
    .where('merchant_id', '=', merchantId)
    .executeTakeFirst()
  if (row === undefined) throw new PayrailError('NOT_FOUND', `no webhook delivery ${id}`)
  const attempts = await db
    .selectFrom('webhook_attempts')
    .selectAll()
    .where('delivery_id', '=', id)
    .orderBy('attempt')
    .execute()
  return {
    ...deliveryView(row),
    attemptLog: attempts.map((a) => ({
      attempt: Number(a.attempt),
      at: iso(a.at) as string,
      status: a.status === null ? null : Number(a.status),
      error: a.error,
      latencyMs: Number(a.latency_ms),
    })),
  }
}

const again = (now: number) => ({ state: 'PENDING', next_attempt_at: now, retry_from: now, updated_at: now })

/** Sends one delivery again now (whatever its state), with a fresh retry schedule. */
export async function redeliver(db: Kysely<Database>, merchantId: string, id: string, now: number) {
  const result = await db
    .updateTable('webhook_deliveries')
    .set(again(now))
    .where('id', '=', id)
    .where('merchant_id', '=', merchantId)
    .executeTakeFirst()
  if (Number(result.numUpdatedRows) !== 1) throw new PayrailError('NOT_FOUND', `no webhook delivery ${id}`)
}

/** Every FAILED delivery of one endpoint back in line; returns how many. */
export async function redeliverFailed(
  db: Kysely<Database>,
  merchantId: string,
  endpointId: string,
  now: number,
): Promise<number> {
  await findEndpoint(db, merchantId, endpointId)
  const result = await db
    .updateTable('webhook_deliveries')
    .set(again(now))
    .where('endpoint_id', '=', endpointId)
    .where('state', '=', 'FAILED')
    .executeTakeFirst()
  return Number(result.numUpdatedRows)
}
