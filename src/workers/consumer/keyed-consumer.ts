// Why we wrote this ourselves: no Node.js Kafka library gives key-ordered parallelism with
// contiguous offset commits. KafkaJS runs at most one batch per partition at a time
// (partitionsConsumedConcurrently), node-rdkafka and @platformatic/kafka hand out a stream of
// records and commit the fetch position; with any of them parallelism stops at the partition
// count (6 here), and running a partition's records in parallel means tracking yourself which
// offsets are safe to commit. Confluent's parallel-consumer does exactly this, for Java only.
// So this module keeps @platformatic/kafka for the consumer group (membership, assignment,
// fetching) and adds the rest: per-key queues, an offset tracker per partition, retries, dead
// letters, and a rebalance hook that finishes and commits revoked work before it moves.

import { PayrailError } from '../../domain/errors.ts'
import { isKafkaOutage } from '../../kafka/errors.ts'
import type { Logger } from '../../observability/logger.ts'
import { Committer } from './committer.ts'
import { type DeadLetterSink, KafkaDeadLetterSink } from './dead-letter.ts'
import { type Kafka, type KafkaMessage, KafkaSession } from './kafka-session.ts'
import { KeyScheduler, type Settlement, type Task } from './key-scheduler.ts'
import { lagSeconds } from './lag-seconds.ts'
import type { ConsumerObserver } from './observer.ts'
import { type KeyedConsumerOptions, type ResolvedConsumerOptions, resolveConsumerOptions } from './options.ts'
import type { PartitionClaim } from './partition-claim.ts'
import { PartitionClaims } from './partition-claims.ts'

/** What a consumer is doing, for health checks and tests. */
export interface ConsumerStatus {
  state: 'new' | 'starting' | 'running' | 'restarting' | 'closing' | 'closed'
  /** Records whose handler is running or which wait to be retried. */
  inFlight: number
  /** Records waiting behind an earlier record of their key, or for their partition's start. */
  queued: number
  partitions: {
    topic: string
    partition: number
    status: PartitionClaim['status']
    position: bigint | undefined
  }[]
}

/**
 * A Kafka consumer-group member that runs records in parallel, up to `concurrency`, across and
 * within partitions, while records with the same key run one at a time in offset order (a key
 * seen on several of its topics or partitions also runs one record at a time).
 *
 * - Offsets: each partition commits only up to its oldest unfinished record (`OffsetTracker`),
 *   every `commitIntervalMs`, when partitions are revoked, and on `close()`. A crash therefore
 *   redelivers, never skips: delivery is at least once.
 * - Flow: records are pulled from the fetch stream only while fewer than `concurrency` are in
 *   flight or queued; above that the stream's buffer fills and fetching stops until work finishes.
 * - Rebalance: the group uses the cooperative-sticky protocol, so only partitions that move are
 *   revoked. Before this member rejoins, nothing new is taken from the revoked partitions, the
 *   records already taken get `revokeTimeoutMs` to finish (those waiting for a retry are given
 *   up at once; at the deadline the rest are aborted through their signal), and what finished is
 *   committed: the next owner starts exactly after it, and, as long as handlers stop when their
 *   signal aborts, never runs a key while this member still does.
 * - Failures: see `KeyScheduler` (retries, dead letters, outages).
 * - Kafka session failures (stream or group errors): everything in flight is wound down like a
 *   revoke and a new session is started with backoff, until `close()`.
 */
export class KeyedConsumer {
  readonly #options: ResolvedConsumerOptions
  readonly #log: Logger
  readonly #observer: ConsumerObserver
  readonly #scheduler: KeyScheduler<PartitionClaim>
  readonly #sink: DeadLetterSink
  readonly #ownsSink: boolean
  readonly #session: KafkaSession
  readonly #committer: Committer
  readonly #claims: PartitionClaims
  #state: ConsumerStatus['state'] = 'new'
  #started: Promise<void> | undefined
  #closed: Promise<void> | undefined
  #readCount = 0
  #pumping = false
  #commitTimer: NodeJS.Timeout | undefined
  #lagTimer: NodeJS.Timeout | undefined
  /** Aborted when close() begins: cuts the waits between attempts (session restart, offset reads) short. */
  readonly #closing = new AbortController()

  constructor(options: KeyedConsumerOptions) {
    this.#options = resolveConsumerOptions(options)
    const o = this.#options
    this.#log = o.logger.child({ consumer: o.name, group: o.groupId })
    this.#observer = o.observer
    this.#ownsSink = o.deadLetterSink === undefined
    this.#sink =
      o.deadLetterSink ??
      new KafkaDeadLetterSink({ brokers: o.brokers, clientId: `${o.clientId}-dlq`, topic: o.deadLetterTopic })
    this.#scheduler = new KeyScheduler<PartitionClaim>({
      handler: o.handler,
      policy: {
        maxAttempts: o.maxAttempts,
        retryDelayMs: o.retryDelayMs,
        retryMaxDelayMs: o.retryMaxDelayMs,
        outageDelayMs: o.outageDelayMs,
        outageMaxDelayMs: o.outageMaxDelayMs,
        isOutage: o.isOutage,
        random: o.random,
      },
      observer: o.observer,
      logger: this.#log,
      deadLetter: (task, code, message) =>
        this.#sink.send({
          record: task.record,
          raw: task.raw,
          groupId: o.groupId,
          consumer: o.name,
          errorCode: code,
          errorMessage: message,
          attempts: task.attempts,
        }),
      onSettled: (task, settlement) => this.#settled(task, settlement),
    })
    this.#session = new KafkaSession(
      o,
      this.#log,
      {
        beforeJoin: (consumer) => this.#claims.beforeJoin(consumer),
        joined: (consumer, assignments) => this.#claims.joined(consumer, assignments),
        readable: () => this.#pump(),
        failed: (consumer, error) => this.#sessionFailed(consumer, error),
      },
      this.#closing.signal,
    )
    this.#committer = new Committer(this.#log, this.#session.joins, o.closeTimeoutMs)
    this.#claims = new PartitionClaims({
      options: o,
      log: this.#log,
      observer: o.observer,
      scheduler: this.#scheduler,
      committer: this.#committer,
      session: this.#session,
      closing: this.#closing.signal,
      isClosing: () => this.#state === 'closing',
      readHorizon: () => this.#readCount + (this.#session.stream?.readableLength ?? 0),
      pump: () => this.#pump(),
    })
  }

  /**
   * Joins the group and starts consuming. While Kafka is unreachable it keeps trying (see
   * `#firstSession`); rejects when the first session fails otherwise, or with CONSUMER_CLOSED
   * when close() is called before it joined.
   */
  start(): Promise<void> {
    this.#started ??= this.#start()
    return this.#started
  }

  /**
   * Stops (on SIGTERM): no more fetching; the records already taken (running, or queued behind
   * their key) get `closeTimeoutMs` to finish, those waiting for a retry are given up at once;
   * at the deadline the rest are aborted through their signal and left uncommitted (delivered
   * again). Until it leaves, the consumer stays a full member: a rebalance under way (another
   * member joining) is let finish, within the same `closeTimeoutMs`, partitions it takes away
   * being revoked as usual. Then what finished is committed, and the member leaves the group so
   * that its partitions move at once. When it resolves, the Kafka clients are closed and nothing
   * of the consumer (socket, timer) keeps the process alive.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close()
    return this.#closed
  }

  status(): ConsumerStatus {
    return {
      state: this.#state,
      inFlight: this.#scheduler.inFlight,
      queued: this.#scheduler.queued + this.#claims.parked,
      partitions: this.#claims.all().map((claim) => ({
        topic: claim.topic,
        partition: claim.partition,
        status: claim.status,
        position: claim.tracker?.position,
      })),
    }
  }

  async #start(): Promise<void> {
    if (this.#state !== 'new')
      throw new PayrailError('INTERNAL', `cannot start a consumer that is ${this.#state}`)
    this.#state = 'starting'
    try {
      await this.#firstSession()
    } catch (error) {
      this.#state = 'closed'
      this.#session.close()
      if (this.#ownsSink) await this.#sink.close().catch(() => {})
      throw error
    }
    this.#state = 'running'
    this.#commitTimer = setInterval(() => this.#commitPeriodically(), this.#options.commitIntervalMs)
    this.#lagTimer = setInterval(() => void this.#measureLag(), this.#options.lagIntervalMs)
    this.#commitTimer.unref()
    this.#lagTimer.unref()
    this.#log.info(
      { topics: this.#options.topics, concurrency: this.#options.concurrency },
      'consumer started',
    )
    this.#pump()
  }

  /**
   * Joins the group for the first time. Kafka being unreachable, or the join failing with it
   * (a broker killed during a rebalance), is waited out with the restarts' backoff, as Kafka's
   * own clients do, until it answers or close() is called; any other failure rejects at once.
   */
  async #firstSession(): Promise<void> {
    const closing = this.#closing.signal
    const closed = () =>
      new PayrailError('CONSUMER_CLOSED', 'the consumer was closed before it could join its group')
    try {
      await this.#session.connect()
      return
    } catch (error) {
      if (closing.aborted) throw closed()
      if (!isKafkaOutage(error)) throw error
      this.#log.warn({ err: error }, 'Kafka is unreachable; the consumer keeps trying to join its group')
    }
    const attempt = await this.#session.reconnect(() => !closing.aborted, isKafkaOutage)
    if (attempt === undefined) throw closed()
    this.#log.info({ attempt }, 'Kafka answered; the consumer joined its group')
  }

  /** Pulls records while there is room: fetching stops by itself once the stream's buffer is full. */
  #pump(): void {
    const stream = this.#session.stream
    if (stream === undefined || this.#state !== 'running' || this.#pumping) return
    this.#pumping = true
    try {
      while (this.#load() < this.#options.concurrency) {
        const message = stream.read() as KafkaMessage | null
        if (message === null) break
        this.#readCount++
        this.#claims.take(message, this.#readCount)
      }
    } finally {
      this.#pumping = false
    }
  }

  #load(): number {
    return this.#scheduler.inFlight + this.#scheduler.queued + this.#claims.parked
  }

  #settled(task: Task<PartitionClaim>, settlement: Settlement): void {
    if (settlement === 'finished') task.owner.tracker?.finish(task.record.offset)
    this.#pump()
  }

  #commitPeriodically(): void {
    const consumer = this.#session.consumer
    if (consumer === undefined || this.#state !== 'running') return
    this.#committer.commitPeriodically(consumer, this.#claims.active())
  }

  async #measureLag(): Promise<void> {
    const consumer = this.#session.consumer
    if (consumer === undefined || this.#state !== 'running') return
    try {
      const ends = await consumer.listOffsets({ topics: this.#options.topics })
      for (const claim of this.#claims.active()) {
        const end = ends.get(claim.topic)?.[claim.partition]
        const tracker = claim.tracker
        const position = tracker?.position
        if (end === undefined || tracker === undefined || position === undefined) continue
        const records = Math.max(0, Number(end - position))
        const oldest = tracker.oldestUncommittedTimestamp(claim.committed)
        const seconds = lagSeconds(records, oldest, tracker.newestTimestamp, Date.now())
        this.#observer.lag(claim.topic, claim.partition, records, seconds)
      }
    } catch (error) {
      this.#log.debug({ err: error }, 'could not measure the lag')
    }
  }

  /** The session broke (fetch stream or group membership): wind it down and start another. */
  #sessionFailed(consumer: Kafka, error: unknown): void {
    if (!this.#session.isCurrent(consumer) || this.#state !== 'running') return
    this.#log.error({ err: error }, 'Kafka session failed; starting a new one')
    this.#state = 'restarting'
    this.#restart(consumer).catch((restartError: unknown) => {
      this.#log.error({ err: restartError }, 'the Kafka session could not be restarted; the consumer stops')
      void this.close()
    })
  }

  async #restart(consumer: Kafka): Promise<void> {
    const stream = this.#session.detachStream()
    await this.#claims.revoke(consumer, this.#claims.owned(), this.#options.revokeTimeoutMs)
    await this.#session.release(consumer, stream)
    const attempt = await this.#session.reconnect(() => this.#state === 'restarting')
    if (attempt === undefined || this.#state !== 'restarting') return
    this.#state = 'running'
    this.#log.info({ attempt }, 'Kafka session restored')
    this.#pump()
  }

  async #close(): Promise<void> {
    // A start still waiting for Kafka ends now (start() rejects with CONSUMER_CLOSED).
    if (this.#state === 'starting') this.#closing.abort()
    await this.#started?.catch(() => {})
    if (this.#state === 'closed' || this.#state === 'new') {
      this.#state = 'closed'
      this.#session.close()
      if (this.#ownsSink) await this.#sink.close().catch(() => {})
      return
    }
    this.#state = 'closing'
    const deadline = Date.now() + this.#options.closeTimeoutMs
    this.#closing.abort()
    await this.#session.connecting?.catch(() => {})
    clearInterval(this.#commitTimer)
    clearInterval(this.#lagTimer)
    const consumer = this.#session.consumer
    // Nothing more is fetched, but the stream stays open until the member has left: closing it
    // makes the library drop the topics from this member's subscription, and a rebalance
    // meanwhile would hand its partitions to others without a revoke, while their records still
    // run here and before they are committed.
    const stream = this.#session.detachStream()

    const all = () => true
    this.#claims.dropParked()
    this.#scheduler.drain(all)
    const idle = await this.#scheduler.whenIdle(all, Math.max(0, deadline - Date.now()))
    if (!idle) {
      const aborted = this.#scheduler.abort(all)
      this.#log.warn(
        { aborted, timeoutMs: this.#options.closeTimeoutMs },
        'records did not finish before the stop deadline; aborted, they will be delivered again',
      )
    }
    if (consumer !== undefined && !consumer.closed) {
      // (A consumer let go by a restart under way has nothing left to commit.)
      if (!this.#session.isReleased(consumer))
        await this.#committer.commitBeforeLeaving(consumer, deadline, () => this.#claims.active())
      await this.#session.release(consumer, stream)
    }
    this.#claims.forgetAll()
    this.#session.close()
    if (this.#ownsSink) await this.#sink.close().catch(() => {})
    this.#state = 'closed'
    this.#log.info('consumer closed')
  }
}
