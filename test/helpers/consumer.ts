import { randomBytes } from 'node:crypto'
import type { TestContext } from 'node:test'
import { Producer, stringSerializers } from '@platformatic/kafka'
import { createAdmin } from '../../src/kafka/connection.ts'
import { partitioner } from '../../src/kafka/partitioner.ts'
import { KeyedConsumer, type KeyedConsumerOptions } from '../../src/workers/consumer/index.ts'
import { quietLogger } from '../../support/logger.ts'
import { testTopic } from './outbox.ts'
import { requireService } from './services.ts'

export interface TestRecord {
  key: string
  /** Position of the record among its key's records, from 1. */
  sequence: number
  headers?: Record<string, string>
}

/** The value of a test record: a small envelope like payrail's (readTopic parses eventId and sequence). */
export function envelope(key: string, sequence: number): string {
  return JSON.stringify({ eventId: `${key}-${sequence}`, key, sequence })
}

export function parse(value: string | null): { eventId: string; key: string; sequence: number } {
  return JSON.parse(value ?? 'null')
}

/** `keys` keys with `perKey` records each, interleaved like real traffic (every key's 1st, then every key's 2nd…). */
export function interleaved(keys: number, perKey: number, prefix = 'k'): TestRecord[] {
  const records: TestRecord[] = []
  for (let sequence = 1; sequence <= perKey; sequence++) {
    for (let k = 0; k < keys; k++) records.push({ key: `${prefix}${String(k).padStart(3, '0')}`, sequence })
  }
  return records
}

/** Publishes the records in order with the Java partitioner, as payrail's producers do. */
export async function produce(brokers: string, topic: string, records: TestRecord[]): Promise<void> {
  const producer = new Producer({
    clientId: 'payrail-test-producer',
    bootstrapBrokers: brokers.split(','),
    serializers: stringSerializers,
    idempotent: true,
    acks: -1,
    partitioner,
    autocreateTopics: false,
  })
  try {
    for (let i = 0; i < records.length; i += 1000) {
      await producer.send({
        messages: records.slice(i, i + 1000).map((record) => ({
          topic,
          key: record.key,
          value: envelope(record.key, record.sequence),
          headers: { 'event-id': `${record.key}-${record.sequence}`, ...record.headers },
        })),
      })
    }
  } finally {
    await producer.close()
  }
}

/** A consumer group for one test, deleted when it ends. */
export function testGroup(t: TestContext, brokers: string): string {
  const group = `payrail-test-consumer-${randomBytes(4).toString('hex')}`
  t.after(async () => {
    const admin = createAdmin({ brokers: brokers.split(','), clientId: 'payrail-test', retries: 3 })
    try {
      await admin.deleteGroups({ groups: [group] })
    } catch {
      // A group with no committed offsets may not exist; nothing to clean.
    } finally {
      await admin.close()
    }
  })
  return group
}

/** Fast-moving consumer settings for tests; closed when the test ends. */
export function startConsumer(
  t: TestContext,
  options: Omit<KeyedConsumerOptions, 'logger'> & Partial<Pick<KeyedConsumerOptions, 'logger'>>,
): KeyedConsumer {
  const consumer = new KeyedConsumer({
    logger: quietLogger(),
    commitIntervalMs: 100,
    lagIntervalMs: 200,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 20_000,
    heartbeatIntervalMs: 500,
    revokeTimeoutMs: 5000,
    closeTimeoutMs: 5000,
    retryDelayMs: 20,
    retryMaxDelayMs: 200,
    outageDelayMs: 20,
    outageMaxDelayMs: 100,
    ...options,
  })
  t.after(() => consumer.close())
  return consumer
}

/** Committed offset per partition of the group on the topic (-1 when none). */
export async function committedOffsets(
  brokers: string,
  group: string,
  topic: string,
): Promise<Map<number, bigint>> {
  const admin = createAdmin({ brokers: brokers.split(','), clientId: 'payrail-test', retries: 3 })
  try {
    const [answer] = await admin.listConsumerGroupOffsets({ groups: [group] })
    const offsets = new Map<number, bigint>()
    for (const t of answer?.topics ?? []) {
      if (t.name !== topic) continue
      for (const p of t.partitions) offsets.set(p.partitionIndex, p.committedOffset)
    }
    return offsets
  } finally {
    await admin.close()
  }
}

/** The end offset (next offset to be written) of each partition. */
export async function endOffsets(
  brokers: string,
  topic: string,
  partitions: number,
): Promise<Map<number, bigint>> {
  const admin = createAdmin({ brokers: brokers.split(','), clientId: 'payrail-test', retries: 3 })
  try {
    const [answer] = await admin.listOffsets({
      topics: [
        {
          name: topic,
          partitions: Array.from({ length: partitions }, (_, partitionIndex) => ({
            partitionIndex,
            timestamp: -1n,
          })),
        },
      ],
    })
    return new Map((answer?.partitions ?? []).map((p) => [p.partitionIndex, p.offset]))
  } finally {
    await admin.close()
  }
}

/**
 * Watches handler calls across one or more consumers: at most one call per key at a time, the
 * order of sequences per key, how many run at once, what finished.
 */
export class HandlerWatch {
  readonly running = new Map<string, number>()
  readonly started = new Map<string, number[]>()
  /** `partition:offset` of every record whose handler resolved. */
  readonly finished = new Set<string>()
  readonly problems: string[] = []
  inFlight = 0
  maxInFlight = 0

  begin(key: string, sequence: number): void {
    const running = this.running.get(key) ?? 0
    if (running > 0) this.problems.push(`${key}:${sequence} started while ${key} was running`)
    this.running.set(key, running + 1)
    this.started.set(key, [...(this.started.get(key) ?? []), sequence])
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
  }

  end(key: string): void {
    this.running.set(key, (this.running.get(key) ?? 1) - 1)
    this.inFlight--
  }

  /** Keys whose sequences did not start strictly increasing. */
  outOfOrder(): string[] {
    const bad: string[] = []
    for (const [key, sequences] of this.started) {
      for (let i = 1; i < sequences.length; i++) {
        if ((sequences[i] as number) <= (sequences[i - 1] as number)) {
          bad.push(`${key}: ${sequences[i]} after ${sequences[i - 1]}`)
          break
        }
      }
    }
    return bad
  }
}

/** What a consumer test runs against: a fresh topic holding its records, and a group of its own. */
export interface ConsumerFixture {
  brokers: string
  topic: string
  group: string
}

/**
 * The consumer tests' one Kafka set-up: skips the test when Kafka is not there, else makes a
 * topic of `partitions` partitions (deleted when the test ends), publishes `records` to it with
 * payrail's partitioner, and names a consumer group of the test's own (deleted as well).
 */
export async function consumerFixture(
  t: TestContext,
  records: TestRecord[],
  partitions?: number,
): Promise<ConsumerFixture | undefined> {
  const brokers = await requireService(t, 'kafka')
  if (brokers === undefined) return undefined
  const topic =
    partitions === undefined ? await testTopic(t, brokers) : await testTopic(t, brokers, [], partitions)
  await produce(brokers, topic, records)
  return { brokers, topic, group: testGroup(t, brokers) }
}

/**
 * Random numbers in [0, 1) for a test's delays, from a seed printed in the test's diagnostics;
 * PAYRAIL_TEST_SEED replays a run. (mulberry32: small and good enough for jitter.)
 */
export function seededRandom(t: TestContext): () => number {
  const fromEnv = Number.parseInt(process.env.PAYRAIL_TEST_SEED ?? '', 10)
  const seed = Number.isSafeInteger(fromEnv) ? fromEnv >>> 0 : randomBytes(4).readUInt32LE(0)
  t.diagnostic(`random seed ${seed} (PAYRAIL_TEST_SEED=${seed} replays it)`)
  let state = seed
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let z = state
    z = Math.imul(z ^ (z >>> 15), z | 1)
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61)
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296
  }
}
