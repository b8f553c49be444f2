import { setTimeout as sleep } from 'node:timers/promises'
import { type Admin, ConfigResourceTypes } from '@platformatic/kafka'
import { PayrailError } from '../domain/errors.ts'
import type { EventType } from '../domain/events.ts'
import { type AdminClientOptions, createAdmin } from './connection.ts'
import { hasProtocolError, isKafkaOutage } from './errors.ts'
import {
  ensureReplication,
  type ReplicationPolicy,
  type ReplicationTarget,
  replicationConfigs,
  replicationTarget,
  type TopicReplication,
} from './replication.ts'

/**
 * The topics of DESIGN.md, their partition counts and the event types each carries. A topic
 * carries an outcome and its failure (payment.captured: PAYMENT_CAPTURED and
 * PAYMENT_CAPTURE_FAILED), so that a payment's events stay on one key's partition in order;
 * DESIGN's six topics are kept.
 */
export const TOPICS = {
  authorized: { name: 'payment.authorized', partitions: 6, eventTypes: ['PAYMENT_AUTHORIZED'] },
  captureRequested: {
    name: 'payment.capture-requested',
    partitions: 6,
    eventTypes: ['PAYMENT_CAPTURE_REQUESTED'],
  },
  captured: {
    name: 'payment.captured',
    partitions: 6,
    eventTypes: ['PAYMENT_CAPTURED', 'PAYMENT_CAPTURE_FAILED'],
  },
  refundRequested: {
    name: 'payment.refund-requested',
    partitions: 6,
    eventTypes: ['PAYMENT_REFUND_REQUESTED'],
  },
  refunded: {
    name: 'payment.refunded',
    partitions: 6,
    eventTypes: ['PAYMENT_REFUNDED', 'PAYMENT_REFUND_FAILED'],
  },
  dlq: { name: 'payment.dlq', partitions: 3, eventTypes: [] },
} as const satisfies Record<string, { name: string; partitions: number; eventTypes: readonly EventType[] }>

/** The names of the topics that carry payment events (all but payment.dlq). */
export const PAYMENT_TOPICS: string[] = Object.values(TOPICS)
  .filter((topic) => topic.eventTypes.length > 0)
  .map((topic) => topic.name)

/** The workers' handlers (`payrail worker [settlement,refund,ledger]`); each has a consumer group `<KAFKA_CLIENT_ID>-<handler>`. */
export const WORKER_HANDLERS = ['settlement', 'refund', 'ledger'] as const
export type WorkerHandler = (typeof WORKER_HANDLERS)[number]

/** The topics each handler consumes. */
export const TOPICS_OF: Record<WorkerHandler, string[]> = {
  settlement: [TOPICS.captureRequested.name],
  refund: [TOPICS.refundRequested.name],
  ledger: [TOPICS.captured.name, TOPICS.refunded.name],
}

/** The topic each event type is published to: derived from TOPICS, the one place that pairs them. */
export const topicOf = Object.fromEntries(
  Object.values(TOPICS).flatMap((topic) => topic.eventTypes.map((type) => [type, topic.name])),
) as Record<EventType, string>

export interface TopicSpec {
  name: string
  partitions: number
}

export type PartitionAction =
  | { topic: string; action: 'created'; partitions: number }
  | { topic: string; action: 'unchanged'; partitions: number }
  | { topic: string; action: 'grown'; from: number; partitions: number }
  | { topic: string; action: 'kept-larger'; partitions: number; wanted: number }

/** What `ensureTopics` did to a topic's partitions, and the topic's replication after it. */
export type TopicAction = PartitionAction & { replication: TopicReplication }

export const payrailTopics: TopicSpec[] = Object.values(TOPICS)

/** How long `ensureTopics` waits for the metadata to show the topics it created or grew. */
const METADATA_WAIT_MS = 15_000

/**
 * Makes every topic exist with at least its partition count, and with the replication of
 * `policy` (see `replicationTarget`): new topics get it whole, existing ones get their
 * min.insync.replicas set; their replica count is reported, never changed. A topic with fewer partitions is
 * grown (this moves keys to other partitions, so the caller warns); one with more is left
 * alone, since Kafka cannot shrink a topic and more partitions break nothing.
 *
 * Returns only once the metadata shows every change: the controller acknowledges a change
 * before the brokers' metadata caches have it, and a producer that started with the old
 * partition count would hash keys onto partitions they will not stay on.
 */
export async function ensureTopics(
  admin: Admin,
  specs: TopicSpec[] = payrailTopics,
  retentionMs?: number,
  policy: ReplicationPolicy = {},
): Promise<TopicAction[]> {
  const cluster = await admin.metadata({ topics: [], forceUpdate: true })
  const target = replicationTarget(cluster.brokers.size, policy)
  const actions = await applyTopicSpecs(admin, specs, target, retentionMs)
  const changed = actions.filter((action) => action.action === 'created' || action.action === 'grown')
  if (changed.length > 0) await awaitPartitions(admin, changed, METADATA_WAIT_MS)
  if (actions.length === 0) return []
  const replication = await ensureReplication(
    admin,
    actions.map((action) => action.topic),
    target,
  )
  return actions.map((action) => ({
    ...action,
    replication: replication.get(action.topic) as TopicReplication,
  }))
}

async function applyTopicSpecs(
  admin: Admin,
  specs: TopicSpec[],
  target: ReplicationTarget,
  retentionMs?: number,
): Promise<PartitionAction[]> {
  const configs = [
    ...(retentionMs === undefined ? [] : [{ name: 'retention.ms', value: String(retentionMs) }]),
    ...replicationConfigs(target),
  ]
  const existing = new Set(await admin.listTopics())
  const actions: PartitionAction[] = []
  const missing = specs.filter((spec) => !existing.has(spec.name))
  for (const spec of missing) {
    try {
      await admin.createTopics({
        topics: [spec.name],
        partitions: spec.partitions,
        replicas: target.replicas,
        configs,
      })
      actions.push({ topic: spec.name, action: 'created', partitions: spec.partitions })
    } catch (error) {
      // Another process may have created it between listTopics and here: treat it as existing.
      if (!isTopicAlreadyExists(error)) throw error
      existing.add(spec.name)
    }
  }
  const present = specs.filter((spec) => existing.has(spec.name))
  if (present.length === 0) return actions
  const described = await admin.metadata({ topics: present.map((spec) => spec.name), forceUpdate: true })
  for (const spec of present) {
    const count = described.topics.get(spec.name)?.partitionsCount ?? 0
    if (count < spec.partitions) {
      // No assignments: the controller places the new partitions itself.
      await admin.createPartitions({
        topics: [{ name: spec.name, count: spec.partitions, assignments: null }],
      })
      actions.push({ topic: spec.name, action: 'grown', from: count, partitions: spec.partitions })
    } else if (count > spec.partitions) {
      actions.push({ topic: spec.name, action: 'kept-larger', partitions: count, wanted: spec.partitions })
    } else {
      actions.push({ topic: spec.name, action: 'unchanged', partitions: count })
    }
  }
  return actions
}

async function awaitPartitions(
  admin: Admin,
  wanted: { topic: string; partitions: number }[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    let behind = wanted
    try {
      const metadata = await admin.metadata({ topics: wanted.map((w) => w.topic), forceUpdate: true })
      behind = wanted.filter((w) => (metadata.topics.get(w.topic)?.partitionsCount ?? 0) < w.partitions)
    } catch (error) {
      // A broker that has not yet heard of a new topic says so: that is the wait, not a failure.
      if (!hasProtocolError(error, 'UNKNOWN_TOPIC_OR_PARTITION') && !isKafkaOutage(error)) throw error
    }
    if (behind.length === 0) return
    if (Date.now() >= deadline) {
      throw new PayrailError(
        'KAFKA_UNAVAILABLE',
        `the cluster metadata did not show the new partitions of ${behind.map((w) => w.topic).join(', ')} within ${timeoutMs} ms`,
      )
    }
    await sleep(100)
  }
}

function isTopicAlreadyExists(error: unknown): boolean {
  return hasProtocolError(error, 'TOPIC_ALREADY_EXISTS')
}

/**
 * `ensureTopics` with an admin client of its own (3 connection attempts unless told otherwise),
 * closed after. Topics it creates keep records for `retentionMs` (KAFKA_TOPIC_RETENTION).
 */
export async function ensureTopicsOn(
  options: AdminClientOptions & { retentionMs?: number } & ReplicationPolicy,
  specs: TopicSpec[] = payrailTopics,
): Promise<TopicAction[]> {
  const admin = createAdmin({ retries: 3, ...options })
  try {
    return await ensureTopics(admin, specs, options.retentionMs, {
      ...(options.replicationFactor === undefined ? {} : { replicationFactor: options.replicationFactor }),
      ...(options.minInsyncReplicas === undefined ? {} : { minInsyncReplicas: options.minInsyncReplicas }),
    })
  } finally {
    await admin.close()
  }
}

/** How long each topic keeps its records (`retention.ms`), in ms; unlimited (-1) is Infinity. */
export async function topicRetentionsOn(
  options: AdminClientOptions,
  topics: string[],
): Promise<Map<string, number>> {
  const admin = createAdmin({ retries: 3, ...options })
  try {
    const described = await admin.describeConfigs({
      resources: topics.map((name) => ({
        resourceType: ConfigResourceTypes.TOPIC,
        resourceName: name,
        configurationKeys: ['retention.ms'],
      })),
    })
    const retentions = new Map<string, number>()
    for (const resource of described) {
      const value = resource.configs.find((config) => config.name === 'retention.ms')?.value
      if (value === null || value === undefined) continue
      retentions.set(resource.resourceName, Number(value) < 0 ? Number.POSITIVE_INFINITY : Number(value))
    }
    return retentions
  } finally {
    await admin.close()
  }
}
