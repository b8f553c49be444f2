import { randomBytes } from 'node:crypto'
import type { TestContext } from 'node:test'
import { Consumer, type Message, stringDeserializers } from '@platformatic/kafka'
import type { Insertable, Kysely } from 'kysely'
import type { DialectName } from '../../src/db/database.ts'
import type { Database, OutboxEventTable } from '../../src/db/schema.ts'
import { createAdmin } from '../../src/kafka/connection.ts'
import { readTopicToEnd as readWholeTopic } from '../../src/kafka/read-topic.ts'
import { bucketOf } from '../../src/outbox/buckets.ts'
import { LeaseManager } from '../../src/outbox/leases.ts'
import { KafkaPublisher } from '../../src/outbox/publisher.ts'
import { OutboxRelay } from '../../src/outbox/relay.ts'
import type { RelayObserver } from '../../src/outbox/relay-observer.ts'
import type { RelayOptions } from '../../src/outbox/relay-options.ts'
import { OutboxStore } from '../../src/outbox/store.ts'
import { appendEvent } from '../../src/outbox/writer.ts'
import { quietLogger } from '../../support/logger.ts'
import { authorizedPayment } from '../../support/payments.ts'
import type { ThrowawayDatabase } from './databases.ts'

/** A topic for one test, deleted when it ends. */
export async function testTopic(
  t: TestContext,
  brokers: string,
  configs: { name: string; value: string }[] = [],
  partitions = 6,
): Promise<string> {
  const topic = `payrail-test-relay-${randomBytes(4).toString('hex')}`
  const admin = createAdmin({ brokers: brokers.split(','), clientId: 'payrail-test', retries: 3 })
  await admin.createTopics({ topics: [topic], partitions, replicas: 1, configs })
  t.after(async () => {
    await admin.deleteTopics({ topics: [topic] })
    await admin.close()
  })
  return topic
}

export async function setTopicConfig(
  brokers: string,
  topic: string,
  name: string,
  value: string,
): Promise<void> {
  const admin = createAdmin({ brokers: brokers.split(','), clientId: 'payrail-test', retries: 3 })
  try {
    await admin.incrementalAlterConfigs({
      resources: [{ resourceType: 2, resourceName: topic, configs: [{ name, value, configOperation: 0 }] }],
    })
  } finally {
    await admin.close()
  }
}

export interface SeedOptions {
  /** The database's dialect, which the outbox writer needs (one statement on PostgreSQL, three elsewhere). */
  dialect: DialectName
  payments: number
  perPayment: number
  topic: string
  /** Bytes of padding in the data of the event at (payment index, sequence), to make the broker refuse it. */
  padding?: (payment: number, sequence: number) => number
}

/** Payments with events written by the real outbox writer, pointed at the test's topic. */
export async function seedEvents(
  db: Kysely<Database>,
  options: SeedOptions,
): Promise<{ paymentIds: string[]; eventIds: string[] }> {
  const paymentIds: string[] = []
  const eventIds: string[] = []
  const now = Date.now()
  for (let p = 0; p < options.payments; p++) {
    const id = `${randomBytes(4).toString('hex')}-0000-7000-8000-${String(p).padStart(12, '0')}`
    paymentIds.push(id)
    await db
      .insertInto('payments')
      .values(authorizedPayment(id, 'm', 1000, now))
      .execute()
  }
  // Interleaved like real traffic: every payment's first event, then every payment's second, …
  for (let s = 1; s <= options.perPayment; s++) {
    for (let p = 0; p < options.payments; p++) {
      const pad = options.padding?.(p, s) ?? 0
      // Re-pointed at the test's topic in the same transaction, so a running relay never sees the row elsewhere.
      const record = await db.transaction().execute(async (trx) => {
        const written = await appendEvent(
          trx,
          options.dialect,
          {
            type: 'PAYMENT_AUTHORIZED',
            paymentId: paymentIds[p] as string,
            merchantId: 'm',
            data: pad > 0 ? { pad: 'x'.repeat(pad) } : { n: s },
          },
          Date.now(),
        )
        await trx
          .updateTable('outbox_events')
          .set({ topic: options.topic })
          .where('event_id', '=', written.eventId)
          .execute()
        return written
      })
      eventIds.push(record.eventId)
    }
  }
  return { paymentIds, eventIds }
}

export interface ConsumedRecord {
  key: string
  partition: number
  offset: bigint
  /** From the envelope; empty and 0 for a value that is not one (a poison record in the DLQ). */
  eventId: string
  sequence: number
  value: string
  headers: Map<string, string>
}

/** A consumer of strings in a group of its own, so that it reads a topic from the start. */
function readerConsumer(brokers: string): Consumer<string, string, string, string> {
  return new Consumer({
    clientId: 'payrail-test',
    groupId: `payrail-test-${randomBytes(4).toString('hex')}`,
    bootstrapBrokers: brokers.split(','),
    deserializers: stringDeserializers,
  })
}

function consumedRecord(
  message: Pick<
    Message<string, string, string, string>,
    'key' | 'partition' | 'offset' | 'value' | 'headers'
  >,
): ConsumedRecord {
  const envelope = envelopeOf(message.value)
  return {
    key: message.key,
    partition: message.partition,
    offset: message.offset,
    eventId: envelope.eventId,
    sequence: envelope.sequence,
    value: message.value,
    headers: message.headers,
  }
}

function envelopeOf(value: string): { eventId: string; sequence: number } {
  try {
    const envelope = JSON.parse(value) as { eventId?: unknown; sequence?: unknown }
    return { eventId: String(envelope.eventId ?? ''), sequence: Number(envelope.sequence ?? 0) }
  } catch {
    return { eventId: '', sequence: 0 }
  }
}

/** Reads a topic from the start until `count` records arrived (or the time is up) and returns them in offset order per partition. */
export async function readTopic(
  brokers: string,
  topic: string,
  count: number,
  timeoutMs = 30_000,
): Promise<ConsumedRecord[]> {
  const consumer = readerConsumer(brokers)
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest' })
  const records: ConsumedRecord[] = []
  const timer = setTimeout(() => stream.close(), timeoutMs)
  try {
    for await (const message of stream) {
      records.push(consumedRecord(message))
      if (records.length >= count) break
    }
  } finally {
    clearTimeout(timer)
    await stream.close()
    await consumer.close()
  }
  return records
}

/**
 * Reads every record a topic holds now, through payrail's own reader (end offsets first, then
 * from the start to them). For when everything expected is known to be in the topic (a drained
 * outbox); fails rather than return less if the time runs out, and when the topic is missing.
 */
export async function readTopicToEnd(
  brokers: string,
  topic: string,
  timeoutMs = 30_000,
): Promise<ConsumedRecord[]> {
  const messages = await readWholeTopic(topic, {
    brokers: brokers.split(','),
    clientId: 'payrail-test',
    timeoutMs,
  })
  if (messages === undefined) throw new Error(`${topic} does not exist`)
  return messages.map((message) => {
    const headers = new Map<string, string>()
    for (const [name, value] of message.headers) headers.set(name.toString('utf8'), value.toString('utf8'))
    return consumedRecord({
      key: message.key?.toString('utf8') ?? '',
      partition: message.partition,
      offset: message.offset,
      value: message.value?.toString('utf8') ?? '',
      headers,
    })
  })
}

/** Whether every key's sequences arrive strictly increasing (Kafka keeps order only within a partition, and a key has one). */
export function outOfOrder(records: ConsumedRecord[]): string[] {
  const last = new Map<string, number>()
  const problems: string[] = []
  for (const record of records) {
    const previous = last.get(record.key) ?? 0
    if (record.sequence <= previous) problems.push(`${record.key}: ${record.sequence} after ${previous}`)
    last.set(record.key, Math.max(previous, record.sequence))
  }
  return problems
}

/** A relay in this process over the real store, leases and Kafka publisher; stopped when the test ends. */
/** A RelayObserver that ignores everything; spread it and override what a test counts. */
export const silentRelayObserver: RelayObserver = {
  published: () => {},
  acknowledged: () => {},
  commitToAck: () => {},
  batch: () => {},
  failure: () => {},
  dead: () => {},
  breaker: () => {},
  buckets: () => {},
  scanned: () => {},
}

export function startRelay(
  database: ThrowawayDatabase,
  db: Kysely<Database>,
  brokers: string,
  options: Partial<RelayOptions> & { leaseMs?: number; graceMs?: number } = {},
): { relay: OutboxRelay; stop: () => Promise<void> } {
  const deliveryTimeoutMs = options.deliveryTimeoutMs ?? 1000
  const publisher = new KafkaPublisher({
    brokers: brokers.split(','),
    clientId: 'payrail-test-relay',
    deliveryTimeoutMs,
  })
  const relay = new OutboxRelay({
    store: new OutboxStore(db),
    publisher,
    leases: new LeaseManager({ db, leaseMs: options.leaseMs ?? 4000, graceMs: options.graceMs ?? 1500 }),
    logger: quietLogger(),
    pollIntervalMs: 50,
    retryIntervalMs: 100,
    deliveryTimeoutMs,
    ...options,
  })
  relay.start()
  let stopped: Promise<void> | undefined
  const stop = () => {
    stopped ??= relay.stop().then(() => publisher.close())
    return stopped
  }
  database.beforeClose(stop)
  return { relay, stop }
}

/** The first delivery of each event, as a consumer that dedupes by eventId sees the stream. */
export function firstDeliveries(records: ConsumedRecord[]): ConsumedRecord[] {
  const seen = new Set<string>()
  return records.filter((record) => !seen.has(record.eventId) && seen.add(record.eventId))
}

/** Where an outbox row stands: the queue holding its id, or none once published. */
export type OutboxState = 'PENDING' | 'RETRY' | 'DEAD' | 'PUBLISHED'

/** How many outbox rows stand in each state, from one statement and so one snapshot. */
export async function outboxStateCounts(db: Kysely<Database>): Promise<Record<OutboxState, number>> {
  const row = await db
    .selectNoFrom((eb) => [
      eb.selectFrom('outbox_events').select(eb.fn.countAll<number>().as('n')).as('all'),
      eb.selectFrom('outbox_pending').select(eb.fn.countAll<number>().as('n')).as('pending'),
      eb.selectFrom('outbox_retries').select(eb.fn.countAll<number>().as('n')).as('retry'),
      eb.selectFrom('outbox_dead').select(eb.fn.countAll<number>().as('n')).as('dead'),
    ])
    .executeTakeFirstOrThrow()
  const [all, PENDING, RETRY, DEAD] = [row.all, row.pending, row.retry, row.dead].map(Number) as [
    number,
    number,
    number,
    number,
  ]
  return { PENDING, RETRY, DEAD, PUBLISHED: all - PENDING - RETRY - DEAD }
}

/** An outbox row for a fixture: the event columns, where it stands, and what its queue records. */
export type FixtureRow = Omit<Insertable<OutboxEventTable>, 'bucket'> & {
  bucket?: number
  state: OutboxState
  attempts?: number
  lastError?: string
  availableAt?: number
}

/** Inserts fixture rows in order (so ids follow the list), each in the queue its state names. */
export async function insertOutboxRows(db: Kysely<Database>, rows: FixtureRow[]): Promise<void> {
  for (const { state, attempts = 0, lastError = 'refused', availableAt = 0, ...event } of rows) {
    const bucket = event.bucket ?? bucketOf(event.payment_id)
    await db
      .insertInto('outbox_events')
      .values({ ...event, bucket })
      .execute()
    const { id } = await db
      .selectFrom('outbox_events')
      .select('id')
      .where('event_id', '=', event.event_id)
      .executeTakeFirstOrThrow()
    if (state === 'PENDING') await db.insertInto('outbox_pending').values({ id, bucket }).execute()
    if (state === 'RETRY') {
      await db
        .insertInto('outbox_retries')
        .values({ id, bucket, attempts, available_at: availableAt, last_error: lastError })
        .execute()
    }
    if (state === 'DEAD') {
      await db.insertInto('outbox_dead').values({ id, attempts, last_error: lastError, dead_at: 0 }).execute()
    }
  }
}

/** Every outbox row in id order with where it stands and the attempts and error its queue records. */
export async function outboxRows(db: Kysely<Database>): Promise<
  {
    eventId: string
    paymentId: string
    sequence: number
    state: OutboxState
    attempts: number
    lastError: string | null
  }[]
> {
  const events = await db
    .selectFrom('outbox_events')
    .select(['id', 'event_id', 'payment_id', 'sequence'])
    .orderBy('id')
    .execute()
  const pending = new Set(
    (await db.selectFrom('outbox_pending').select('id').execute()).map((r) => Number(r.id)),
  )
  const retries = new Map(
    (await db.selectFrom('outbox_retries').selectAll().execute()).map((r) => [Number(r.id), r] as const),
  )
  const dead = new Map(
    (await db.selectFrom('outbox_dead').selectAll().execute()).map((r) => [Number(r.id), r] as const),
  )
  return events.map((event) => {
    const id = Number(event.id)
    const queued = retries.get(id) ?? dead.get(id)
    return {
      eventId: event.event_id,
      paymentId: event.payment_id,
      sequence: event.sequence,
      state: pending.has(id) ? 'PENDING' : retries.has(id) ? 'RETRY' : dead.has(id) ? 'DEAD' : 'PUBLISHED',
      attempts: queued?.attempts ?? 0,
      lastError: queued?.last_error ?? null,
    }
  })
}
