import { partitioner } from './partitioner.ts'

export interface ReliableProducerOptions {
  brokers: string[]
  clientId: string
  /** One produce request's time limit, and the connect timeout. Default: 2000 ms. */
  requestTimeoutMs?: number
}

/**
 * The settings every payrail producer shares: acks from all in-sync replicas and idempotence,
 * so that a retried produce request neither duplicates nor reorders a partition's records; the
 * Java client's partitioner, so keys land where Java clients expect; no topic auto-creation.
 */
export function reliableProducerOptions(options: ReliableProducerOptions) {
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
