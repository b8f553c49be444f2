import { setTimeout as sleep } from 'node:timers/promises'
import {
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  isBrokenCircuitError,
} from 'cockatiel'
import { isKafkaOutage } from '../kafka/errors.ts'
import { type BreakerState, breakerStateOf } from '../runtime/breaker.ts'
import { resolveOptions } from '../runtime/options.ts'
import type { CommitHandOff } from './hand-off.ts'
import { Refusals } from './refusals.ts'
import type { Batch, ClaimAhead, Pass, Plan } from './relay-claims.ts'
import {
  defaultRelayOptions,
  type RelayComponents,
  type RelayOptions,
  relayOptionRules,
  relayOptionsSchema,
} from './relay-options.ts'
import { SequenceGate } from './sequence-gate.ts'
import type { PendingEvent } from './store.ts'
import type { OutboxRecord } from './writer.ts'

/**
 * Batches claimed beyond the one being sent. Two keep the relay's thread busy: the database
 * answers the claims while the producer encodes and waits for acknowledgements.
 */
const CLAIMS_AHEAD = 2

/** Marks that may be written at once; more would only queue on the database. */
const MARKS_IN_FLIGHT = 4

/**
 * Publishes the outbox to Kafka. Two paths feed one loop: records handed over right after their
 * commit (the fast path, used when the relay runs inside the process that commits) and a poll of
 * the table (every row eventually, including the fast path's leftovers). Per payment, events go
 * out in `sequence` order: a batch takes a payment's events only from its lowest pending
 * sequence on, and a record that fails holds back its payment's later ones. Only buckets this
 * instance leases are published.
 *
 * Failures of the cluster (unreachable, timing out) open a circuit breaker and cost no record a
 * retry; records the broker refuses are retried with backoff and then dead-lettered.
 */
export class OutboxRelay {
  readonly #o: RelayOptions
  readonly #breaker
  readonly #gate = new SequenceGate()
  readonly #refusals: Refusals
  #fastPath: OutboxRecord[] = []
  /** Ids sent and not yet marked published: never claimed twice. */
  readonly #inFlight = new Set<number>()
  /**
   * One set per plan not yet selected, of the ids marked published since the plan started. Its
   * reads may predate those deletes; and the ids leave #inFlight once marked, so without this the
   * plan's #select would take them again and send them twice.
   */
  readonly #activePlans = new Set<Set<number>>()
  /** Marks of acknowledged batches, written while the next batches are sent. */
  readonly #marking = new Set<Promise<void>>()
  /** The poll reads after this id while batches come back full, and from the start otherwise. */
  #cursor = 0
  /** The scan in progress, from id 0 to a batch that is not full; see #claim. */
  #pass: Pass | undefined
  /** When the table was last polled from its start: handed-off records alone do not wait for it. */
  #lastPollStart = Number.NEGATIVE_INFINITY
  #pollRequested = false
  /** Ends #idle early for work; unset while the breaker is not closed. */
  #wake: (() => void) | undefined
  /** Ends #idle early for stop(). */
  #interrupt: (() => void) | undefined
  #stopping = false
  #loop: Promise<void> | undefined
  #nextHeartbeat = 0

  /** Throws CONFIG_INVALID naming every bad option (see defaultRelayOptions and the rule on leases). */
  constructor(options: Pick<RelayOptions, RelayComponents> & Partial<RelayOptions>) {
    this.#o = resolveOptions(
      'outboxRelay',
      relayOptionsSchema,
      defaultRelayOptions as RelayOptions,
      options,
      relayOptionRules,
    )
    this.#breaker = circuitBreaker(handleWhen(isKafkaOutage), {
      halfOpenAfter: new ExponentialBackoff({ initialDelay: 500, maxDelay: 10_000 }),
      breaker: new ConsecutiveBreaker(3),
    })
    this.#breaker.onStateChange((state) => {
      const name = breakerStateOf(state)
      this.#o.observer?.breaker(name)
      this.#o.logger.warn({ state: name }, 'Kafka circuit breaker changed state')
    })
    this.#refusals = new Refusals({
      ...this.#o,
      guarded: (send) => this.#breaker.execute(send),
      isBreakerOpen: isBrokenCircuitError,
      published: (events) => this.#published(events),
    })
  }

  /** The after-commit hand-off for a PaymentService in this process. */
  commitHandOff(): CommitHandOff {
    return {
      handOff: (records) => {
        const room = this.#o.fastPathCapacity - this.#fastPath.length
        if (room > 0) this.#fastPath.push(...records.slice(0, room))
        this.#wake?.()
      },
    }
  }

  /** New rows were committed elsewhere (a PostgreSQL notification): poll now, not at the interval. */
  nudge(): void {
    this.#pollRequested = true
    this.#wake?.()
  }

  breakerState(): BreakerState {
    return breakerStateOf(this.#breaker.state)
  }

  start(): void {
    this.#loop ??= this.#run()
  }

  /** Stops claiming, lets the batch in flight finish and be marked, then gives the leases back. */
  async stop(): Promise<void> {
    this.#stopping = true
    this.#interrupt?.()
    await this.#loop
    try {
      await this.#o.leases.releaseAll()
    } catch (error) {
      // They expire on their own; another relay then takes the buckets after the lease time.
      this.#o.logger.warn({ err: error }, 'could not give the bucket leases back; they will expire')
    }
  }

  /**
   * Claim, send, mark, pipelined: before a batch is handed to the producer, the next
   * CLAIMS_AHEAD batches are claimed one after another, so the database reads them while this
   * one is encoded and acknowledged, and marks are written behind the sends. A failure drains
   * the pipeline and restarts the poll from the oldest pending row.
   */
  async #run(): Promise<void> {
    const ahead: ClaimAhead[] = []
    while (!this.#stopping) {
      try {
        await this.#heartbeatIfDue()
        let batch = await ahead.shift()?.batch
        if (batch === undefined) {
          // The chain stopped at a batch that was not full: everything after it is empty too.
          ahead.length = 0
          batch = await this.#claim()
        }
        if (batch.events.length === 0) {
          await this.#settle()
          if (!this.#stopping) await this.#idle()
          continue
        }
        if (this.#marking.size >= MARKS_IN_FLIGHT) await Promise.race(this.#marking)
        if (!this.#stillLeased(batch.events)) {
          // Claimed while its buckets were leased; since then one was lost or given back to the
          // fair share. Its events, and the later ones claimed ahead, wait for the next pass.
          this.#release(batch.events)
          await this.#dropAhead(ahead)
          this.#gate.forget()
          await this.#settle()
          continue
        }
        this.#claimAhead(ahead, batch)
        if ((await this.#send(batch.events)) !== 'ok') {
          await this.#dropAhead(ahead)
          this.#gate.forget()
          await this.#settle()
          if (!this.#stopping) await this.#idle()
        }
      } catch (error) {
        this.#o.logger.error({ err: error }, 'relay cycle failed; retrying after the poll interval')
        await this.#dropAhead(ahead)
        this.#inFlight.clear()
        this.#gate.forget()
        await this.#settle()
        if (!this.#stopping) await this.#idle()
      }
    }
    await this.#dropAhead(ahead)
    await Promise.all(this.#marking)
  }

  /**
   * Queues claims behind `current` up to CLAIMS_AHEAD. Each claim's plan starts when the plan
   * before it moved the pass's cursor and found a full batch (or records were handed over), so
   * plans run one at a time; the events of several plans are read at once; and each claim's
   * #select waits for the one before it, whose runs it continues (SequenceGate). A claim that is not
   * started resolves to undefined, and so do all after it.
   */
  #claimAhead(ahead: ClaimAhead[], current: Batch): void {
    let previous: ClaimAhead = ahead.at(-1) ?? {
      planned: Promise.resolve({ full: current.full }),
      batch: Promise.resolve(current),
    }
    while (ahead.length < CLAIMS_AHEAD) {
      const before = previous
      const planned = before.planned.then((plan) =>
        plan !== undefined && (plan.full || this.#fastPath.length > 0) && !this.#stopping
          ? this.#plan()
          : undefined,
      )
      const batch = planned.then((plan) => (plan === undefined ? undefined : this.#load(plan, before.batch)))
      // Rejections are handled where the batch is awaited (#run or #dropAhead); without these, a
      // claim failing while the loop awaits a send would count as unhandled and end the process.
      planned.catch(() => {})
      batch.catch(() => {})
      previous = { planned, batch }
      ahead.push(previous)
    }
  }

  /** Gives up the batches claimed ahead: their events go out in a later pass. */
  async #dropAhead(ahead: ClaimAhead[]): Promise<void> {
    let logged: unknown
    for (const claim of ahead.splice(0)) {
      try {
        const batch = await claim.batch
        if (batch !== undefined) this.#release(batch.events)
      } catch (error) {
        // A failed claim fails every claim chained after it with the same error: log it once.
        if (error !== logged)
          this.#o.logger.error({ err: error }, 'claiming ahead failed; the next pass claims again')
        logged = error
      }
    }
  }

  /**
   * Whether every event's bucket is still leased for a whole send. A batch claimed ahead waits
   * for the sends before it, and the lease check at claim time covers only one send's length.
   */
  #stillLeased(events: PendingEvent[]): boolean {
    const usable = new Set(this.#o.leases.usable(this.#o.deliveryTimeoutMs))
    return events.every((event) => usable.has(event.bucket))
  }

  async #heartbeatIfDue(): Promise<void> {
    if (this.#o.now() < this.#nextHeartbeat) return
    await this.#o.leases.heartbeat(this.breakerState())
    this.#o.observer?.buckets(this.#o.leases.held())
    this.#nextHeartbeat = this.#o.now() + this.#o.leases.leaseMs / 3
  }

  /** Waits for the marks in flight, then starts the next pass from the oldest pending row. */
  async #settle(): Promise<void> {
    await Promise.all(this.#marking)
    this.#cursor = 0
    this.#pass = undefined
  }

  #release(events: PendingEvent[]): void {
    for (const event of events) this.#inFlight.delete(event.id)
  }

  /**
   * Waits for the next poll, or less when records are handed over or a poll is requested. While
   * the breaker is not closed, only the poll interval counts: sends would fail at once, and
   * every commit waking the loop would turn an outage into a busy loop.
   */
  async #idle(): Promise<void> {
    const ready = this.breakerState() === 'closed'
    if (ready && this.#fastPath.length > 0) return
    if (ready && this.#pollRequested) {
      // PostgreSQL notifies once per committing transaction: polling on each would make a claim
      // and a Kafka send per authorize (at 300 authorizations/s through the gateway that was
      // 0.8 ms of relay CPU and 1 ms of broker CPU per authorize, `payrail bench platform`).
      // Requested polls start at least minPollGapMs apart, so a stream of commits goes in
      // batches: with 10 ms the relay still took 0.41 ms per authorize and the platform met its
      // p99 up to 338/s; with 50 ms, 0.12 ms and 528/s. Commit to Kafka stays under the 250 ms
      // poll interval that the other dialects wait.
      const gap = this.#lastPollStart + this.#o.minPollGapMs - this.#o.now()
      if (gap > 0) await this.#sleep(gap, false)
      return
    }
    const untilPoll = ready
      ? Math.max(0, this.#lastPollStart + this.#o.pollIntervalMs - this.#o.now())
      : this.#o.pollIntervalMs
    await this.#sleep(untilPoll, ready)
  }

  /** Sleeps `ms`, or less when stopped, or (when `wakeable`) when records or a poll request come. */
  async #sleep(ms: number, wakeable: boolean): Promise<void> {
    const controller = new AbortController()
    const woken = new Promise<void>((resolve) => {
      this.#interrupt = resolve
      if (wakeable) this.#wake = resolve
    })
    await Promise.race([woken, sleep(ms, undefined, { signal: controller.signal }).catch(() => {})])
    controller.abort()
    this.#wake = undefined
    this.#interrupt = undefined
  }

  /**
   * The next batch: due retries and handed-off records first, then the poll; of those, each
   * payment's events only as SequenceGate lets them out. Handed-off records alone are claimed
   * without polling while the last poll is recent: a commit reaches Kafka after one send, not
   * after a scan of the table.
   */
  async #claim(): Promise<Batch> {
    return this.#load(await this.#plan())
  }

  /** The first half of #claim: takes retries and handed-off records, and moves the cursor. */
  async #plan(): Promise<Plan> {
    const publishedMeanwhile = new Set<number>()
    this.#activePlans.add(publishedMeanwhile)
    try {
      return await this.#planPoll(publishedMeanwhile)
    } catch (error) {
      this.#activePlans.delete(publishedMeanwhile)
      throw error
    }
  }

  async #planPoll(publishedMeanwhile: Set<number>): Promise<Plan> {
    const usable = new Set(this.#o.leases.usable(this.#o.deliveryTimeoutMs))
    const now = this.#o.now()
    const poll =
      this.#pass !== undefined ||
      (this.#pollRequested && now - this.#lastPollStart >= this.#o.minPollGapMs) ||
      now - this.#lastPollStart >= this.#o.pollIntervalMs
    if (!poll)
      return {
        ready: this.#takeFastPath(usable),
        ids: [],
        buckets: usable,
        held: undefined,
        full: false,
        publishedMeanwhile,
      }

    let retries: PendingEvent[] = []
    if (this.#pass === undefined) {
      this.#lastPollStart = now
      this.#pollRequested = false
      const found = await this.#o.store.fetchRetries([...usable], now)
      this.#pass = { buckets: usable, held: found.held }
      retries = found.due
    }
    const pass = this.#pass
    // A bucket leased during the pass waits for the next one; a bucket lost is dropped at once.
    const buckets = new Set([...pass.buckets].filter((bucket) => usable.has(bucket)))
    const fast = this.#takeFastPath(buckets)
    const room = this.#o.batchSize - fast.length - retries.length
    const ids = room > 0 ? await this.#o.store.fetchPendingIds([...buckets], room, this.#cursor) : []
    const full = room <= 0 || ids.length >= room
    const last = ids.at(-1)
    if (full) {
      if (last !== undefined) this.#cursor = last
    } else {
      this.#cursor = 0
      this.#pass = undefined
      this.#o.observer?.scanned()
    }
    return { ready: [...retries, ...fast], ids, buckets, held: pass.held, full, publishedMeanwhile }
  }

  /**
   * The second half of #claim: reads the plan's events, then selects the batch once the batch
   * before it (`after`) was selected.
   */
  async #load(plan: Plan, after?: Promise<unknown>): Promise<Batch> {
    try {
      const polled = plan.ids.length > 0 ? await this.#o.store.fetchEvents(plan.ids) : []
      await after
      const candidates = [...plan.ready, ...polled].filter((event) => !plan.publishedMeanwhile.has(event.id))
      return await this.#select(candidates, plan.buckets, plan.held, plan.full)
    } finally {
      this.#activePlans.delete(plan.publishedMeanwhile)
    }
  }

  /** Keeps the candidates that may go out now (see SequenceGate), and marks them in flight. */
  async #select(
    candidates: PendingEvent[],
    buckets: Set<number>,
    held: Set<string> | undefined,
    full: boolean,
  ): Promise<Batch> {
    const eligible = candidates.filter(
      (event) => !this.#inFlight.has(event.id) && buckets.has(event.bucket) && !held?.has(event.paymentId),
    )
    const events = await this.#gate.admit(eligible, (ids) => this.#o.store.firstPendingSequences(ids))
    for (const event of events) this.#inFlight.add(event.id)
    return { events, full }
  }

  /** Sends one batch; on success its mark is queued behind the earlier ones. */
  async #send(events: PendingEvent[]): Promise<'ok' | 'outage' | 'refused'> {
    this.#o.observer?.batch(events.length)
    try {
      await this.#breaker.execute(() => this.#o.publisher.send(events))
    } catch (error) {
      if (isBrokenCircuitError(error)) {
        this.#o.observer?.failure('breaker_open')
        this.#release(events)
        return 'outage'
      }
      if (isKafkaOutage(error)) {
        this.#o.observer?.failure('outage')
        this.#o.logger.warn(
          { err: error, events: events.length },
          'Kafka unavailable; the events stay in the outbox',
        )
        this.#release(events)
        return 'outage'
      }
      await this.#settle()
      await this.#refusals.isolate(events)
      this.#release(events)
      return 'refused'
    }
    const mark: Promise<void> = this.#published(events)
      .catch((error: unknown) => {
        // They stay pending and go out again: at least once, never lost.
        this.#o.logger.error({ err: error, events: events.length }, 'could not mark events published')
      })
      .finally(() => {
        this.#release(events)
        this.#marking.delete(mark)
      })
    this.#marking.add(mark)
    return 'ok'
  }

  #takeFastPath(buckets: Set<number>): PendingEvent[] {
    const queued = this.#fastPath
    this.#fastPath = []
    // Another relay's buckets are its poll's to publish; the order check in #claim covers the rest.
    return queued
      .filter((record) => buckets.has(record.bucket))
      .map((record) => ({ ...record, attempts: 0, refused: false }))
  }

  async #published(events: PendingEvent[]): Promise<void> {
    const now = this.#o.now()
    this.#o.observer?.acknowledged(now)
    await this.#o.store.markPublished(events)
    for (const plan of this.#activePlans) for (const event of events) plan.add(event.id)
    const perTopic = new Map<string, number>()
    for (const event of events) {
      perTopic.set(event.topic, (perTopic.get(event.topic) ?? 0) + 1)
      this.#o.observer?.commitToAck((now - event.createdAt) / 1000)
    }
    for (const [topic, count] of perTopic) this.#o.observer?.published(topic, count)
  }
}
