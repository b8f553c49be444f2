// Why we wrote this ourselves: no Node.js Kafka library gives key-ordered parallelism with
// contiguous offset commits. KafkaJS runs at most one batch per partition at a time
// (partitionsConsumedConcurrently), node-rdkafka and @platformatic/kafka hand out a stream of
// records and commit the fetch position; with any of them parallelism stops at the partition
// count (6 here), and running a partition's records in parallel means tracking yourself which
// offsets are safe to commit. Confluent's parallel-consumer does exactly this, for Java only.
// So this module keeps @platformatic/kafka for the consumer group (membership, assignment,
// fetching) and adds the rest: per-key queues, an offset tracker per partition, retries, dead
// letters, and a rebalance hook that finishes and commits revoked work before it moves.

import { setTimeout as sleep } from 'node:timers/promises'
import { Consumer, type Message, type MessagesStream } from '@platformatic/kafka'
import { PayrailError } from '../../domain/errors.ts'
import type { Logger } from '../../observability/logger.ts'
import { backoff } from '../../runtime/backoff.ts'
import { type DeadLetterSink, KafkaDeadLetterSink } from './dead-letter.ts'
import { joinsUnderWay, noJoinUnderWay } from './group-joins.ts'
import { KeyScheduler, type Settlement, type Task } from './key-scheduler.ts'
import type { ConsumerObserver } from './observer.ts'
import { OffsetTracker } from './offset-tracker.ts'
import {
  COMMIT_TIMEOUT_MS,
  type KeyedConsumerOptions,
  type ResolvedConsumerOptions,
  resolveConsumerOptions,
} from './options.ts'
import { fromMessage } from './record.ts'

type Bytes = Buffer
type Kafka = Consumer<Bytes, Bytes, Bytes, Bytes>
type Stream = MessagesStream<Bytes, Bytes, Bytes, Bytes>
type KafkaMessage = Message<Bytes, Bytes, Bytes, Bytes>

/** A partition this consumer owns (or is giving back), and the work it took from it. */
interface PartitionClaim {
  readonly id: string
  readonly topic: string
  readonly partition: number
  /**
   * `starting`: assigned, its committed offset not known yet (records are parked);
   * `active`: records are taken and committed; `revoking`: being given back (nothing new is
   * taken, running work may finish and is committed); `gone`: given back or lost.
   */
  status: 'starting' | 'active' | 'revoking' | 'gone'
  tracker: OffsetTracker | undefined
  /** Records read from the stream up to this count were fetched before the claim and are dropped. */
  readonly horizon: number
  parked: KafkaMessage[]
  /** The last position committed (or found committed); undefined when none. */
  committed: bigint | undefined
}

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

const COOPERATIVE_STICKY = { name: 'cooperative-sticky', version: 3 }
/** ListOffsets timestamps that mean the log's first and next offset. */
const EARLIEST = -2n
const LATEST = -1n
const RESTART_MAX_DELAY_MS = 30_000
/** How long leaving the group, and then a join still under way, may take before the client is closed anyway. */
const LEAVE_TIMEOUT_MS = 5000

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
  readonly #claims = new Map<string, PartitionClaim>()
  #state: ConsumerStatus['state'] = 'new'
  #consumer: Kafka | undefined
  #stream: Stream | undefined
  #connecting: Promise<void> | undefined
  #started: Promise<void> | undefined
  #closed: Promise<void> | undefined
  #readCount = 0
  #parked = 0
  #pumping = false
  #committing: Promise<void> = Promise.resolve()
  #commitTimer: NodeJS.Timeout | undefined
  #lagTimer: NodeJS.Timeout | undefined
  /** Aborted when close() begins: cuts the waits between attempts (session restart, offset reads) short. */
  readonly #closing = new AbortController()
  /** Kafka clients being let go (`#release`): they must not join the group again. */
  readonly #released = new WeakSet<Kafka>()
  readonly #releasing = new WeakMap<Kafka, Promise<void>>()

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
  }

  /** Joins the group and starts consuming; rejects when the first session cannot be set up. */
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
      queued: this.#scheduler.queued + this.#parked,
      partitions: [...this.#claims.values()].map((claim) => ({
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
    this.#connecting = this.#connect()
    try {
      await this.#connecting
    } catch (error) {
      this.#state = 'closed'
      if (this.#ownsSink) await this.#sink.close().catch(() => {})
      throw error
    } finally {
      this.#connecting = undefined
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

  /** One Kafka session: a group member and its fetch stream. */
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
      // revoked partitions before anyone else gets them (the library has no revoke callback).
      protocolsMetadata: async () => {
        this.#refuseJoinOnceReleased(consumer)
        try {
          await this.#beforeJoin(consumer)
        } catch (error) {
          this.#log.error({ err: error }, 'could not give revoked partitions back cleanly')
        }
        this.#refuseJoinOnceReleased(consumer)
        return Buffer.alloc(0)
      },
      maxWaitTime: o.fetchMaxWaitMs,
      maxBytes: o.fetchMaxBytes,
    })
    consumer.on('consumer:group:join', (payload) => this.#joined(consumer, payload.assignments ?? []))
    consumer.on('error', (error: unknown) => this.#sessionFailed(consumer, error))
    this.#consumer = consumer
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
    }
    this.#stream = stream
    stream.on('readable', () => this.#pump())
    stream.on('error', (error: unknown) => this.#sessionFailed(consumer, error))
    stream.on('close', () => {
      if (this.#stream === stream) this.#sessionFailed(consumer, new Error('the fetch stream closed'))
    })
  }

  /** Pulls records while there is room: fetching stops by itself once the stream's buffer is full. */
  #pump(): void {
    const stream = this.#stream
    if (stream === undefined || this.#state !== 'running' || this.#pumping) return
    this.#pumping = true
    try {
      while (this.#load() < this.#options.concurrency) {
        const message = stream.read() as KafkaMessage | null
        if (message === null) break
        this.#readCount++
        this.#take(message, this.#readCount)
      }
    } finally {
      this.#pumping = false
    }
  }

  #load(): number {
    return this.#scheduler.inFlight + this.#scheduler.queued + this.#parked
  }

  #take(message: KafkaMessage, index: number): void {
    const claim = this.#claims.get(`${message.topic}:${message.partition}`)
    // Not ours (any more), being given back, or fetched before we got it: the stream fetches it
    // again from the committed offset if it is ours.
    if (claim === undefined || claim.status === 'revoking' || claim.status === 'gone') return
    if (index <= claim.horizon) return
    if (claim.status === 'starting') {
      claim.parked.push(message)
      this.#parked++
      return
    }
    this.#accept(claim, message)
  }

  #accept(claim: PartitionClaim, message: KafkaMessage): void {
    const tracker = claim.tracker as OffsetTracker
    // After every rebalance the stream rewinds to the committed offset: those records are ours already.
    if (!tracker.take(message.offset, message.leaderEpoch)) return
    const { record, raw } = fromMessage(message)
    this.#scheduler.submit(record, raw, claim)
  }

  #settled(task: Task<PartitionClaim>, settlement: Settlement): void {
    if (settlement === 'finished') task.owner.tracker?.finish(task.record.offset)
    this.#pump()
  }

  /** The group gave this member its partitions (after every completed rebalance). */
  #joined(consumer: Kafka, assignments: { topic: string; partitions: number[] }[]): void {
    if (consumer !== this.#consumer) return
    const assigned = new Set<string>()
    for (const { topic, partitions } of assignments) for (const p of partitions) assigned.add(`${topic}:${p}`)
    // Normally revoked before the join (#beforeJoin); a partition missing without that was lost
    // (this member was dropped from the group): its work can neither finish nor be committed.
    for (const claim of [...this.#claims.values()]) {
      if (!assigned.has(claim.id) && claim.status !== 'revoking') this.#lose(claim)
    }
    const horizon = this.#readCount + (this.#stream?.readableLength ?? 0)
    const fresh: PartitionClaim[] = []
    // A closing member takes nothing new: the partitions move on when it leaves, a moment later.
    for (const { topic, partitions } of this.#state === 'closing' ? [] : assignments) {
      for (const partition of partitions) {
        const id = `${topic}:${partition}`
        const existing = this.#claims.get(id)
        if (existing !== undefined && existing.status !== 'revoking') continue
        const claim: PartitionClaim = {
          id,
          topic,
          partition,
          status: 'starting',
          tracker: undefined,
          horizon,
          parked: [],
          committed: undefined,
        }
        this.#claims.set(id, claim)
        fresh.push(claim)
      }
    }
    this.#observer.assigned(this.#ownedCount())
    this.#log.info(
      { assigned: [...assigned].sort(), added: fresh.map((claim) => claim.id) },
      'partitions assigned',
    )
    if (fresh.length > 0) void this.#findStarts(consumer, fresh)
  }

  /** Reads the committed offsets of newly assigned partitions: where their trackers start. */
  async #findStarts(consumer: Kafka, claims: PartitionClaim[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const pending = claims.filter((claim) => claim.status === 'starting')
      if (pending.length === 0 || !this.#inUse(consumer)) return
      try {
        const byTopic = new Map<string, number[]>()
        for (const claim of pending)
          byTopic.set(claim.topic, [...(byTopic.get(claim.topic) ?? []), claim.partition])
        const committed = await consumer.listCommittedOffsets({
          topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
        })
        // A partition the group never committed starts where `startFrom` says, and that position
        // is committed at once: after a rebalance the library resumes an uncommitted partition it
        // fetched before from its old fetch position, which would skip the records this consumer
        // dropped meanwhile (a committed one is refetched from its commit).
        const uncommitted = pending.filter(
          (claim) => (committed.get(claim.topic)?.[claim.partition] ?? -1n) < 0n,
        )
        const starts = new Map<string, bigint[]>()
        for (const topic of new Set(uncommitted.map((claim) => claim.topic))) {
          const offsets = await consumer.listOffsets({
            topics: [topic],
            partitions: { [topic]: uncommitted.filter((c) => c.topic === topic).map((c) => c.partition) },
            timestamp: this.#options.startFrom === 'earliest' ? EARLIEST : LATEST,
          })
          starts.set(topic, offsets.get(topic) ?? [])
        }
        if (!this.#inUse(consumer)) return
        for (const claim of pending) {
          if (claim.status !== 'starting') continue
          const found = committed.get(claim.topic)?.[claim.partition] ?? -1n
          const offset = found >= 0n ? found : (starts.get(claim.topic)?.[claim.partition] ?? -1n)
          claim.tracker = new OffsetTracker(offset)
          claim.committed = found >= 0n ? found : undefined
          claim.status = 'active'
          const parked = claim.parked
          claim.parked = []
          this.#parked -= parked.length
          for (const message of parked) this.#accept(claim, message)
        }
        if (uncommitted.length > 0) {
          this.#commit(consumer, uncommitted, true).catch((error: unknown) => {
            this.#log.warn(
              { err: error },
              'could not commit the start of new partitions; the periodic commit will',
            )
          })
        }
        this.#pump()
        return
      } catch (error) {
        // A client being let go (close, session restart) fails its requests: nothing to retry.
        if (!this.#inUse(consumer)) return
        this.#log.warn({ err: error, attempt }, 'could not read committed offsets; trying again')
        await sleep(backoff(attempt, 200, 5000, this.#options.random), undefined, {
          signal: this.#closing.signal,
        }).catch(() => {})
      }
    }
  }

  /**
   * Runs before every JoinGroup. With the cooperative protocol, partitions that move are first
   * removed from this member's assignment, then it rejoins: those missing now are the revoked
   * ones, whose work must be finished and committed before the join hands them to another member.
   */
  async #beforeJoin(consumer: Kafka): Promise<void> {
    if (consumer !== this.#consumer || consumer.assignments === null) return
    const assigned = new Set<string>()
    for (const { topic, partitions } of consumer.assignments)
      for (const p of partitions) assigned.add(`${topic}:${p}`)
    const revoked = [...this.#claims.values()].filter(
      (claim) => !assigned.has(claim.id) && (claim.status === 'starting' || claim.status === 'active'),
    )
    if (revoked.length > 0) await this.#revoke(consumer, revoked, this.#options.revokeTimeoutMs)
  }

  /**
   * Gives partitions back: take nothing new from them, let the records already taken finish (up
   * to the deadline; those waiting for a retry are given up at once), commit, forget.
   */
  async #revoke(consumer: Kafka, claims: PartitionClaim[], timeoutMs: number): Promise<void> {
    const revoked = new Set(claims)
    for (const claim of claims) {
      claim.status = 'revoking'
      this.#parked -= claim.parked.length
      claim.parked = []
    }
    const ofRevoked = (task: Task<PartitionClaim>) => revoked.has(task.owner)
    this.#scheduler.drain(ofRevoked)
    const idle = await this.#scheduler.whenIdle(ofRevoked, timeoutMs)
    if (!idle) {
      const aborted = this.#scheduler.abort(ofRevoked)
      this.#log.warn({ aborted, timeoutMs }, 'records of revoked partitions did not finish in time; aborted')
    }
    try {
      await this.#commit(consumer, claims, false)
    } catch (error) {
      this.#log.warn(
        { err: error },
        'could not commit revoked partitions; their records will be delivered again',
      )
    }
    for (const claim of claims) {
      claim.status = 'gone'
      if (this.#claims.get(claim.id) === claim) this.#claims.delete(claim.id)
      this.#observer.lag(claim.topic, claim.partition, null)
    }
    this.#observer.assigned(this.#ownedCount())
    this.#log.info(
      { revoked: claims.map((claim) => claim.id), committed: claims.map((c) => String(c.committed ?? '-')) },
      'partitions revoked',
    )
    this.#pump()
  }

  /** A partition that is no longer ours without having been revoked: give its work up at once. */
  #lose(claim: PartitionClaim): void {
    claim.status = 'gone'
    this.#parked -= claim.parked.length
    claim.parked = []
    this.#scheduler.abort((task) => task.owner === claim)
    this.#claims.delete(claim.id)
    this.#observer.lag(claim.topic, claim.partition, null)
    this.#log.warn(
      { partition: claim.id },
      'partition lost without a revoke; its unfinished records will be redelivered',
    )
  }

  #ownedCount(): number {
    let owned = 0
    for (const claim of this.#claims.values())
      if (claim.status === 'starting' || claim.status === 'active') owned++
    return owned
  }

  /**
   * Commits each claim's position when it moved. Periodic commits are serialized so that an
   * older position never lands after a newer one; the rebalance commit is not (it may run while
   * a periodic commit waits for the very rejoin that is waiting for it).
   */
  #commit(consumer: Kafka, claims: PartitionClaim[], serial: boolean): Promise<void> {
    const run = async () => {
      const moved = new Map<PartitionClaim, { offset: bigint; leaderEpoch: number }>()
      for (const claim of claims) {
        const position = claim.tracker?.position
        if (claim.tracker === undefined || position === undefined) continue
        if (claim.committed !== undefined && position <= claim.committed) continue
        moved.set(claim, { offset: position, leaderEpoch: claim.tracker.positionLeaderEpoch })
      }
      if (moved.size === 0) return
      const offsets = [...moved].map(([claim, { offset, leaderEpoch }]) => ({
        topic: claim.topic,
        partition: claim.partition,
        offset,
        leaderEpoch,
      }))
      await withTimeout(consumer.commit({ offsets }), COMMIT_TIMEOUT_MS, 'offset commit')
      for (const [claim, { offset }] of moved) {
        if (claim.committed === undefined || offset > claim.committed) claim.committed = offset
      }
    }
    if (!serial) return run()
    const next = this.#committing.then(run)
    this.#committing = next.catch(() => {})
    return next
  }

  #commitPeriodically(): void {
    const consumer = this.#consumer
    // Mid-rebalance a commit would be refused and make the library rejoin once more.
    if (consumer === undefined || this.#state !== 'running' || !consumer.isActive()) return
    const active = [...this.#claims.values()].filter((claim) => claim.status === 'active')
    this.#commit(consumer, active, true).catch((error: unknown) => {
      this.#log.warn({ err: error }, 'periodic offset commit failed; it is retried at the next one')
    })
  }

  async #measureLag(): Promise<void> {
    const consumer = this.#consumer
    if (consumer === undefined || this.#state !== 'running') return
    try {
      const ends = await consumer.listOffsets({ topics: this.#options.topics })
      for (const claim of this.#claims.values()) {
        if (claim.status !== 'active') continue
        const end = ends.get(claim.topic)?.[claim.partition]
        const position = claim.tracker?.position
        if (end === undefined || position === undefined) continue
        this.#observer.lag(claim.topic, claim.partition, Math.max(0, Number(end - position)))
      }
    } catch (error) {
      this.#log.debug({ err: error }, 'could not measure the lag')
    }
  }

  /** The session broke (fetch stream or group membership): wind it down and start another. */
  #sessionFailed(consumer: Kafka, error: unknown): void {
    if (consumer !== this.#consumer || this.#state !== 'running') return
    this.#log.error({ err: error }, 'Kafka session failed; starting a new one')
    this.#state = 'restarting'
    this.#restart(consumer).catch((restartError: unknown) => {
      this.#log.error({ err: restartError }, 'the Kafka session could not be restarted; the consumer stops')
      void this.close()
    })
  }

  async #restart(consumer: Kafka): Promise<void> {
    const stream = this.#stream
    this.#stream = undefined
    stream?.pause()
    const claims = [...this.#claims.values()].filter((c) => c.status === 'starting' || c.status === 'active')
    await this.#revoke(consumer, claims, this.#options.revokeTimeoutMs)
    await this.#release(consumer, stream)
    const signal = this.#closing.signal
    for (let attempt = 1; this.#state === 'restarting'; attempt++) {
      await sleep(
        backoff(attempt, this.#options.restartDelayMs, RESTART_MAX_DELAY_MS, this.#options.random),
        undefined,
        {
          signal,
        },
      ).catch(() => {})
      if (this.#state !== 'restarting') return
      this.#connecting = this.#connect()
      try {
        await this.#connecting
        if (this.#state !== 'restarting') return
        this.#state = 'running'
        this.#log.info({ attempt }, 'Kafka session restored')
        this.#pump()
        return
      } catch (connectError) {
        this.#log.warn({ err: connectError, attempt }, 'could not start a new Kafka session; trying again')
      } finally {
        this.#connecting = undefined
      }
    }
  }

  /**
   * The last commit, once a rebalance under way is over: meanwhile the group refuses commits
   * (and the library would rejoin to retry them), and this member's revokes must come first.
   */
  async #commitBeforeLeaving(consumer: Kafka, deadline: number): Promise<void> {
    for (;;) {
      if (!(await noJoinUnderWay(consumer, deadline - Date.now()))) {
        this.#log.warn(
          { timeoutMs: this.#options.closeTimeoutMs },
          'the group was still rebalancing at the stop deadline; records finished since the last commit will be delivered again',
        )
        return
      }
      if (!consumer.isActive()) {
        this.#log.warn(
          'this member is no longer in the group; records finished since the last commit will be delivered again',
        )
        return
      }
      try {
        await this.#committing
        const active = [...this.#claims.values()].filter((claim) => claim.status === 'active')
        await this.#commit(consumer, active, false)
      } catch (error) {
        this.#log.warn({ err: error }, 'could not commit on close; finished records will be delivered again')
        return
      }
      // A rebalance that began meanwhile is let finish too before the member leaves.
      if (joinsUnderWay(consumer) === 0 || Date.now() >= deadline) return
    }
  }

  /**
   * Leaves the group and closes a Kafka client (and its fetch stream) so that nothing of it is
   * left running: no socket, no timer. Called with no join under way (see `#commitBeforeLeaving`)
   * the LeaveGroup is answered at once; otherwise the library ignores the join's answers from
   * the moment `leaveGroup` is called, and the client is closed only once that join has ended,
   * because one cut short by `close()` leaves a timer behind (see group-joins.ts).
   */
  #release(consumer: Kafka, stream: Stream | undefined): Promise<void> {
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
      await withTimeout(leaving, LEAVE_TIMEOUT_MS, 'leaving the group')
    } catch (error) {
      this.#log.warn(
        { err: error },
        'could not leave the group cleanly; the group moves the partitions after the session timeout',
      )
    }
    // Once `leaveGroup` called back it no longer closes the stream: one it left open is closed
    // here; one it may still be closing (it timed out) is only waited for.
    await this.#closeStream(stream, calledBack)
    if (!(await noJoinUnderWay(consumer, LEAVE_TIMEOUT_MS)))
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

  /** Whether this client is the current session's and is not being let go. */
  #inUse(consumer: Kafka): boolean {
    return consumer === this.#consumer && !this.#released.has(consumer) && !this.#closing.signal.aborted
  }

  /** A client being let go must not join the group again: the broker would wait for it. */
  #refuseJoinOnceReleased(consumer: Kafka): void {
    if (this.#released.has(consumer))
      throw new Error('the consumer is leaving the group; it does not join again')
  }

  async #close(): Promise<void> {
    await this.#started?.catch(() => {})
    if (this.#state === 'closed' || this.#state === 'new') {
      this.#state = 'closed'
      if (this.#ownsSink) await this.#sink.close().catch(() => {})
      return
    }
    this.#state = 'closing'
    const deadline = Date.now() + this.#options.closeTimeoutMs
    this.#closing.abort()
    await this.#connecting?.catch(() => {})
    clearInterval(this.#commitTimer)
    clearInterval(this.#lagTimer)
    const consumer = this.#consumer
    const stream = this.#stream
    this.#stream = undefined
    // Nothing more is fetched, but the stream stays open until the member has left: closing it
    // makes the library drop the topics from this member's subscription, and a rebalance
    // meanwhile would hand its partitions to others without a revoke, while their records still
    // run here and before they are committed.
    stream?.pause()

    const all = () => true
    for (const claim of this.#claims.values()) claim.parked = []
    this.#parked = 0
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
      if (!this.#released.has(consumer)) await this.#commitBeforeLeaving(consumer, deadline)
      await this.#release(consumer, stream)
    }
    for (const claim of this.#claims.values()) {
      claim.status = 'gone'
      this.#observer.lag(claim.topic, claim.partition, null)
    }
    this.#claims.clear()
    this.#observer.assigned(0)
    if (this.#ownsSink) await this.#sink.close().catch(() => {})
    this.#state = 'closed'
    this.#log.info('consumer closed')
  }
}

/** Resolves true once the stream has emitted `close`, false if `timeoutMs` passes first. */
function untilClosed(stream: Stream, timeoutMs: number): Promise<boolean> {
  if (stream.closed) return Promise.resolve(true)
  return new Promise((resolve) => {
    const done = (closed: boolean) => {
      clearTimeout(timer)
      stream.off('close', onClose)
      resolve(closed)
    }
    const onClose = () => done(true)
    const timer = setTimeout(() => done(false), timeoutMs)
    stream.on('close', onClose)
  })
}

async function withTimeout<T>(operation: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new PayrailError('KAFKA_UNAVAILABLE', `${what} did not complete within ${ms} ms`)),
      ms,
    )
  })
  operation.catch(() => {})
  try {
    return await Promise.race([operation, timeout])
  } finally {
    clearTimeout(timer)
  }
}
