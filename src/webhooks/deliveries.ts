import { type Kysely, type Selectable, sql, type Transaction } from 'kysely'
import type { Database, WebhookDeliveryTable } from '../db/schema.ts'
import type { EventEnvelope } from '../domain/events.ts'
import { newId } from '../domain/ids.ts'
import { STATUS_AFTER, WEBHOOK_EVENT_OF } from './event-types.ts'

export type DeliveryRow = Selectable<WebhookDeliveryTable>

/**
 * The JSON body merchants receive, fixed when the delivery is recorded so that every attempt
 * sends the same bytes: the event id, type, when it happened, the payment's sequence and a
 * snapshot of the payment as the event left it.
 */
export function deliveryBody(event: EventEnvelope<object>): string {
  return JSON.stringify({
    id: event.eventId,
    type: WEBHOOK_EVENT_OF[event.type],
    created: event.occurredAt,
    sequence: event.sequence,
    data: {
      payment: {
        id: event.paymentId,
        merchantId: event.merchantId,
        status: STATUS_AFTER[event.type],
        ...event.data,
      },
    },
  })
}

/**
 * One PENDING delivery per enabled endpoint of the event's merchant that wants its type, in the
 * caller's transaction (the notifier's dedupe transaction). Returns how many were recorded.
 */
export async function recordDeliveries(
  trx: Transaction<Database>,
  event: EventEnvelope<object>,
  now: number,
): Promise<number> {
  const type = WEBHOOK_EVENT_OF[event.type]
  const endpoints = await trx
    .selectFrom('webhook_endpoints')
    .select(['id', 'event_types'])
    .where('merchant_id', '=', event.merchantId)
    .where('enabled', '=', 1)
    .execute()
  const wanted = endpoints.filter((endpoint) => endpoint.event_types.split(',').includes(type))
  if (wanted.length === 0) return 0
  const body = deliveryBody(event)
  await trx
    .insertInto('webhook_deliveries')
    .values(
      wanted.map((endpoint) => ({
        id: newId(),
        endpoint_id: endpoint.id,
        merchant_id: event.merchantId,
        event_id: event.eventId,
        event_type: type,
        payment_id: event.paymentId,
        sequence: event.sequence,
        body,
        state: 'PENDING',
        attempts: 0,
        next_attempt_at: now,
        lease_until: 0,
        retry_from: now,
        last_status: null,
        last_error: null,
        last_latency_ms: null,
        created_at: now,
        updated_at: now,
        delivered_at: null,
      })),
    )
    .execute()
  return wanted.length
}

export interface ClaimOptions {
  now: number
  limit: number
  /** How long a claimed delivery is held: longer than an attempt can take. */
  leaseMs: number
  /** The notifier's dedupe name in processed_events. */
  consumer: string
  /** Events of the timeline older than this are taken as seen (their dedupe rows may be pruned). */
  seenHorizon: number
  /** Deliveries already being sent by this process, not to be claimed again. */
  exclude: ReadonlySet<string>
}

/**
 * Claims up to `limit` due deliveries of enabled endpoints, oldest due first, and holds each for
 * `leaseMs` (a lease per row, so several notifiers never send one delivery at once; a notifier
 * that dies lets its leases run out and the delivery in flight is sent again).
 *
 * In `sequence` order per payment and endpoint, without holding up other payments: a delivery
 * waits while an earlier one of its payment to its endpoint is PENDING (retrying), and while an
 * earlier event of its payment's timeline (payment_events) has not been through the notifier
 * yet: the payment's events arrive on several topics, and one topic may run behind another.
 */
export async function claimDue(db: Kysely<Database>, options: ClaimOptions): Promise<DeliveryRow[]> {
  const { now } = options
  const candidates = await db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_endpoints as e', 'e.id', 'd.endpoint_id')
    .selectAll('d')
    .where('d.state', '=', 'PENDING')
    .where('d.next_attempt_at', '<=', now)
    .where('d.lease_until', '<', now)
    .where('e.enabled', '=', 1)
    .where(({ not, or, exists, selectFrom }) =>
      not(
        or([
          // an earlier delivery of the payment to this endpoint is still retrying
          exists(
            selectFrom('webhook_deliveries as p')
              .select(sql.lit(1).as('one'))
              .whereRef('p.endpoint_id', '=', 'd.endpoint_id')
              .whereRef('p.payment_id', '=', 'd.payment_id')
              .whereRef('p.sequence', '<', 'd.sequence')
              .where('p.state', '=', 'PENDING'),
          ),
          // an earlier event of the payment has not been through the notifier yet
          exists(
            selectFrom('payment_events as t')
              .select(sql.lit(1).as('one'))
              .whereRef('t.payment_id', '=', 'd.payment_id')
              .whereRef('t.sequence', '<', 'd.sequence')
              .where('t.occurred_at', '>', options.seenHorizon)
              .where(({ not: none, exists: some, selectFrom: from }) =>
                none(
                  some(
                    from('processed_events as m')
                      .select(sql.lit(1).as('one'))
                      .where('m.consumer', '=', options.consumer)
                      .whereRef('m.event_id', '=', 't.event_id'),
                  ),
                ),
              ),
          ),
        ]),
      ),
    )
    .orderBy('d.next_attempt_at')
    .limit(options.limit + options.exclude.size)
    .execute()
  const claimed: DeliveryRow[] = []
  for (const row of candidates) {
    if (claimed.length >= options.limit) break
    if (options.exclude.has(row.id)) continue
    const result = await db
      .updateTable('webhook_deliveries')
      .set({ lease_until: now + options.leaseMs })
      .where('id', '=', row.id)
      .where('state', '=', 'PENDING')
      .where('lease_until', '<', now)
      .executeTakeFirst()
    if (Number(result.numUpdatedRows) === 1) claimed.push({ ...row, lease_until: now + options.leaseMs })
  }
  return claimed
}

/** What one attempt came to. */
export interface AttemptOutcome {
  ok: boolean
  /** The HTTP status, if an answer came. */
  status: number | null
  /** Why it failed, without the body or any secret. */
  error: string | null
  latencyMs: number
}

export interface SettleOptions {
  now: number
  /** When to try again after a failure, or `undefined` to give up (schedule.ts). */
  nextAttemptAt: (attempt: number, retryFrom: number) => number | undefined
  /** An endpoint failing for this long is disabled. */
  disableAfterMs: number
}

export type Settled = 'delivered' | 'retrying' | 'failed'

/**
 * Records an attempt in the delivery log and moves the delivery on (DELIVERED, PENDING with its
 * next try, or FAILED), and the endpoint's failure streak with it (disabling it when it has
 * failed for `disableAfterMs`), in one transaction.
 */
export async function settleAttempt(
  db: Kysely<Database>,
  delivery: DeliveryRow,
  outcome: AttemptOutcome,
  options: SettleOptions,
): Promise<{ settled: Settled; disabled: boolean }> {
  const { now } = options
  const attempt = Number(delivery.attempts) + 1
  return db.transaction().execute(async (trx) => {
    await trx
      .insertInto('webhook_attempts')
      .values({
        delivery_id: delivery.id,
        attempt,
        at: now - outcome.latencyMs,
        status: outcome.status,
        error: outcome.error?.slice(0, 500) ?? null,
        latency_ms: outcome.latencyMs,
      })
      .execute()
    const last = {
      attempts: attempt,
      lease_until: 0,
      last_status: outcome.status,
      last_error: outcome.error?.slice(0, 500) ?? null,
      last_latency_ms: outcome.latencyMs,
      updated_at: now,
    }
    if (outcome.ok) {
      await trx
        .updateTable('webhook_deliveries')
        .set({ ...last, state: 'DELIVERED', delivered_at: now })
        .where('id', '=', delivery.id)
        .execute()
      await trx
        .updateTable('webhook_endpoints')
        .set({ failing_since: null })
        .where('id', '=', delivery.endpoint_id)
        .where('failing_since', 'is not', null)
        .execute()
      return { settled: 'delivered' as const, disabled: false }
    }
    const next = options.nextAttemptAt(attempt, Number(delivery.retry_from))
    await trx
      .updateTable('webhook_deliveries')
      .set(next === undefined ? { ...last, state: 'FAILED' } : { ...last, next_attempt_at: next })
      .where('id', '=', delivery.id)
      .execute()
    const disabled = await failEndpoint(trx, delivery.endpoint_id, outcome, options)
    return { settled: next === undefined ? ('failed' as const) : ('retrying' as const), disabled }
  })
}

async function failEndpoint(
  trx: Transaction<Database>,
  endpointId: string,
  outcome: AttemptOutcome,
  options: SettleOptions,
): Promise<boolean> {
  const endpoint = await trx
    .selectFrom('webhook_endpoints')
    .select(['failing_since', 'enabled'])
    .where('id', '=', endpointId)
    .executeTakeFirst()
  if (endpoint === undefined) return false
  const since = endpoint.failing_since === null ? options.now : Number(endpoint.failing_since)
  const disable = Number(endpoint.enabled) === 1 && options.now - since >= options.disableAfterMs
  await trx
    .updateTable('webhook_endpoints')
    .set(
      disable
        ? {
            failing_since: since,
            enabled: 0,
            disabled_reason:
              `every attempt failed since ${new Date(since).toISOString()} (last: ${outcome.status ?? outcome.error ?? 'unknown'})`.slice(
                0,
                500,
              ),
            updated_at: options.now,
          }
        : { failing_since: since },
    )
    .where('id', '=', endpointId)
    .execute()
  return disable
}
