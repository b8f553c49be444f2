import { Producer } from '@platformatic/kafka'
import { PayrailError } from '../../domain/errors.ts'
import { reliableProducerOptions } from '../../kafka/producer.ts'
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

/** The headers a dead-lettered record carries besides its own (the relay's DLQ records use the same names). */
export const DEAD_LETTER_HEADERS = {
  originalTopic: 'original-topic',
  originalPartition: 'original-partition',
  originalOffset: 'original-offset',
  consumerGroup: 'consumer-group',
  errorCode: 'error-code',
  errorMessage: 'error-message',
  attempts: 'attempts',
  failedBy: 'failed-by',
} as const

const MAX_MESSAGE_LENGTH = 500

/** The record's own headers (minus any of ours it already had, e.g. from an earlier trip), then ours. */
export function deadLetterHeaders(letter: DeadLetter): Map<Buffer, Buffer> {
  const ours: Record<string, string> = {
    [DEAD_LETTER_HEADERS.originalTopic]: letter.record.topic,
    [DEAD_LETTER_HEADERS.originalPartition]: String(letter.record.partition),
    [DEAD_LETTER_HEADERS.originalOffset]: String(letter.record.offset),
    [DEAD_LETTER_HEADERS.consumerGroup]: letter.groupId,
    [DEAD_LETTER_HEADERS.errorCode]: letter.errorCode,
    [DEAD_LETTER_HEADERS.errorMessage]: letter.errorMessage.slice(0, MAX_MESSAGE_LENGTH),
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

export interface KafkaDeadLetterSinkOptions {
  brokers: string[]
  clientId: string
  /** The dead-letter topic. */
  topic: string
  /** One produce request's time limit. Default: 2000 ms (KAFKA_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number
  /** A whole send's time limit, retries included; later it counts as an outage. Default: 3000 ms (KAFKA_DELIVERY_TIMEOUT_MS). */
  deliveryTimeoutMs?: number
}

/**
 * Sends dead letters to Kafka like every payrail producer: acks from all in-sync replicas,
 * idempotent, the record's own key with the Java partitioner, its value and headers byte for byte.
 */
export class KafkaDeadLetterSink implements DeadLetterSink {
  readonly #producer: Producer
  readonly #topic: string
  readonly #deliveryTimeoutMs: number

  constructor(options: KafkaDeadLetterSinkOptions) {
    this.#topic = options.topic
    this.#deliveryTimeoutMs = options.deliveryTimeoutMs ?? 3000
    this.#producer = new Producer<Buffer, Buffer, Buffer, Buffer>(reliableProducerOptions(options))
  }

  async send(letter: DeadLetter): Promise<void> {
    const sending = this.#producer.send({
      messages: [
        {
          topic: this.#topic,
          key: letter.raw.key ?? undefined,
          value: letter.raw.value ?? undefined,
          headers: deadLetterHeaders(letter),
        },
      ],
    })
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new PayrailError(
              'KAFKA_UNAVAILABLE',
              `Kafka did not acknowledge the dead letter within ${this.#deliveryTimeoutMs} ms`,
            ),
          ),
        this.#deliveryTimeoutMs,
      )
    })
    // A send that loses the race may still fail later; that failure has been reported already.
    sending.catch(() => {})
    try {
      await Promise.race([sending, deadline])
    } finally {
      clearTimeout(timer)
    }
  }

  close(): Promise<void> {
    return this.#producer.close()
  }
}
