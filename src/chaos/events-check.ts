/**
 * Judges the topics against the database: every event the database committed (payment_events)
 * reached the topic of its type at least once (or payment.dlq, for the relay's dead letters),
 * and within every topic each payment's events come in `sequence` order. Kafka delivers at
 * least once, so a record may appear twice (a batch sent again after a relay crash); order is
 * judged on each event's first appearance, and the repeats are counted, not failed.
 */
import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'
import type { EventType } from '../domain/events.ts'
import { readTopicToEnd } from '../kafka/read-topic.ts'
import { PAYMENT_TOPICS, topicOf } from '../kafka/topics.ts'

export interface CommittedEvent {
  eventId: string
  paymentId: string
  sequence: number
  eventType: string
}

/** A record of a payment topic, as far as the checker needs it. */
export interface TopicRecord {
  topic: string
  partition: number
  offset: bigint
  eventId: string
  paymentId: string
  sequence: number
}

export interface EventsVerdict {
  committed: number
  /** Committed events found in the topic of their type. */
  delivered: number
  /** Committed events in neither their topic nor the relay's dead letters. */
  missing: number
  /** Committed events the relay dead-lettered (outbox_dead): in payment.dlq, not lost. */
  deadLettered: number
  /** Records beyond the first of their event in a topic (at-least-once repeats). */
  repeats: number
  /** Events found in a topic other than their type's. */
  misrouted: number
  /** (topic, payment) pairs whose first appearances are not in increasing `sequence`, or span partitions. */
  outOfOrder: number
  /** Up to 5 examples of what went wrong, for the report. */
  examples: string[]
}

/** The pure judgement, so that it can be tested on made-up topics. */
export function judgeEvents(
  committed: readonly CommittedEvent[],
  records: readonly TopicRecord[],
  deadEventIds: ReadonlySet<string>,
): EventsVerdict {
  const examples: string[] = []
  const example = (text: string) => {
    if (examples.length < 5) examples.push(text)
  }
  const wanted = new Map(committed.map((event) => [event.eventId, event]))
  const seen = new Map<string, string>()
  let repeats = 0
  let misrouted = 0
  // Per topic and payment: the partition it was found in and the last first-seen sequence.
  const lanes = new Map<string, { partition: number; last: number; broken: boolean }>()
  const sorted = [...records].sort(
    (a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition || (a.offset < b.offset ? -1 : 1),
  )
  for (const record of sorted) {
    const event = wanted.get(record.eventId)
    if (event === undefined) continue // another run's record, on a shared broker
    if (topicOf[event.eventType as EventType] !== record.topic) {
      misrouted++
      example(`${record.eventId} (${event.eventType}) found in ${record.topic}`)
      continue
    }
    if (seen.has(record.eventId)) {
      repeats++
      continue
    }
    seen.set(record.eventId, record.topic)
    const lane = `${record.topic}/${record.paymentId}`
    const state = lanes.get(lane)
    if (state === undefined) {
      lanes.set(lane, { partition: record.partition, last: record.sequence, broken: false })
      continue
    }
    if (!state.broken && (state.partition !== record.partition || record.sequence <= state.last)) {
      state.broken = true
      example(
        `${lane}: sequence ${record.sequence} at ${record.partition}:${record.offset} after ${state.last} (partition ${state.partition})`,
      )
    }
    state.last = Math.max(state.last, record.sequence)
  }
  let missing = 0
  let deadLettered = 0
  for (const event of committed) {
    if (seen.has(event.eventId)) continue
    if (deadEventIds.has(event.eventId)) deadLettered++
    else {
      missing++
      example(
        `${event.eventId} (${event.eventType}, payment ${event.paymentId} #${event.sequence}) not found`,
      )
    }
  }
  return {
    committed: committed.length,
    delivered: seen.size,
    missing,
    deadLettered,
    repeats,
    misrouted,
    outOfOrder: [...lanes.values()].filter((lane) => lane.broken).length,
    examples,
  }
}

/** Reads every payment topic to its end and judges it against the database's committed events. */
export async function checkEvents(
  db: Kysely<Database>,
  options: { brokers: string[]; timeoutMs?: number },
): Promise<EventsVerdict> {
  const committed = (
    await db
      .selectFrom('payment_events')
      .select(['event_id', 'payment_id', 'sequence', 'event_type'])
      .execute()
  ).map((row) => ({
    eventId: row.event_id,
    paymentId: row.payment_id,
    sequence: Number(row.sequence),
    eventType: row.event_type,
  }))
  const dead = new Set(
    (
      await db
        .selectFrom('outbox_dead')
        .innerJoin('outbox_events', 'outbox_events.id', 'outbox_dead.id')
        .select('outbox_events.event_id')
        .execute()
    ).map((row) => row.event_id),
  )
  const records: TopicRecord[] = []
  for (const topic of PAYMENT_TOPICS) {
    const messages =
      (await readTopicToEnd(topic, {
        brokers: options.brokers,
        clientId: 'payrail-chaos',
        timeoutMs: options.timeoutMs ?? 60_000,
      })) ?? []
    for (const message of messages) {
      try {
        const envelope = JSON.parse(message.value?.toString('utf8') ?? '') as {
          eventId?: unknown
          paymentId?: unknown
          sequence?: unknown
        }
        records.push({
          topic,
          partition: message.partition,
          offset: message.offset,
          eventId: String(envelope.eventId),
          paymentId: String(envelope.paymentId),
          sequence: Number(envelope.sequence),
        })
      } catch {
        // Not an envelope: no event of this database, so nothing to judge.
      }
    }
  }
  return judgeEvents(committed, records, dead)
}
