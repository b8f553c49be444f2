/**
 * The workers' lag as the broker sees it (src/kafka/consumer-lag.ts): for each handler's consumer
 * group, the records between its committed offset and the end of each partition of its topics.
 * Zero means every record was handled and committed.
 */
import { consumerGroupLag } from '../kafka/consumer-lag.ts'
import { TOPICS_OF, WORKER_HANDLERS } from '../kafka/topics.ts'

/** Handler → records not yet committed by its group. */
export async function consumerLag(options: {
  brokers: string[]
  /** The workers' KAFKA_CLIENT_ID: their groups are `<clientId>-<handler>`. */
  clientId: string
}): Promise<Record<string, number>> {
  const { groups } = await consumerGroupLag({
    brokers: options.brokers,
    clientId: 'payrail-chaos-lag',
    groups: WORKER_HANDLERS.map((name) => ({
      groupId: `${options.clientId}-${name}`,
      topics: TOPICS_OF[name],
    })),
    timeoutMs: 10_000,
  })
  return Object.fromEntries(WORKER_HANDLERS.map((name, i) => [name, groups[i]?.lag ?? 0]))
}
