import { type MessageToProduce, Producer } from '@platformatic/kafka'
import { PayrailError } from '../domain/errors.ts'
import { withDeadline } from '../runtime/deadline.ts'
import { partitioner } from './partitioner.ts'

export interface ReliableProducerOptions {
  brokers: string[]
  clientId: string
  /** One produce request's time limit, and the connect timeout. Default: 2000 ms (KAFKA_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number
  /** A whole send's time limit, retries included; past it the send counts as an outage. Default: 3000 ms (KAFKA_DELIVERY_TIMEOUT_MS). */
  deliveryTimeoutMs?: number
  /** Told when a send that already timed out fails later. Default: ignored. */
  onLateFailure?: (error: unknown) => void
}

/** The headers a dead-lettered record carries besides its own, written by the relay and the consumers alike. */
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

/** Longest `error-message` header; the rest of a message is in the process's log. */
export const DEAD_LETTER_MESSAGE_MAX = 500

/** One record as bytes: payrail hands the producer no serializers. */
export type ByteMessage = MessageToProduce<Buffer, Buffer, Buffer, Buffer>

/**
 * The settings every payrail producer shares: acks from all in-sync replicas and idempotence,
 * so that a retried produce request neither duplicates nor reorders a partition's records; the
 * Java client's partitioner, so keys land where Java clients expect; no topic auto-creation.
 */
function reliableProducerOptions(options: ReliableProducerOptions) {
  return {
    clientId: options.clientId,
    bootstrapBrokers: options.brokers,
    idempotent: true,
    acks: -1,
    partitioner,
    autocreateTopics: false,
    timeout: options.requestTimeoutMs ?? 2000,
    connectTimeout: options.requestTimeoutMs ?? 2000,
    retries: 2,
    retryDelay: 200,
  } as const
}

/**
 * payrail's one Kafka producer (the relay's publisher and the consumers' dead-letter sink):
 * the reliable settings above, and a deadline on every send. The client retries a request
 * within `timeout`, but a broker that stops answering could hold a send far longer; past
 * `deliveryTimeoutMs` the send rejects with KAFKA_UNAVAILABLE, which every caller treats as an
 * outage (the records are sent again; idempotence keeps a late success from doubling them
 * within the producer's session).
 */
export class ReliableProducer {
  readonly #producer: Producer<Buffer, Buffer, Buffer, Buffer>
  readonly #deliveryTimeoutMs: number
  readonly #onLateFailure: (error: unknown) => void

  constructor(options: ReliableProducerOptions) {
    this.#deliveryTimeoutMs = options.deliveryTimeoutMs ?? 3000
    this.#onLateFailure = options.onLateFailure ?? (() => {})
    this.#producer = new Producer<Buffer, Buffer, Buffer, Buffer>(reliableProducerOptions(options))
  }

  /** Sends the records in order; resolves once every one is acknowledged, `what` names them in the timeout's message. */
  async send(messages: ByteMessage[], what = 'the records'): Promise<void> {
    if (messages.length === 0) return
    await withDeadline(
      this.#producer.send({ messages }),
      this.#deliveryTimeoutMs,
      () => {
        throw new PayrailError(
          'KAFKA_UNAVAILABLE',
          `Kafka did not acknowledge ${what} within ${this.#deliveryTimeoutMs} ms`,
        )
      },
      this.#onLateFailure,
    )
  }

  close(): Promise<void> {
    return this.#producer.close()
  }
}
