import { randomBytes } from 'node:crypto'
import { Admin, Consumer, type Message } from '@platformatic/kafka'
import { hasErrorCode, PayrailError } from '../domain/errors.ts'
import { withDeadline } from '../runtime/deadline.ts'

/** A record as read, bytes untouched. */
export type RawMessage = Message<Buffer, Buffer, Buffer, Buffer>

export interface ReadTopicOptions {
  brokers: string[]
  clientId: string
  /** The whole read's time limit. Default: 10000 ms. */
  timeoutMs?: number
}

/**
 * Reads every record `topic` holds now, from its start up to the end offsets taken first, with a
 * consumer group of its own that commits nothing (the topic and every other group are left as
 * they were). Resolves `undefined` when the topic does not exist: for a dead-letter topic that
 * nothing has been written to yet, that is an answer, not a failure. Fails with
 * KAFKA_UNAVAILABLE rather than return less than the topic holds.
 *
 * The reader's group join retries: on a broker that has never seen a group, the first join
 * creates `__consumer_offsets` and the coordinator answers COORDINATOR_NOT_AVAILABLE for about a
 * second (a fresh CI broker did, and a read that gave up at once listed nothing).
 */
export async function readTopicToEnd(
  topic: string,
  options: ReadTopicOptions,
): Promise<RawMessage[] | undefined> {
  const timeoutMs = options.timeoutMs ?? 10_000
  const connection = {
    clientId: `${options.clientId}-reader`,
    bootstrapBrokers: options.brokers,
    timeout: 2000,
    connectTimeout: 2000,
  }
  const admin = new Admin({ ...connection, retries: 0 })
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    ...connection,
    groupId: `${options.clientId}-reader-${randomBytes(4).toString('hex')}`,
    retries: 20,
    retryDelay: 250,
  })
  const read = async (): Promise<RawMessage[] | undefined> => {
    if (!(await admin.listTopics()).includes(topic)) return undefined
    const ends = (await consumer.listOffsets({ topics: [topic] })).get(topic) ?? []
    const left = new Set(ends.flatMap((end, partition) => (end > 0n ? [partition] : [])))
    const messages: RawMessage[] = []
    if (left.size === 0) return messages
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false })
    try {
      for await (const message of stream as AsyncIterable<RawMessage>) {
        if (message.offset < (ends[message.partition] ?? 0n)) messages.push(message)
        if (message.offset + 1n >= (ends[message.partition] ?? 0n)) left.delete(message.partition)
        if (left.size === 0) break
      }
    } finally {
      await stream.close()
    }
    return messages
  }
  try {
    return await withDeadline(read(), timeoutMs, () => {
      throw new PayrailError('KAFKA_UNAVAILABLE', `${topic} could not be read within ${timeoutMs} ms`)
    })
  } catch (error) {
    if (hasErrorCode(error, 'KAFKA_UNAVAILABLE')) throw error
    throw new PayrailError('KAFKA_UNAVAILABLE', `${topic} could not be read: ${(error as Error).message}`, {
      cause: error,
    })
  } finally {
    await Promise.allSettled([consumer.close(true), admin.close()])
  }
}
