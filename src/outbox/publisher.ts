import {
  DEAD_LETTER_HEADERS,
  DEAD_LETTER_MESSAGE_MAX,
  ReliableProducer,
  type ReliableProducerOptions,
} from '../kafka/producer.ts'
import { TOPICS } from '../kafka/topics.ts'
import type { PendingEvent } from './store.ts'

export type PublisherOptions = ReliableProducerOptions

const HEADER_NAMES_KEPT = 64

/**
 * The relay's side of Kafka: events as keyed records (payment id, so one payment's events share
 * a partition), header names encoded once, on the reliable producer (acks=all, idempotent,
 * Java partitioner, a deadline per send).
 */
export class KafkaPublisher {
  readonly #producer: ReliableProducer
  /** Header names as bytes, encoded once: every record carries the same few names. */
  readonly #headerNames = new Map<string, Buffer>()

  constructor(options: PublisherOptions) {
    // Records are handed over as bytes (no serializers), so that the header names are encoded
    // once and the headers need no conversion from an object to a Map per record.
    this.#producer = new ReliableProducer(options)
  }

  /** Publishes the events in the given order; rejects when any of them was not acknowledged. */
  send(events: PendingEvent[]): Promise<void> {
    return this.#producer.send(
      events.map((event) => ({
        topic: event.topic,
        key: Buffer.from(event.paymentId),
        value: Buffer.from(event.payload),
        headers: this.#headers(event.headers),
      })),
      `${events.length} events`,
    )
  }

  /** Sends an event that cannot be published to `payment.dlq`, with headers that say why. */
  sendDead(event: PendingEvent, error: string, attempts: number): Promise<void> {
    return this.#producer.send(
      [
        {
          topic: TOPICS.dlq.name,
          key: Buffer.from(event.paymentId),
          value: Buffer.from(event.payload),
          headers: this.#headers({
            ...event.headers,
            [DEAD_LETTER_HEADERS.originalTopic]: event.topic,
            [DEAD_LETTER_HEADERS.errorMessage]: error.slice(0, DEAD_LETTER_MESSAGE_MAX),
            [DEAD_LETTER_HEADERS.attempts]: String(attempts),
            [DEAD_LETTER_HEADERS.failedBy]: 'relay',
          }),
        },
      ],
      'the dead letter',
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
}
