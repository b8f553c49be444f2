import { isKafkaOutage } from '../kafka/errors.ts'
import type { Logger } from '../observability/logger.ts'
import { backoff } from '../runtime/backoff.ts'
import type { KafkaPublisher } from './publisher.ts'
import type { RelayObserver } from './relay-observer.ts'
import type { OutboxStore, PendingEvent } from './store.ts'

/** A refused record's retries wait at most this long: a broker refusing for hours still gets asked every few minutes. */
const RETRY_CAP_MS = 5 * 60_000

export interface RefusalsOptions {
  store: Pick<OutboxStore, 'markRetry' | 'markDead'>
  publisher: Pick<KafkaPublisher, 'send' | 'sendDead'>
  /** Runs a send through the relay's circuit breaker. */
  guarded: <T>(send: () => Promise<T>) => Promise<T>
  /** Whether an error is the breaker refusing to run a send (it is open). */
  isBreakerOpen: (error: unknown) => boolean
  /** Marks events published once the broker acknowledged them. */
  published: (events: PendingEvent[]) => Promise<void>
  logger: Logger
  observer?: RelayObserver | undefined
  maxRetries: number
  retryIntervalMs: number
  now: () => number
  random: () => number
}

/**
 * What the relay does with a batch the broker refused (a record too large, a topic it will not
 * take): finds the refused records by sending each payment's events one at a time, schedules
 * each refused one for a retry with backoff, and dead-letters it to payment.dlq once its
 * attempts are spent. A refused record holds back its payment's later events.
 */
export class Refusals {
  readonly #o: RefusalsOptions

  constructor(options: RefusalsOptions) {
    this.#o = options
  }

  /** Sends `events` one by one; stops at the first outage (the rest stay pending, no attempt spent). */
  async isolate(events: PendingEvent[]): Promise<void> {
    const o = this.#o
    const blocked = new Set<string>()
    for (const event of events) {
      if (blocked.has(event.paymentId)) continue
      try {
        await o.guarded(() => o.publisher.send([event]))
        await o.published([event])
      } catch (error) {
        if (o.isBreakerOpen(error) || isKafkaOutage(error)) return
        o.observer?.failure('record')
        const attempts = event.attempts + 1
        const message = error instanceof Error ? error.message : String(error)
        if (attempts >= o.maxRetries) {
          await this.#deadLetter(event, attempts, message)
          continue
        }
        const delay = backoff(attempts, o.retryIntervalMs, RETRY_CAP_MS, o.random)
        await o.store.markRetry(event, attempts, o.now() + delay, message)
        blocked.add(event.paymentId)
        o.logger.warn(
          { eventId: event.eventId, attempts, err: error },
          'Kafka refused an event; it will be retried',
        )
      }
    }
  }

  async #deadLetter(event: PendingEvent, attempts: number, message: string): Promise<void> {
    const o = this.#o
    try {
      await o.guarded(() => o.publisher.sendDead(event, message, attempts))
    } catch (error) {
      // Not even the DLQ takes it now: keep the row pending; its attempts are already spent.
      o.logger.error(
        { eventId: event.eventId, err: error },
        'could not dead-letter an event; it stays pending',
      )
      await o.store.markRetry(event, attempts - 1, o.now() + o.retryIntervalMs, message)
      return
    }
    await o.store.markDead(event, attempts, message, o.now())
    o.observer?.dead()
    o.logger.error(
      { eventId: event.eventId, topic: event.topic, attempts },
      'event dead-lettered to payment.dlq',
    )
  }
}
