import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '../../observability/logger.ts'
import { backoff } from '../../runtime/backoff.ts'
import type { Committer } from './committer.ts'
import type { Assignment, Kafka, KafkaMessage, KafkaSession } from './kafka-session.ts'
import type { KeyScheduler, Task } from './key-scheduler.ts'
import type { ConsumerObserver } from './observer.ts'
import { OffsetTracker } from './offset-tracker.ts'
import type { ResolvedConsumerOptions } from './options.ts'
import type { PartitionClaim } from './partition-claim.ts'
import { fromMessage } from './record.ts'

/** ListOffsets timestamps that mean the log's first and next offset. */
const EARLIEST = -2n
const LATEST = -1n

/** What the claims use of their consumer. */
export interface ClaimsContext {
  options: Pick<ResolvedConsumerOptions, 'startFrom' | 'revokeTimeoutMs' | 'random'>
  log: Logger
  observer: ConsumerObserver
  scheduler: KeyScheduler<PartitionClaim>
  committer: Committer
  session: KafkaSession
  /** Aborted when close() begins: cuts the waits between offset reads short. */
  closing: AbortSignal
  /** Whether close() is under way: a closing member takes no new partitions. */
  isClosing: () => boolean
  /** How many records were read from the stream or wait in its buffer: a new claim drops those. */
  readHorizon: () => number
  /** Pulls records again once there may be room or new partitions to feed. */
  pump: () => void
}

/**
 * The partitions this member owns and what happens to them on a rebalance: claimed when the
 * group assigns them (their start read from the committed offsets), given back when revoked
 * (their work finished and committed first), or lost when the member was dropped from the group.
 */
export class PartitionClaims {
  readonly #c: ClaimsContext
  readonly #byId = new Map<string, PartitionClaim>()
  /** Records of starting claims, held until their start is known. */
  #parkedCount = 0

  constructor(context: ClaimsContext) {
    this.#c = context
  }

  /** Records parked until their partition's start is known. */
  get parked(): number {
    return this.#parkedCount
  }

  all(): PartitionClaim[] {
    return [...this.#byId.values()]
  }

  /** The claims records are taken and committed for. */
  active(): PartitionClaim[] {
    return this.all().filter((claim) => claim.status === 'active')
  }

  /** The claims this member owns (starting or active). */
  owned(): PartitionClaim[] {
    return this.all().filter((claim) => claim.status === 'starting' || claim.status === 'active')
  }

  /** Drops the parked records (close: they will be delivered again). */
  dropParked(): void {
    for (const claim of this.#byId.values()) claim.parked = []
    this.#parkedCount = 0
  }

  /** Forgets every claim (the member has left). */
  forgetAll(): void {
    for (const claim of this.#byId.values()) {
      claim.status = 'gone'
      this.#c.observer.lag(claim.topic, claim.partition, null)
    }
    this.#byId.clear()
    this.#c.observer.assigned(0)
  }

  /** Takes a record read from the stream (the `index`-th one), if its partition is ours and started. */
  take(message: KafkaMessage, index: number): void {
    const claim = this.#byId.get(`${message.topic}:${message.partition}`)
    // Not ours (any more), being given back, or fetched before we got it: the stream fetches it
    // again from the committed offset if it is ours.
    if (claim === undefined || claim.status === 'revoking' || claim.status === 'gone') return
    if (index <= claim.horizon) return
    if (claim.status === 'starting') {
      claim.parked.push(message)
      this.#parkedCount++
      return
    }
    this.#accept(claim, message)
  }

  #accept(claim: PartitionClaim, message: KafkaMessage): void {
    const tracker = claim.tracker as OffsetTracker
    // After every rebalance the stream rewinds to the committed offset: those records are ours already.
    if (!tracker.take(message.offset, message.leaderEpoch, Number(message.timestamp))) return
    const { record, raw } = fromMessage(message)
    this.#c.scheduler.submit(record, raw, claim)
  }

  /** The group gave this member its partitions (after every completed rebalance). */
  joined(consumer: Kafka, assignments: Assignment[]): void {
    if (!this.#c.session.isCurrent(consumer)) return
    const assigned = new Set<string>()
    for (const { topic, partitions } of assignments) for (const p of partitions) assigned.add(`${topic}:${p}`)
    // Normally revoked before the join (beforeJoin); a partition missing without that was lost
    // (this member was dropped from the group): its work can neither finish nor be committed.
    for (const claim of this.all()) {
      if (!assigned.has(claim.id) && claim.status !== 'revoking') this.#lose(claim)
    }
    const horizon = this.#c.readHorizon()
    const fresh: PartitionClaim[] = []
    // A closing member takes nothing new: the partitions move on when it leaves, a moment later.
    for (const { topic, partitions } of this.#c.isClosing() ? [] : assignments) {
      for (const partition of partitions) {
        const id = `${topic}:${partition}`
        const existing = this.#byId.get(id)
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
        this.#byId.set(id, claim)
        fresh.push(claim)
      }
    }
    this.#c.observer.assigned(this.#ownedCount())
    this.#c.log.info(
      { assigned: [...assigned].sort(), added: fresh.map((claim) => claim.id) },
      'partitions assigned',
    )
    if (fresh.length > 0) void this.#findStarts(consumer, fresh)
  }

  /** Reads the committed offsets of newly assigned partitions: where their trackers start. */
  async #findStarts(consumer: Kafka, claims: PartitionClaim[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const pending = claims.filter((claim) => claim.status === 'starting')
      if (pending.length === 0 || !this.#c.session.inUse(consumer)) return
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
        // dropped meanwhile (a committed one is refetched from its commit). The library's own
        // race with stale fetch offsets after a rebalance: https://github.com/platformatic/kafka/issues/223
        const uncommitted = pending.filter(
          (claim) => (committed.get(claim.topic)?.[claim.partition] ?? -1n) < 0n,
        )
        const starts = new Map<string, bigint[]>()
        for (const topic of new Set(uncommitted.map((claim) => claim.topic))) {
          const offsets = await consumer.listOffsets({
            topics: [topic],
            partitions: { [topic]: uncommitted.filter((c) => c.topic === topic).map((c) => c.partition) },
            timestamp: this.#c.options.startFrom === 'earliest' ? EARLIEST : LATEST,
          })
          starts.set(topic, offsets.get(topic) ?? [])
        }
        if (!this.#c.session.inUse(consumer)) return
        for (const claim of pending) {
          if (claim.status !== 'starting') continue
          const found = committed.get(claim.topic)?.[claim.partition] ?? -1n
          const offset = found >= 0n ? found : (starts.get(claim.topic)?.[claim.partition] ?? -1n)
          claim.tracker = new OffsetTracker(offset)
          claim.committed = found >= 0n ? found : undefined
          claim.status = 'active'
          const parked = claim.parked
          claim.parked = []
          this.#parkedCount -= parked.length
          for (const message of parked) this.#accept(claim, message)
        }
        if (uncommitted.length > 0) {
          this.#c.committer.commit(consumer, uncommitted, true).catch((error: unknown) => {
            this.#c.log.warn(
              { err: error },
              'could not commit the start of new partitions; the periodic commit will',
            )
          })
        }
        this.#c.pump()
        return
      } catch (error) {
        // A client being let go (close, session restart) fails its requests: nothing to retry.
        if (!this.#c.session.inUse(consumer)) return
        this.#c.log.warn({ err: error, attempt }, 'could not read committed offsets; trying again')
        await sleep(backoff(attempt, 200, 5000, this.#c.options.random), undefined, {
          signal: this.#c.closing,
        }).catch(() => {})
      }
    }
  }

  /**
   * Runs before every JoinGroup. With the cooperative protocol, partitions that move are first
   * removed from this member's assignment, then it rejoins: those missing now are the revoked
   * ones, whose work must be finished and committed before the join hands them to another member.
   */
  async beforeJoin(consumer: Kafka): Promise<void> {
    if (!this.#c.session.isCurrent(consumer) || consumer.assignments === null) return
    const assigned = new Set<string>()
    for (const { topic, partitions } of consumer.assignments)
      for (const p of partitions) assigned.add(`${topic}:${p}`)
    const revoked = this.all().filter(
      (claim) => !assigned.has(claim.id) && (claim.status === 'starting' || claim.status === 'active'),
    )
    if (revoked.length > 0) await this.revoke(consumer, revoked, this.#c.options.revokeTimeoutMs)
  }

  /**
   * Gives partitions back: take nothing new from them, let the records already taken finish (up
   * to the deadline; those waiting for a retry are given up at once), commit, forget.
   */
  async revoke(consumer: Kafka, claims: PartitionClaim[], timeoutMs: number): Promise<void> {
    const revoked = new Set(claims)
    for (const claim of claims) {
      claim.status = 'revoking'
      this.#parkedCount -= claim.parked.length
      claim.parked = []
    }
    const ofRevoked = (task: Task<PartitionClaim>) => revoked.has(task.owner)
    this.#c.scheduler.drain(ofRevoked)
    const idle = await this.#c.scheduler.whenIdle(ofRevoked, timeoutMs)
    if (!idle) {
      const aborted = this.#c.scheduler.abort(ofRevoked)
      this.#c.log.warn(
        { aborted, timeoutMs },
        'records of revoked partitions did not finish in time; aborted',
      )
    }
    try {
      await this.#c.committer.commit(consumer, claims, false)
    } catch (error) {
      this.#c.log.warn(
        { err: error },
        'could not commit revoked partitions; their records will be delivered again',
      )
    }
    for (const claim of claims) {
      claim.status = 'gone'
      if (this.#byId.get(claim.id) === claim) this.#byId.delete(claim.id)
      this.#c.observer.lag(claim.topic, claim.partition, null)
    }
    this.#c.observer.assigned(this.#ownedCount())
    this.#c.log.info(
      { revoked: claims.map((claim) => claim.id), committed: claims.map((c) => String(c.committed ?? '-')) },
      'partitions revoked',
    )
    this.#c.pump()
  }

  /** A partition that is no longer ours without having been revoked: give its work up at once. */
  #lose(claim: PartitionClaim): void {
    claim.status = 'gone'
    this.#parkedCount -= claim.parked.length
    claim.parked = []
    this.#c.scheduler.abort((task) => task.owner === claim)
    this.#byId.delete(claim.id)
    this.#c.observer.lag(claim.topic, claim.partition, null)
    this.#c.log.warn(
      { partition: claim.id },
      'partition lost without a revoke; its unfinished records will be redelivered',
    )
  }

  #ownedCount(): number {
    let owned = 0
    for (const claim of this.#byId.values())
      if (claim.status === 'starting' || claim.status === 'active') owned++
    return owned
  }
}
