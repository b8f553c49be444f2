import type { Message } from '@platformatic/kafka'

/** A Kafka record as a handler sees it. */
export interface ConsumedRecord {
  readonly topic: string
  readonly partition: number
  readonly offset: bigint
  /** Milliseconds since the epoch, as the producer (or broker) stamped it. */
  readonly timestamp: bigint
  /** The key as UTF-8 (payrail keys records by payment id); null when the record has none. */
  readonly key: string | null
  /** The value as UTF-8 (payrail's event envelope, JSON); null for a tombstone. */
  readonly value: string | null
  /** Headers as UTF-8 (`event-id`, `event-type`, `traceparent`…); a repeated name keeps its last value. */
  readonly headers: ReadonlyMap<string, string>
}

/** The record's bytes exactly as fetched, so that the dead-letter copy is the original. */
export interface RawRecord {
  key: Buffer | null
  value: Buffer | null
  headers: [Buffer, Buffer][]
}

/**
 * Both views of a fetched record. The bytes are copied: the fetched ones are slices of the whole
 * fetch response, which would otherwise stay in memory as long as any of its records does.
 */
export function fromMessage(message: Message<Buffer, Buffer, Buffer, Buffer>): {
  record: ConsumedRecord
  raw: RawRecord
} {
  const key = copy(message.key)
  const value = copy(message.value)
  const rawHeaders: [Buffer, Buffer][] = []
  const headers = new Map<string, string>()
  for (const [name, content] of message.headerEntries) {
    const nameBytes = copy(name) ?? Buffer.alloc(0)
    const contentBytes = copy(content) ?? Buffer.alloc(0)
    rawHeaders.push([nameBytes, contentBytes])
    headers.set(nameBytes.toString('utf8'), contentBytes.toString('utf8'))
  }
  return {
    record: {
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
      timestamp: message.timestamp,
      key: key === null ? null : key.toString('utf8'),
      value: value === null ? null : value.toString('utf8'),
      headers,
    },
    raw: { key, value, headers: rawHeaders },
  }
}

function copy(bytes: Buffer | null | undefined): Buffer | null {
  return bytes === undefined || bytes === null ? null : Buffer.from(bytes)
}
