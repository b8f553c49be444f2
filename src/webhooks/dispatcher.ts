import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'
import type { Logger } from '../observability/logger.ts'
import { claimDue, type DeliveryRow, settleAttempt } from './deliveries.ts'
import { signingSecrets } from './endpoints.ts'
import { noopWebhookObserver, type WebhookObserver } from './metrics.ts'
import { nextAttemptAt, type RetrySchedule } from './schedule.ts'
import type { SecretBox } from './secrets.ts'
import type { WebhookSender } from './sender.ts'

export interface DispatcherOptions {
  db: Kysely<Database>
  sender: Pick<WebhookSender, 'send'>
  box: SecretBox
  logger: Logger
  schedule: RetrySchedule
  /** Attempts in flight at once. Default: 64 (WEBHOOK_CONCURRENCY). */
  concurrency: number
  /** How often due deliveries are looked for when nothing woke the dispatcher. Default: 250 ms (WEBHOOK_POLL_INTERVAL_MS). */
  pollIntervalMs: number
  /** An attempt's timeout; a claim is held a little longer than that. Default: 10000 ms (WEBHOOK_TIMEOUT_MS). */
  timeoutMs: number
  /** An endpoint failing for this long is disabled. Default: 5 d (WEBHOOK_DISABLE_AFTER). */
  disableAfterMs: number
  /** The notifier's dedupe name, for the per-payment order (deliveries.ts). */
  consumer: string
  /** Timeline events older than this are taken as seen by the notifier. Default: 7 d (half PROCESSED_EVENTS_RETENTION). */
  seenWindowMs: number
  observer?: WebhookObserver
  /** The clock, in milliseconds. Default: Date.now. */
  now?: () => number
  /** [0, 1) for the retry jitter. Default: Math.random. */
  random?: () => number
}

/**
 * Sends due deliveries from the database: claims up to `concurrency` at a time, sends them in
 * parallel and records each outcome. Wakes on its poll interval, when the notifier recorded new
 * deliveries and when an attempt ends.
 */
export class Dispatcher {
  readonly #options: DispatcherOptions
  readonly #now: () => number
  readonly #random: () => number
  readonly #observer: WebhookObserver
  readonly #inFlight = new Map<string, Promise<void>>()
  #timer: NodeJS.Timeout | undefined
  #running = false
  #again = false
  #stopped = false
  #pass: Promise<void> = Promise.resolve()

  constructor(options: DispatcherOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
    this.#random = options.random ?? Math.random
    this.#observer = options.observer ?? noopWebhookObserver
  }

  start(): void {
    this.#schedule(0)
  }

  /** Look for due deliveries now (new ones were recorded). */
  wake(): void {
    if (this.#stopped) return
    if (this.#running) {
      this.#again = true
      return
    }
    this.#schedule(0)
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#pass = this.#runPass()
    }, delayMs)
  }

  async #runPass(): Promise<void> {
    this.#running = true
    this.#again = false
    try {
      const free = this.#options.concurrency - this.#inFlight.size
      if (free > 0) {
        const now = this.#now()
        const claimed = await claimDue(this.#options.db, {
          now,
          limit: free,
          // Longer than an attempt can take (its timeout) and the recording after it.
          leaseMs: 2 * this.#options.timeoutMs + 1000,
          consumer: this.#options.consumer,
          seenHorizon: now - this.#options.seenWindowMs,
          exclude: new Set(this.#inFlight.keys()),
        })
        for (const delivery of claimed) {
          const sent = this.#deliver(delivery).finally(() => {
            this.#inFlight.delete(delivery.id)
            this.wake()
          })
          this.#inFlight.set(delivery.id, sent)
        }
        if (claimed.length === free) this.#again = true
      }
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'webhook dispatch pass failed; trying again')
    } finally {
      this.#running = false
      this.#schedule(this.#again ? 0 : this.#options.pollIntervalMs)
    }
  }

  async #deliver(delivery: DeliveryRow): Promise<void> {
    const { db, box, logger } = this.#options
    try {
      const endpoint = await db
        .selectFrom('webhook_endpoints')
        .select(['url', 'secret', 'previous_secret', 'previous_secret_until'])
        .where('id', '=', delivery.endpoint_id)
        .executeTakeFirst()
      if (endpoint === undefined) return
      const outcome = await this.#options.sender.send({
        url: endpoint.url,
        body: delivery.body,
        eventId: delivery.event_id,
        eventType: delivery.event_type,
        secrets: signingSecrets(box, endpoint, this.#now()),
      })
      const { settled, disabled } = await settleAttempt(db, delivery, outcome, {
        now: this.#now(),
        nextAttemptAt: (attempt, retryFrom) =>
          nextAttemptAt(this.#options.schedule, attempt, retryFrom, this.#now(), this.#random),
        disableAfterMs: this.#options.disableAfterMs,
      })
      this.#observer.attempt(settled, outcome.latencyMs / 1000)
      if (disabled) {
        this.#observer.endpointDisabled()
        logger.warn({ endpointId: delivery.endpoint_id }, 'webhook endpoint disabled after failing for days')
      }
      if (settled !== 'delivered')
        logger.info(
          {
            deliveryId: delivery.id,
            endpointId: delivery.endpoint_id,
            attempt: Number(delivery.attempts) + 1,
            status: outcome.status,
            error: outcome.error,
            settled,
          },
          'webhook attempt failed',
        )
    } catch (error) {
      // The lease runs out and the delivery is claimed again: nothing is lost.
      logger.warn({ err: error, deliveryId: delivery.id }, 'webhook attempt could not be recorded')
    }
  }

  /** Stops claiming and waits for the attempts in flight to be recorded. */
  async close(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#pass
    await Promise.all(this.#inFlight.values())
  }
}

/** Pending deliveries to enabled endpoints and the age of the oldest, for the metrics. */
export async function webhookBacklog(
  db: Kysely<Database>,
  now: number,
): Promise<{ pending: number; oldestAgeSeconds: number }> {
  const row = await db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_endpoints as e', 'e.id', 'd.endpoint_id')
    .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min('d.retry_from').as('oldest')])
    .where('d.state', '=', 'PENDING')
    .where('e.enabled', '=', 1)
    .executeTakeFirstOrThrow()
  const oldest = row.oldest === null ? now : Number(row.oldest)
  return { pending: Number(row.n), oldestAgeSeconds: Math.max(0, (now - oldest) / 1000) }
}
