import { setTimeout as sleep } from 'node:timers/promises'
import { Consumer, type Message, type MessagesStream } from '@platformatic/kafka'
import { PayrailError } from '../../domain/errors.ts'
import type { Logger } from '../../observability/logger.ts'
import { backoff } from '../../runtime/backoff.ts'
import { withDeadline } from '../../runtime/deadline.ts'
import { GroupJoins } from './group-joins.ts'
import type { ResolvedConsumerOptions } from './options.ts'

type Bytes = Buffer
/** The @platformatic/kafka consumer client, on raw bytes. */
export type Kafka = Consumer<Bytes, Bytes, Bytes, Bytes>
/** Its fetch stream. */
export type Stream = MessagesStream<Bytes, Bytes, Bytes, Bytes>
/** One fetched record, as the library gives it. */
export type KafkaMessage = Message<Bytes, Bytes, Bytes, Bytes>
/** A member's share of the topics after a join. */
export interface Assignment {
  topic: string
  partitions: number[]
}

/** What a session tells its consumer. */
export interface SessionEvents {
  /** Runs before every JoinGroup of `consumer`: revoked partitions are given back here. */
  beforeJoin: (consumer: Kafka) => Promise<void>
  /** The group gave `consumer` its partitions (after every completed rebalance). */
  joined: (consumer: Kafka, assignments: Assignment[]) => void
  /** The fetch stream has records to read. */
  readable: () => void
  /** The session broke: its fetch stream or its group membership failed. */
  failed: (consumer: Kafka, error: unknown) => void
}

const COOPERATIVE_STICKY = { name: 'cooperative-sticky', version: 3 }
const RESTART_MAX_DELAY_MS = 30_000
/** How long leaving the group, and then a join still under way, may take before the client is closed anyway. */
const LEAVE_TIMEOUT_MS = 5000

/**
 * The consumer's Kafka session: one group member (a @platformatic/kafka client) and its fetch
 * stream at a time. `connect()` sets one up, `reconnect()` sets up another (with backoff) after
 * one failed, `release()` lets a client go (leaves the group, closes it and its stream) so that
 * nothing of it keeps running, `close()` stops watching the group's joins.
 */
export class KafkaSession {
  /** The group joins under way, per client: listened to from the first `connect()` to `close()`. */
  readonly joins = new GroupJoins()
  readonly #options: ResolvedConsumerOptions
  readonly #log: Logger
  readonly #events: SessionEvents
  readonly #closing: AbortSignal
  #consumer: Kafka | undefined
  #stream: Stream | undefined
  #connecting: Promise<void> | undefined
  /** Kafka clients being let go (`release`): they must not join the group again. */
  readonly #released = new WeakSet<Kafka>()
  readonly #releasing = new WeakMap<Kafka, Promise<void>>()

  /** `closing` aborts when the consumer's close() begins: it cuts the waits between reconnects short. */
  constructor(options: ResolvedConsumerOptions, log: Logger, events: SessionEvents, closing: AbortSignal) {
    this.#options = options
    this.#log = log
    this.#events = events
    this.#closing = closing
  }

  /** The current session's client (it may be being let go). */
  get consumer(): Kafka | undefined {
    return this.#consumer
  }

  /** The current session's fetch stream, until `detachStream()`. */
  get stream(): Stream | undefined {
    return this.#stream
  }

  /** The `connect()` under way, if any. */
  get connecting(): Promise<void> | undefined {
    return this.#connecting
  }

  /** Whether this client is the current session's. */
  isCurrent(consumer: Kafka): boolean {
    return consumer === this.#consumer
  }

  /** Whether this client is the current session's and is not being let go. */
  inUse(consumer: Kafka): boolean {
    return consumer === this.#consumer && !this.#released.has(consumer) && !this.#closing.aborted
  }

  /** Whether this client is being (or was) let go. */
  isReleased(consumer: Kafka): boolean {
    return this.#released.has(consumer)
  }

  /** Stops fetching and forgets the stream (it stays open until `release`); returns it. */
  detachStream(): Stream | undefined {
    const stream = this.#stream
    this.#stream = undefined
    stream?.pause()
    return stream
  }

  /** Sets up a session: a group member and its fetch stream; rejects when it cannot. */
  connect(): Promise<void> {
    this.joins.start()
    const connecting = this.#connect()
    this.#connecting = connecting
    const done = () => {
      if (this.#connecting === connecting) this.#connecting = undefined
    }
    connecting.then(done, done)
    return connecting
  }

  /**
   * Sets up a new session after one failed, with backoff, for as long as `wanted()` holds;
   * resolves with the attempt that succeeded, or undefined once no longer wanted. A failure
   * that `retryable` refuses rejects at once.
   */
  async reconnect(
    wanted: () => boolean,
    retryable: (error: unknown) => boolean = () => true,
  ): Promise<number | undefined> {
    const o = this.#options
    for (let attempt = 1; wanted(); attempt++) {
      await sleep(backoff(attempt, o.restartDelayMs, RESTART_MAX_DELAY_MS, o.random), undefined, {
        signal: this.#closing,
      }).catch(() => {})
      if (!wanted()) return undefined
      try {
        await this.connect()
        return attempt
      } catch (connectError) {
        if (!wanted()) return undefined
        if (!retryable(connectError)) throw connectError
        this.#log.warn({ err: connectError, attempt }, 'could not start a new Kafka session; trying again')
      }
    }
    return undefined
  }

  /** Stops watching the group's joins; call once every client has been released. */
  close(): void {
    this.joins.close()
  }

  async #connect(): Promise<void> {
    const o = this.#options
    const consumer: Kafka = new Consumer<Bytes, Bytes, Bytes, Bytes>({
      clientId: o.clientId,
      bootstrapBrokers: o.brokers,
      groupId: o.groupId,
      autocommit: false,
      sessionTimeout: o.sessionTimeoutMs,
      rebalanceTimeout: o.rebalanceTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      protocols: [COOPERATIVE_STICKY],
      // Called before every JoinGroup: the only place where this member can finish the work of
      // revoked partitions before anyone else gets them (the library has no revoke callback;
      // under the KIP-848 protocol it does not even tell of a revoke:
      // https://github.com/platformatic/kafka/issues/339).
      protocolsMetadata: async () => {
        this.#refuseJoinOnceReleased(consumer)
        try {
          await this.#events.beforeJoin(consumer)
        } catch (error) {
          this.#log.error({ err: error }, 'could not give revoked partitions back cleanly')
        }
        this.#refuseJoinOnceReleased(consumer)
        return Buffer.alloc(0)
      },
      maxWaitTime: o.fetchMaxWaitMs,
      maxBytes: o.fetchMaxBytes,
    })
    consumer.on('consumer:group:join', (payload) => this.#events.joined(consumer, payload.assignments ?? []))
    consumer.on('error', (error: unknown) => this.#events.failed(consumer, error))
    this.#consumer = consumer
    // With the broker down, one attempt takes about 3 s (the library retries 3 times, 1 s apart)
    // and a join into a rebalancing group up to rebalanceTimeoutMs: close() must not wait for
    // that. Closing the client ends its retry timers and fails its requests at once.
    let cut = false
    const cutShort = () => {
      cut = true
      consumer.close(true).catch((error: unknown) => {
        this.#log.debug({ err: error }, 'could not close the Kafka client that was connecting')
      })
    }
    this.#closing.addEventListener('abort', cutShort, { once: true })
    if (this.#closing.aborted) cutShort()
    let stream: Stream
    try {
      stream = await consumer.consume({
        topics: o.topics,
        mode: 'committed',
        fallbackMode: o.startFrom,
        autocommit: false,
        maxWaitTime: o.fetchMaxWaitMs,
        maxBytes: o.fetchMaxBytes,
        highWaterMark: Math.min(Math.max(o.concurrency, 16), 1024),
      })
    } catch (error) {
      await consumer.close(true).catch(() => {})
      throw error
    } finally {
      this.#closing.removeEventListener('abort', cutShort)
    }
    if (cut) {
      // The join ended in the same turn as the close: its stream belongs to a closed client.
      stream.destroy()
      throw new PayrailError('CONSUMER_CLOSED', 'the consumer was closed while it joined its group')
    }
    this.#stream = stream
    stream.on('readable', () => this.#events.readable())
    stream.on('error', (error: unknown) => this.#events.failed(consumer, error))
    stream.on('close', () => {
      if (this.#stream === stream) this.#events.failed(consumer, new Error('the fetch stream closed'))
    })
  }

  /**
   * Leaves the group and closes a Kafka client (and its fetch stream) so that nothing of it is
   * left running: no socket, no timer. Called with no join under way (see
   * `Committer.commitBeforeLeaving`) the LeaveGroup is answered at once; otherwise the library
   * ignores the join's answers from the moment `leaveGroup` is called, and the client is closed
   * only once that join has ended, because one cut short by `close()` leaves a timer behind (see
   * group-joins.ts).
   */
  release(consumer: Kafka, stream: Stream | undefined): Promise<void> {
    let releasing = this.#releasing.get(consumer)
    if (releasing === undefined) {
      releasing = this.#letGo(consumer, stream)
      this.#releasing.set(consumer, releasing)
    }
    return releasing
  }

  /**
   * How @platformatic/kafka 2.12.1 must be driven here:
   * - `leaveGroup(true)` makes the membership inactive at once (no heartbeat, no rejoin), then
   *   closes the client's streams, then sends the LeaveGroup: closing a stream first would drop
   *   its topics from the subscription, and a rejoin meanwhile would subscribe to nothing.
   * - A stream must be closed by a single `close()` call. A second call, made while the first
   *   waits for the stream to end, runs every pending close callback at once, before the stream
   *   has closed: the library's leave, called back, finds the stream still registered and fails
   *   ("Cannot leave group while consuming messages"), turning the membership active again with
   *   its heartbeat still scheduled; `close()` then fails the same way and the client stays
   *   half-open, a member of the group whose timers keep the process alive. Before the stream's
   *   first fetch (right after start) its connection pool is empty and this happens every time.
   *   So the stream is closed here only when `leaveGroup` did not (the member had no member id,
   *   or the leave failed before it got there), and only waited for while `leaveGroup` may still
   *   be closing it.
   * - `close()` leaves the group if the LeaveGroup failed; should that fail too, the client's
   *   connections are closed first, so that `close()` finds no coordinator connection and closes
   *   without leaving (the group then moves the partitions after the session timeout).
   */
  async #letGo(consumer: Kafka, stream: Stream | undefined): Promise<void> {
    this.#released.add(consumer)
    if (consumer.closed) return
    // (The typings pick the callback overload of leaveGroup, hence no promise form here.)
    let calledBack = false
    const leaving = new Promise<void>((resolve, reject) =>
      consumer.leaveGroup(true, (error) => {
        calledBack = true
        if (error) reject(error)
        else resolve()
      }),
    )
    try {
      await withDeadline(leaving, LEAVE_TIMEOUT_MS, () => {
        throw new PayrailError(
          'KAFKA_UNAVAILABLE',
          `leaving the group did not complete within ${LEAVE_TIMEOUT_MS} ms`,
        )
      })
    } catch (error) {
      this.#log.warn(
        { err: error },
        'could not leave the group cleanly; the group moves the partitions after the session timeout',
      )
    }
    // Once `leaveGroup` called back it no longer closes the stream: one it left open is closed
    // here; one it may still be closing (it timed out) is only waited for.
    await this.#closeStream(stream, calledBack)
    if (!(await this.joins.noneUnderWay(consumer, LEAVE_TIMEOUT_MS)))
      this.#log.warn('a group join was still under way when the Kafka client was closed')
    try {
      await consumer.close()
    } catch (error) {
      this.#log.warn(
        { err: error },
        'could not leave the group on close; closing the Kafka client all the same',
      )
      await consumer.connections.close().catch(() => {})
      await consumer.close().catch((closeError: unknown) => {
        this.#log.warn({ err: closeError }, 'could not close the Kafka client cleanly')
      })
    }
    // A stream stuck in its start (reading offsets) ends once the client's connections are closed.
    if (stream !== undefined && !stream.closed) await untilClosed(stream, LEAVE_TIMEOUT_MS)
  }

  /**
   * Closes a fetch stream (unless `mayClose` is false: someone else is closing it), waits for it
   * to be closed, and destroys it if it does not close in time.
   */
  async #closeStream(stream: Stream | undefined, mayClose: boolean): Promise<void> {
    if (stream === undefined || stream.closed) return
    if (mayClose && !stream.destroyed)
      stream.close().catch((error: unknown) => this.#log.warn({ err: error }, 'could not close the stream'))
    if (await untilClosed(stream, LEAVE_TIMEOUT_MS)) return
    this.#log.warn('the fetch stream did not close in time; destroyed')
    stream.destroy()
    await untilClosed(stream, LEAVE_TIMEOUT_MS)
  }

  /** A client being let go must not join the group again: the broker would wait for it. */
  #refuseJoinOnceReleased(consumer: Kafka): void {
    if (this.#released.has(consumer))
      throw new Error('the consumer is leaving the group; it does not join again')
  }
}

/** Resolves true once the stream has emitted `close`, false if `timeoutMs` passes first. */
function untilClosed(stream: Stream, timeoutMs: number): Promise<boolean> {
  if (stream.closed) return Promise.resolve(true)
  let onClose = () => {}
  const closed = new Promise<boolean>((resolve) => {
    onClose = () => resolve(true)
    stream.on('close', onClose)
  })
  return withDeadline(closed, timeoutMs, () => false).finally(() => stream.off('close', onClose))
}
