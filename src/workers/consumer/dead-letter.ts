import {
  DEAD_LETTER_HEADERS,
  DEAD_LETTER_MESSAGE_MAX,
  ReliableProducer,
  type ReliableProducerOptions,
} from '../../kafka/producer.ts'
import type { ConsumedRecord, RawRecord } from './record.ts'

/** A record given up on, and why. */
export interface DeadLetter {
  record: ConsumedRecord
  raw: RawRecord
  /** The consumer group that gave up. */
  groupId: string
  /** The consumer's name (its handler), e.g. `settlement`. */
  consumer: string
  errorCode: string
  errorMessage: string
  /** Attempts made, outage waits not counted. */
  attempts: number
}

/** Where dead letters go; the Kafka one below unless a test or another transport supplies its own. */
export interface DeadLetterSink {
  /** Resolves once the letter is stored durably; rejects otherwise (the consumer then tries again). */
  send(letter: DeadLetter): Promise<void>
  close(): Promise<void>
}

/** The record's own headers (minus any of ours it already had, e.g. from an earlier trip), then ours. */
export function deadLetterHeaders(letter: DeadLetter): Map<Buffer, Buffer> {
  const ours: Record<string, string> = {
    [DEAD_LETTER_HEADERS.originalTopic]: letter.record.topic,
    [DEAD_LETTER_HEADERS.originalPartition]: String(letter.record.partition),
    [DEAD_LETTER_HEADERS.originalOffset]: String(letter.record.offset),
    [DEAD_LETTER_HEADERS.consumerGroup]: letter.groupId,
    [DEAD_LETTER_HEADERS.errorCode]: letter.errorCode,
    [DEAD_LETTER_HEADERS.errorMessage]: letter.errorMessage.slice(0, DEAD_LETTER_MESSAGE_MAX),
    [DEAD_LETTER_HEADERS.attempts]: String(letter.attempts),
    [DEAD_LETTER_HEADERS.failedBy]: letter.consumer,
  }
  const headers = new Map<Buffer, Buffer>()
  for (const [name, value] of letter.raw.headers) {
    if (!Object.hasOwn(ours, name.toString('utf8'))) headers.set(name, value)
  }
  for (const [name, value] of Object.entries(ours)) headers.set(Buffer.from(name), Buffer.from(value))
  return headers
}

export interface KafkaDeadLetterSinkOptions extends ReliableProducerOptions {
  /** The dead-letter topic. */
  topic: string
}

/**
 * Sends dead letters to Kafka like every payrail producer: acks from all in-sync replicas,
 * idempotent, the record's own key with the Java partitioner, its value and headers byte for byte.
 */
export class KafkaDeadLetterSink implements DeadLetterSink {
  readonly #producer: ReliableProducer
  readonly #topic: string

  constructor(options: KafkaDeadLetterSinkOptions) {
    this.#topic = options.topic
    this.#producer = new ReliableProducer(options)
  }

  send(letter: DeadLetter): Promise<void> {
    return this.#producer.send(
      [
        {
          topic: this.#topic,
          key: letter.raw.key ?? undefined,
          value: letter.raw.value ?? undefined,
          headers: deadLetterHeaders(letter),
        },
      ],
      'the dead letter',
    )
  }

  close(): Promise<void> {
    return this.#producer.close()
  }
}
