/**
 * The workers' lag as the broker sees it, not as the workers report it (a killed worker reports
 * nothing): for each handler's consumer group, the records between its committed offset and the
 * end of each partition of its topics. Zero means every record was handled and committed.
 */
import { Consumer } from '@platformatic/kafka'
import { createAdmin } from '../kafka/connection.ts'
import { TOPICS_OF, WORKER_HANDLERS } from '../workers/role.ts'

/** Handler → records not yet committed by its group. */
export async function consumerLag(options: {
  brokers: string[]
  /** The workers' KAFKA_CLIENT_ID: their groups are `<clientId>-<handler>`. */
  clientId: string
}): Promise<Record<string, number>> {
  const admin = createAdmin({ brokers: options.brokers, clientId: 'payrail-chaos-lag', retries: 2 })
  const reader = new Consumer({
    clientId: 'payrail-chaos-lag',
    groupId: 'payrail-chaos-lag-unused',
    bootstrapBrokers: options.brokers,
    timeout: 2000,
    connectTimeout: 2000,
    retries: 2,
  })
  try {
    const topics = [...new Set(WORKER_HANDLERS.flatMap((name) => TOPICS_OF[name]))]
    const ends = await reader.listOffsets({ topics })
    const groups = await admin.listConsumerGroupOffsets({
      groups: WORKER_HANDLERS.map((name) => `${options.clientId}-${name}`),
    })
    const lag: Record<string, number> = {}
    for (const name of WORKER_HANDLERS) {
      const committed = new Map<string, bigint>()
      for (const topic of groups.find((g) => g.groupId === `${options.clientId}-${name}`)?.topics ?? [])
        for (const p of topic.partitions)
          committed.set(`${topic.name}/${p.partitionIndex}`, p.committedOffset)
      let behind = 0n
      for (const topic of TOPICS_OF[name]) {
        for (const [partition, end] of (ends.get(topic) ?? []).entries()) {
          // -1 (or nothing) committed: the group has not finished its first record there.
          const at = committed.get(`${topic}/${partition}`) ?? -1n
          const from = at < 0n ? 0n : at
          if (end > from) behind += end - from
        }
      }
      lag[name] = Number(behind)
    }
    return lag
  } finally {
    await Promise.allSettled([admin.close(), reader.close(true)])
  }
}
