import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'
import { EVENT_TYPES } from '../domain/events.ts'
import { recordDeliveries } from '../webhooks/deliveries.ts'
import { parseEnvelope } from '../workers/envelope.ts'
import { applyOnce } from '../workers/inbox.ts'

export const NOTIFIER_CONSUMER = 'notifier'

export interface NotifierHandlerOptions {
  db: Kysely<Database>
  /** Told how many deliveries an event recorded (metrics, and to wake the dispatcher). */
  recorded: (count: number) => void
  now?: () => number
}

/**
 * One payment event → one PENDING delivery per endpoint that wants it, committed with the
 * notifier's dedupe row (processed_events): a record consumed twice records nothing the second
 * time, and one whose transaction failed records nothing and is consumed again. Every event gets
 * its dedupe row, wanted or not: the per-payment order reads them (webhooks/deliveries.ts).
 */
export function notifierHandler(options: NotifierHandlerOptions) {
  const now = options.now ?? Date.now
  return async (value: string | undefined): Promise<string> => {
    const event = parseEnvelope(value, EVENT_TYPES)
    const at = now()
    const applied = await applyOnce(options.db, NOTIFIER_CONSUMER, event.eventId, at, (trx) =>
      recordDeliveries(trx, event, at),
    )
    if (applied.duplicate) return 'duplicate'
    options.recorded(applied.result)
    return applied.result > 0 ? 'recorded' : 'no_endpoint'
  }
}
