import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'
import { DEAD_LETTER_HEADERS, ReliableProducer } from '../kafka/producer.ts'
import { type RawMessage, type ReadTopicOptions, readTopicToEnd } from '../kafka/read-topic.ts'
import { TOPICS } from '../kafka/topics.ts'

/**
 * A record a worker gave up on, as it sits in payment.dlq. Its id is its place there,
 * `<partition>:<offset>`: unique and stable (a topic is append-only), and it names records that
 * carry no event id at all (a poison record). The relay's dead letters are listed from
 * `outbox_dead` instead, by event id.
 */
export interface ConsumerDeadLetter {
  id: string
  /** The consumer (handler) that gave up: settlement, refund or ledger. */
  failedBy: string
  consumerGroup: string
  originalTopic: string
  originalPartition: number | null
  originalOffset: string | null
  errorCode: string
  errorMessage: string
  attempts: number
  key: string | null
  /** The envelope's eventId and paymentId; null when the value is not an envelope. */
  eventId: string | null
  paymentId: string | null
  /** The consumer has applied the event since (replayed, or delivered again): nothing left to do. */
  applied: boolean
  /** Every header of the dead letter, the record's own and the dead-letter ones. */
  headers: Record<string, string>
  /** When it was dead-lettered, epoch ms. */
  timestamp: number
  /** The record's value: parsed when it is JSON (an envelope), else its text; null when empty. */
  payload: unknown
}

/** Where payment.dlq is, and the whole read's (or replay's) time limit. */
export type DeadLetterTopicOptions = ReadTopicOptions

const ID = /^(\d+):(\d+)$/

/** Whether `id` names a consumer dead letter (`<partition>:<offset>`) rather than an event id. */
export function isConsumerDeadLetterId(id: string): boolean {
  return ID.test(id)
}

interface Read {
  message: RawMessage
  headers: Record<string, string>
}

/** payment.dlq as it is now; a topic nothing was ever dead-lettered to holds no dead letters. */
async function readDeadLetterTopic(options: DeadLetterTopicOptions): Promise<Read[]> {
  const messages = (await readTopicToEnd(TOPICS.dlq.name, options)) ?? []
  return messages.map((message) => {
    const headers: Record<string, string> = {}
    for (const [name, value] of message.headers) headers[name.toString('utf8')] = value.toString('utf8')
    return { message, headers }
  })
}

function envelopeIds(value: Buffer | undefined | null): { eventId: string | null; paymentId: string | null } {
  try {
    const parsed = JSON.parse(value?.toString('utf8') ?? '') as { eventId?: unknown; paymentId?: unknown }
    return {
      eventId: typeof parsed.eventId === 'string' ? parsed.eventId : null,
      paymentId: typeof parsed.paymentId === 'string' ? parsed.paymentId : null,
    }
  } catch {
    return { eventId: null, paymentId: null }
  }
}

function payloadOf(value: Buffer | undefined | null): unknown {
  if (value === undefined || value === null || value.length === 0) return null
  const text = value.toString('utf8')
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

function letterOf(read: Read, applied: boolean): ConsumerDeadLetter {
  const h = read.headers
  const { eventId, paymentId } = envelopeIds(read.message.value)
  const partition = h[DEAD_LETTER_HEADERS.originalPartition]
  return {
    id: `${read.message.partition}:${read.message.offset}`,
    failedBy: h[DEAD_LETTER_HEADERS.failedBy] ?? '',
    consumerGroup: h[DEAD_LETTER_HEADERS.consumerGroup] ?? '',
    originalTopic: h[DEAD_LETTER_HEADERS.originalTopic] ?? '',
    originalPartition: partition === undefined ? null : Number(partition),
    originalOffset: h[DEAD_LETTER_HEADERS.originalOffset] ?? null,
    errorCode: h[DEAD_LETTER_HEADERS.errorCode] ?? '',
    errorMessage: h[DEAD_LETTER_HEADERS.errorMessage] ?? '',
    attempts: Number(h[DEAD_LETTER_HEADERS.attempts] ?? 0),
    key:
      read.message.key === undefined || read.message.key === null ? null : read.message.key.toString('utf8'),
    eventId,
    paymentId,
    applied,
    headers: h,
    timestamp: Number(read.message.timestamp),
    payload: payloadOf(read.message.value),
  }
}

/** A consumer's dead letter carries `consumer-group`; the relay's says `failed-by: relay` and has none. */
function isConsumers(read: Read): boolean {
  return (
    read.headers[DEAD_LETTER_HEADERS.failedBy] !== 'relay' &&
    DEAD_LETTER_HEADERS.consumerGroup in read.headers
  )
}

async function withApplied(db: Kysely<Database>, reads: Read[]): Promise<ConsumerDeadLetter[]> {
  const letters: ConsumerDeadLetter[] = []
  for (const read of reads) {
    const { eventId } = envelopeIds(read.message.value)
    const consumer = read.headers[DEAD_LETTER_HEADERS.failedBy] ?? ''
    const applied =
      eventId !== null &&
      (await db
        .selectFrom('processed_events')
        .select('event_id')
        .where('consumer', '=', consumer)
        .where('event_id', '=', eventId)
        .executeTakeFirst()) !== undefined
    letters.push(letterOf(read, applied))
  }
  return letters
}

/** Which of `paymentIds` this database holds. */
async function knownPayments(db: Kysely<Database>, paymentIds: string[]): Promise<Set<string>> {
  const known = new Set<string>()
  const unique = [...new Set(paymentIds)]
  for (let i = 0; i < unique.length; i += 500) {
    const rows = await db
      .selectFrom('payments')
      .select('id')
      .where('id', 'in', unique.slice(i, i + 500))
      .execute()
    for (const row of rows) known.add(row.id)
  }
  return known
}

/** The workers' dead letters in payment.dlq, oldest first (by time, then place), at most `limit`. */
export async function listConsumerDeadLetters(
  db: Kysely<Database>,
  options: DeadLetterTopicOptions & { limit?: number },
): Promise<ConsumerDeadLetter[]> {
  return (await pageConsumerDeadLetters(db, options)).items
}

/** A page of `listConsumerDeadLetters` (`limit` from `offset`) and how many there are in all. */
export async function pageConsumerDeadLetters(
  db: Kysely<Database>,
  options: DeadLetterTopicOptions & { limit?: number; offset?: number },
): Promise<{ items: ConsumerDeadLetter[]; total: number }> {
  const reads = (await readDeadLetterTopic(options)).filter(isConsumers)
  reads.sort(
    (a, b) => Number(a.message.timestamp - b.message.timestamp) || a.message.partition - b.message.partition,
  )
  const offset = options.offset ?? 0
  return {
    items: await withApplied(db, reads.slice(offset, offset + (options.limit ?? 100))),
    total: reads.length,
  }
}

/**
 * Publishes consumer dead letters again to their original topics, with their key, value and
 * their own headers (the dead-letter ones dropped, `replayed-from` added). The handlers apply an
 * event once per consumer (processed_events), so a replay of an event that was applied meanwhile
 * changes nothing. `'all'` replays each event not applied yet once (its latest dead letter) and
 * skips records that are no envelope, and events of payments this database does not hold (another
 * deployment's, on a shared broker): they would only fail again. Returns how many went out.
 */
export async function replayConsumerDeadLetters(
  db: Kysely<Database>,
  which: { id: string } | 'all',
  options: DeadLetterTopicOptions,
): Promise<number> {
  const reads = (await readDeadLetterTopic(options)).filter(isConsumers)
  let chosen: Read[]
  if (which === 'all') {
    const letters = (await withApplied(db, reads)).filter(
      (letter) => !letter.applied && letter.eventId !== null,
    )
    const known = await knownPayments(
      db,
      letters.map((letter) => letter.paymentId as string),
    )
    const latest = new Map<string, Read>()
    for (const letter of letters) {
      if (!known.has(letter.paymentId as string)) continue
      const read = reads.find((r) => `${r.message.partition}:${r.message.offset}` === letter.id) as Read
      latest.set(`${letter.failedBy}/${letter.eventId}`, read)
    }
    chosen = [...latest.values()]
  } else {
    chosen = reads.filter((read) => `${read.message.partition}:${read.message.offset}` === which.id)
  }
  if (chosen.length === 0) return 0
  const ours = new Set<string>(Object.values(DEAD_LETTER_HEADERS))
  const producer = new ReliableProducer({
    brokers: options.brokers,
    clientId: `${options.clientId}-dlq-replay`,
  })
  try {
    await producer.send(
      chosen.map((read) => {
        const headers = new Map<Buffer, Buffer>()
        for (const [name, value] of Object.entries(read.headers))
          if (!ours.has(name)) headers.set(Buffer.from(name), Buffer.from(value))
        headers.set(
          Buffer.from('replayed-from'),
          Buffer.from(`${TOPICS.dlq.name}:${read.message.partition}:${read.message.offset}`),
        )
        return {
          topic: read.headers[DEAD_LETTER_HEADERS.originalTopic] as string,
          key: read.message.key ?? undefined,
          value: read.message.value ?? undefined,
          headers,
        }
      }),
      `${chosen.length} replayed dead letters`,
    )
  } finally {
    await producer.close()
  }
  return chosen.length
}
