/**
 * Consumer groups' lag as the broker sees it, not as the consumers report it (a killed consumer
 * reports nothing): per partition of each group's topics, the records between the group's
 * committed offset and the partition's end. Read by `payrail chaos` and the operations plane.
 */
import { Consumer } from '@platformatic/kafka'
import { PayrailError } from '../domain/errors.ts'
import { withDeadline } from '../runtime/deadline.ts'
import { createAdmin } from './connection.ts'

export interface PartitionLag {
  topic: string
  partition: number
  /** The group's committed offset; null when it has committed none there yet. */
  committed: number | null
  end: number
  lag: number
}

export interface GroupLag {
  groupId: string
  lag: number
  partitions: PartitionLag[]
}

export interface ConsumerLagOptions {
  brokers: string[]
  /** The client id of the reading clients. */
  clientId: string
  groups: readonly { groupId: string; topics: readonly string[] }[]
  /** The whole read's limit. Default: 3000 ms. */
  timeoutMs?: number
  /** Extra topics whose end offsets are wanted too (e.g. payment.dlq). */
  alsoEnds?: readonly string[]
}

/** Each group's lag per partition, and the end offsets of every topic read. */
export async function consumerGroupLag(
  options: ConsumerLagOptions,
): Promise<{ groups: GroupLag[]; ends: Map<string, number[]> }> {
  const timeoutMs = options.timeoutMs ?? 3000
  const admin = createAdmin({ brokers: options.brokers, clientId: options.clientId, retries: 1 })
  const reader = new Consumer({
    clientId: options.clientId,
    groupId: `${options.clientId}-unused`,
    bootstrapBrokers: options.brokers,
    timeout: 2000,
    connectTimeout: 2000,
    retries: 1,
  })
  const read = async () => {
    const topics = [...new Set([...options.groups.flatMap((g) => g.topics), ...(options.alsoEnds ?? [])])]
    const ends = await reader.listOffsets({ topics })
    const offsets = await admin.listConsumerGroupOffsets({ groups: options.groups.map((g) => g.groupId) })
    const groups = options.groups.map((group) => {
      const committed = new Map<string, bigint>()
      for (const topic of offsets.find((g) => g.groupId === group.groupId)?.topics ?? [])
        for (const p of topic.partitions)
          committed.set(`${topic.name}/${p.partitionIndex}`, p.committedOffset)
      const partitions: PartitionLag[] = []
      for (const topic of group.topics) {
        for (const [partition, end] of (ends.get(topic) ?? []).entries()) {
          // -1 (or nothing) committed: the group has not finished its first record there.
          const at = committed.get(`${topic}/${partition}`) ?? -1n
          const from = at < 0n ? 0n : at
          partitions.push({
            topic,
            partition,
            committed: at < 0n ? null : Number(at),
            end: Number(end),
            lag: end > from ? Number(end - from) : 0,
          })
        }
      }
      return { groupId: group.groupId, lag: partitions.reduce((sum, p) => sum + p.lag, 0), partitions }
    })
    return {
      groups,
      ends: new Map([...ends].map(([topic, list]) => [topic, list.map(Number)] as [string, number[]])),
    }
  }
  try {
    return await withDeadline(read(), timeoutMs, () => {
      throw new PayrailError('KAFKA_UNAVAILABLE', `consumer lag could not be read within ${timeoutMs} ms`)
    })
  } finally {
    await Promise.allSettled([admin.close(), reader.close(true)])
  }
}
