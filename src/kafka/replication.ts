import { setTimeout as sleep } from 'node:timers/promises'
import { type Admin, ConfigResourceTypes, IncrementalAlterConfigOperationTypes } from '@platformatic/kafka'
import type { Config } from '../config/load.ts'
import { PayrailError } from '../domain/errors.ts'

/** How many copies payrail's topics keep. Both unset: chosen from the cluster's size. */
export interface ReplicationPolicy {
  /** Replicas of each partition of a topic payrail creates. Default: min(3, brokers) (KAFKA_REPLICATION_FACTOR). */
  replicationFactor?: number
  /** `min.insync.replicas` of payrail's topics. Default: 2 with 3 or more brokers, else 1 (KAFKA_MIN_INSYNC_REPLICAS). */
  minInsyncReplicas?: number
}

/** KAFKA_REPLICATION_FACTOR and KAFKA_MIN_INSYNC_REPLICAS as a policy; unset ones are left to the cluster's size. */
export function replicationPolicyOf(
  config: Pick<Config, 'KAFKA_REPLICATION_FACTOR' | 'KAFKA_MIN_INSYNC_REPLICAS'>,
): ReplicationPolicy {
  return {
    ...(config.KAFKA_REPLICATION_FACTOR === undefined
      ? {}
      : { replicationFactor: config.KAFKA_REPLICATION_FACTOR }),
    ...(config.KAFKA_MIN_INSYNC_REPLICAS === undefined
      ? {}
      : { minInsyncReplicas: config.KAFKA_MIN_INSYNC_REPLICAS }),
  }
}

export interface ReplicationTarget {
  replicas: number
  minInsync: number
}

/** What a topic has after `ensureReplication`, and what it was asked to have. */
export interface TopicReplication {
  /** Replicas of the topic's least replicated partition. */
  replicas: number
  wantedReplicas: number
  /** `min.insync.replicas` in force now. */
  minInsync: number
  wantedMinInsync: number
  /** The value this run replaced; absent when it changed nothing. */
  minInsyncFrom?: number
}

/**
 * With three brokers, two in-sync copies survive the loss of any one broker while acks=all
 * writes keep succeeding; more than that would stop writes whenever one broker is down.
 */
export function replicationTarget(brokers: number, policy: ReplicationPolicy = {}): ReplicationTarget {
  const replicas = policy.replicationFactor ?? Math.min(3, brokers)
  const minInsync = policy.minInsyncReplicas ?? (replicas >= 3 ? 2 : 1)
  if (replicas > brokers) {
    throw new PayrailError(
      'CONFIG_INVALID',
      `KAFKA_REPLICATION_FACTOR (${replicas}) exceeds the ${brokers} broker(s) of the cluster`,
    )
  }
  if (minInsync > replicas) {
    throw new PayrailError(
      'CONFIG_INVALID',
      `KAFKA_MIN_INSYNC_REPLICAS (${minInsync}) must not exceed the replication factor (${replicas})`,
    )
  }
  return { replicas, minInsync }
}

/** The topic configs that give a new topic `target`'s durability. */
export function replicationConfigs(target: ReplicationTarget): { name: string; value: string }[] {
  return [{ name: 'min.insync.replicas', value: String(target.minInsync) }]
}

/**
 * Reads each topic's replication and sets its `min.insync.replicas` to the target where it
 * differs. Never above the topic's own replica count: a topic with one replica and
 * min.insync.replicas=2 refuses every acks=all write. The replica count itself is only
 * reported; Kafka does not change it without a partition reassignment.
 */
export async function ensureReplication(
  admin: Admin,
  topics: string[],
  target: ReplicationTarget,
): Promise<Map<string, TopicReplication>> {
  const metadata = await admin.metadata({ topics, forceUpdate: true })
  const current = await minInsyncOf(admin, topics)
  const result = new Map<string, TopicReplication>()
  const changes: { topic: string; value: number }[] = []
  for (const topic of topics) {
    const partitions = metadata.topics.get(topic)?.partitions ?? []
    const replicas = partitions.length === 0 ? 0 : Math.min(...partitions.map((p) => p.replicas.length))
    const wantedMinInsync = Math.max(1, Math.min(target.minInsync, replicas))
    const now = current.get(topic) ?? 1
    const entry: TopicReplication = {
      replicas,
      wantedReplicas: target.replicas,
      minInsync: now,
      wantedMinInsync: target.minInsync,
    }
    if (now !== wantedMinInsync) {
      changes.push({ topic, value: wantedMinInsync })
      entry.minInsync = wantedMinInsync
      entry.minInsyncFrom = now
    }
    result.set(topic, entry)
  }
  if (changes.length > 0) {
    await admin.incrementalAlterConfigs({
      resources: changes.map((change) => ({
        resourceType: ConfigResourceTypes.TOPIC,
        resourceName: change.topic,
        configs: [
          {
            name: 'min.insync.replicas',
            configOperation: IncrementalAlterConfigOperationTypes.SET,
            value: String(change.value),
          },
        ],
      })),
    })
    await awaitMinInsync(admin, changes, CONFIG_WAIT_MS)
  }
  return result
}

/** How long `ensureReplication` waits for the brokers to show the min.insync.replicas it set. */
const CONFIG_WAIT_MS = 15_000

/**
 * The controller acknowledges a config change before every broker has applied it: a describe
 * right after could still read the old value (1 run in about 12 on the 3-node cluster).
 */
async function awaitMinInsync(
  admin: Admin,
  wanted: { topic: string; value: number }[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const now = await minInsyncOf(
      admin,
      wanted.map((w) => w.topic),
    )
    const behind = wanted.filter((w) => now.get(w.topic) !== w.value)
    if (behind.length === 0) return
    if (Date.now() >= deadline) {
      throw new PayrailError(
        'KAFKA_UNAVAILABLE',
        `the brokers did not show the new min.insync.replicas of ${behind.map((w) => w.topic).join(', ')} within ${timeoutMs} ms`,
      )
    }
    await sleep(100)
  }
}

/** The `min.insync.replicas` in force for each topic (its own, or the broker's default). */
export async function minInsyncOf(admin: Admin, topics: string[]): Promise<Map<string, number>> {
  const described = await admin.describeConfigs({
    resources: topics.map((name) => ({
      resourceType: ConfigResourceTypes.TOPIC,
      resourceName: name,
      configurationKeys: ['min.insync.replicas'],
    })),
  })
  const values = new Map<string, number>()
  for (const resource of described) {
    const value = resource.configs.find((config) => config.name === 'min.insync.replicas')?.value
    if (value !== null && value !== undefined) values.set(resource.resourceName, Number(value))
  }
  return values
}
