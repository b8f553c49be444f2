import { Producer } from '@platformatic/kafka'
import { PayrailError } from '../domain/errors.ts'
import { reliableProducerOptions } from '../kafka/producer.ts'
import { TOPICS } from '../kafka/topics.ts'
import type { PendingEvent } from './store.ts'

export interface PublisherOptions {
  brokers: string[]
  clientId: string
  /** One produce request's time limit. Default: 2000 ms. */
  requestTimeoutMs?: number
  /** A whole send's time limit, retries included; later it counts as an outage. Default: 3000 ms. */
  deliveryTimeoutMs?: number
  /** Told when a send that already timed out fails later (its rows are sent again anyway). */
  onLateFailure?: (error: unknown) => void
}

const HEADER_NAMES_KEPT = 64

/**
 * The relay's Kafka producer: acks from all in-sync replicas and idempotence, so a retried
 * produce request neither duplicates nor reorders records of one partition; keyed by payment id
 * with the Java client's partitioner.
 */
export class KafkaPublisher {
  readonly #producer: Producer<Buffer, Buffer, Buffer, Buffer>
  /** Header names as bytes, encoded once: every record carries the same few names. */
  readonly #headerNames = new Map<string, Buffer>()
  readonly #deliveryTimeoutMs: number
  readonly #onLateFailure: (error: unknown) => void

  constructor(options: PublisherOptions) {
    this.#deliveryTimeoutMs = options.deliveryTimeoutMs ?? 3000
    this.#onLateFailure = options.onLateFailure ?? (() => {})
    // Records are handed over as bytes (no serializers), so that the header names are encoded
    // once and the headers need no conversion from an object to a Map per record.
    this.#producer = new Producer(reliableProducerOptions(options))
  }

  /** Publishes the events in the given order; rejects when any of them was not acknowledged. */
  async send(events: PendingEvent[]): Promise<void> {
    if (events.length === 0) return
    await this.#withDeadline(
      this.#producer.send({
        messages: events.map((event) => ({
          topic: event.topic,
          key: Buffer.from(event.paymentId),
          value: Buffer.from(event.payload),
          headers: this.#headers(event.headers),
        })),
      }),
    )
  }

  /** Sends an event that cannot be published to `payment.dlq`, with headers that say why. */
  async sendDead(event: PendingEvent, error: string, attempts: number): Promise<void> {
    await this.#withDeadline(
      this.#producer.send({
        messages: [
          {
            topic: TOPICS.dlq.name,
            key: Buffer.from(event.paymentId),
            value: Buffer.from(event.payload),
            headers: this.#headers({
              ...event.headers,
              'original-topic': event.topic,
              'error-message': error.slice(0, 500),
              attempts: String(attempts),
              'failed-by': 'relay',
            }),
          },
        ],
      }),
    )
  }

  #headers(headers: Record<string, string>): Map<Buffer, Buffer> {
    const encoded = new Map<Buffer, Buffer>()
    for (const [name, value] of Object.entries(headers)) {
      let key = this.#headerNames.get(name)
      if (key === undefined) {
        key = Buffer.from(name)
        // Names come from payrail's own writer; the bound only guards against a runaway set.
        if (this.#headerNames.size < HEADER_NAMES_KEPT) this.#headerNames.set(name, key)
      }
      encoded.set(key, Buffer.from(value))
    }
    return encoded
  }

  close(): Promise<void> {
    return this.#producer.close()
  }

  async #withDeadline<T>(operation: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new PayrailError(
              'KAFKA_UNAVAILABLE',
              `Kafka did not acknowledge within ${this.#deliveryTimeoutMs} ms`,
            ),
          ),
        this.#deliveryTimeoutMs,
      )
    })
    let timedOut = false
    operation.catch((error: unknown) => {
      if (timedOut) this.#onLateFailure(error)
    })
    try {
      return await Promise.race([operation, deadline])
    } catch (error) {
      timedOut = (error as { code?: unknown }).code === 'KAFKA_UNAVAILABLE'
      throw error
    } finally {
      clearTimeout(timer)
    }
  }
}
