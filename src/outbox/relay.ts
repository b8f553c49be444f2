import { setTimeout as sleep } from 'node:timers/promises'
import {
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  isBrokenCircuitError,
} from 'cockatiel'
import { PayrailError } from '../domain/errors.ts'
import { isKafkaOutage } from '../kafka/errors.ts'
import type { Logger } from '../observability/logger.ts'
import { type BreakerState, breakerStateOf } from '../runtime/breaker.ts'
import type { OutboxDispatcher } from './dispatcher.ts'
import type { LeaseManager } from './leases.ts'
import type { KafkaPublisher } from './publisher.ts'
import type { OutboxStore, PendingEvent } from './store.ts'
import type { OutboxRecord } from './writer.ts'

/** What the relay reports; its metrics implement it. */
export interface RelayObserver {
  published(topic: string, count: number): void
  commitToAck(seconds: number): void
  batch(size: number): void
  failure(reason: 'outage' | 'record' | 'breaker_open'): void
  dead(): void
  breaker(state: BreakerState): void
  buckets(held: number): void
}

export interface RelayOptions {
  store: OutboxStore
  /** The Kafka producer side: batches to their topics, refused records to payment.dlq. */
  publisher: Pick<KafkaPublisher, 'send' | 'sendDead'>
  leases: LeaseManager
  logger: Logger
  observer?: RelayObserver
  /** Rows per poll and per send. Default: 1000 (OUTBOX_BATCH_SIZE). */
  batchSize?: number
  /** Wait between polls that found less than a full batch. Default: 250 ms (OUTBOX_POLL_INTERVAL_MS). */
  pollIntervalMs?: number
  /** Attempts of a record the broker refuses before it goes to payment.dlq. Default: 20 (OUTBOX_MAX_RETRIES). */
  maxRetries?: number
  /** First retry delay; doubles per attempt, with jitter, up to five minutes. Default: 5000 ms (OUTBOX_RETRY_INTERVAL_MS). */
  retryIntervalMs?: number
  /** A send's time limit; a bucket is published only while its lease outlasts it. Default: 3000 ms. */
  deliveryTimeoutMs?: number
  /** Records the after-commit hand-off may queue; beyond that they wait for the poll. Default: 10000. */
  fastPathCapacity?: number
  now?: () => number
  random?: () => number
}

const RETRY_CAP_MS = 5 * 60_000

/**
 * Batches claimed beyond the one being sent. Two keep the relay's thread busy: the database
 * answers the claims while the producer encodes and waits for acknowledgements.
 */
const CLAIMS_AHEAD = 2

/** Marks that may be written at once; more would only queue on the database. */
const MARKS_IN_FLIGHT = 4

/** Payments whose last taken sequence the relay remembers; beyond that it asks the database. */
const TAKEN_MEMORY = 100_000

/**
 * What one scan of the backlog (a pass) keeps fixed. Payments held for a retry and the buckets
 * scanned stay the same from its first batch to its last, so that no payment has events
 * skipped below the cursor and taken above it.
 */
interface Pass {
  buckets: Set<number>
  held: Set<string>
}

function ascendingIds(events: PendingEvent[]): boolean {
  for (let i = 1; i < events.length; i++) {
    if ((events[i] as PendingEvent).id <= (events[i - 1] as PendingEvent).id) return false
  }
  return true
}

interface Batch {
  events: PendingEvent[]
  /** The poll found a whole batch: more is waiting, claim again at once. */
  full: boolean
}

/** A claim's first half: what it takes, known before its events are read. */
interface Plan {
  /** Due retries and handed-off records: read already. */
  ready: PendingEvent[]
  /** The poll's pending ids, in id order; their events are read in the second half. */
  ids: number[]
  buckets: Set<number>
  held: Set<string> | undefined
  full: boolean
  /** Ids this relay marked published while the plan was out (see #activePlans). */
  publishedMeanwhile: Set<number>
}

/** A claim made ahead of the send in flight. */
interface Claim {
  /** Its plan, once the pass's cursor moved past it: the next claim may start. Undefined if not started. */
  planned: Promise<Pick<Plan, 'full'> | undefined>
  batch: Promise<Batch | undefined>
}

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
  readonly #store: OutboxStore
  readonly #publisher: Pick<KafkaPublisher, 'send' | 'sendDead'>
  readonly #leases: LeaseManager
  readonly #logger: Logger
  readonly #observer: RelayObserver | undefined
  readonly #batchSize: number
  readonly #pollIntervalMs: number
  readonly #maxRetries: number
  readonly #retryIntervalMs: number
  readonly #deliveryTimeoutMs: number
  readonly #fastPathCapacity: number
  readonly #now: () => number
  readonly #random: () => number
  readonly #breaker
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
  /**
   * The highest sequence of each payment taken into a batch since the last failure, in the order
   * payments were first taken: a payment's next event follows it without asking the database. Forgotten on any
   * failure, because a failed batch's events go out again.
   */
  readonly #taken = new Map<string, number>()
  /** Ends #idle early for work; unset while the breaker is not closed. */
  #wake: (() => void) | undefined
  /** Ends #idle early for stop(). */
  #interrupt: (() => void) | undefined
  #stopping = false
  #loop: Promise<void> | undefined
  #nextHeartbeat = 0

  constructor(options: RelayOptions) {
    this.#store = options.store
    this.#publisher = options.publisher
    this.#leases = options.leases
    this.#logger = options.logger
    this.#observer = options.observer
    this.#batchSize = options.batchSize ?? 1000
    this.#pollIntervalMs = options.pollIntervalMs ?? 250
    this.#maxRetries = options.maxRetries ?? 20
    this.#retryIntervalMs = options.retryIntervalMs ?? 5000
    this.#deliveryTimeoutMs = options.deliveryTimeoutMs ?? 3000
    this.#fastPathCapacity = options.fastPathCapacity ?? 10_000
    this.#now = options.now ?? Date.now
    this.#random = options.random ?? Math.random
    if (this.#leases.leaseMs < 3 * this.#deliveryTimeoutMs) {
      // A lease renewed every third of its length must always outlast a send started on it.
      throw new PayrailError(
        'CONFIG_INVALID',
        `OUTBOX_LEASE_MS (${this.#leases.leaseMs}) must be at least three times KAFKA_DELIVERY_TIMEOUT_MS (${this.#deliveryTimeoutMs})`,
      )
    }
    this.#breaker = circuitBreaker(handleWhen(isKafkaOutage), {
      halfOpenAfter: new ExponentialBackoff({ initialDelay: 500, maxDelay: 10_000 }),
      breaker: new ConsecutiveBreaker(3),
    })
    this.#breaker.onStateChange((state) => {
      const name = breakerStateOf(state)
      this.#observer?.breaker(name)
      this.#logger.warn({ state: name }, 'Kafka circuit breaker changed state')
    })
  }

  /** The after-commit hand-off for a PaymentService in this process. */
  dispatcher(): OutboxDispatcher {
    return {
      handOff: (records) => {
        const room = this.#fastPathCapacity - this.#fastPath.length
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
      await this.#leases.releaseAll()
    } catch (error) {
      // They expire on their own; another relay then takes the buckets after the lease time.
      this.#logger.warn({ err: error }, 'could not give the bucket leases back; they will expire')
    }
  }

  /**
   * Claim, send, mark, pipelined: before a batch is handed to the producer, the next
   * CLAIMS_AHEAD batches are claimed one after another, so the database reads them while this
   * one is encoded and acknowledged, and marks are written behind the sends. A failure drains
   * the pipeline and restarts the poll from the oldest pending row.
   */
  async #run(): Promise<void> {
    const ahead: Claim[] = []
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
          this.#taken.clear()
          await this.#settle()
          continue
        }
        this.#claimAhead(ahead, batch)
        if ((await this.#send(batch.events)) !== 'ok') {
          await this.#dropAhead(ahead)
          this.#taken.clear()
          await this.#settle()
          if (!this.#stopping) await this.#idle()
        }
      } catch (error) {
        this.#logger.error({ err: error }, 'relay cycle failed; retrying after the poll interval')
        await this.#dropAhead(ahead)
        this.#inFlight.clear()
        this.#taken.clear()
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
   * #select waits for the one before it, whose runs it continues (#taken). A claim that is not
   * started resolves to undefined, and so do all after it.
   */
  #claimAhead(ahead: Claim[], current: Batch): void {
    let previous: Claim = ahead.at(-1) ?? {
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
  async #dropAhead(ahead: Claim[]): Promise<void> {
    let logged: unknown
    for (const claim of ahead.splice(0)) {
      try {
        const batch = await claim.batch
        if (batch !== undefined) this.#release(batch.events)
      } catch (error) {
        // A failed claim fails every claim chained after it with the same error: log it once.
        if (error !== logged)
          this.#logger.error({ err: error }, 'claiming ahead failed; the next pass claims again')
        logged = error
      }
    }
  }

  /**
   * Whether every event's bucket is still leased for a whole send. A batch claimed ahead waits
   * for the sends before it, and the lease check at claim time covers only one send's length.
   */
  #stillLeased(events: PendingEvent[]): boolean {
    const usable = new Set(this.#leases.usable(this.#deliveryTimeoutMs))
    return events.every((event) => usable.has(event.bucket))
  }

  async #heartbeatIfDue(): Promise<void> {
    if (this.#now() < this.#nextHeartbeat) return
    await this.#leases.heartbeat(this.breakerState())
    this.#observer?.buckets(this.#leases.held())
    this.#nextHeartbeat = this.#now() + this.#leases.leaseMs / 3
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
    if (ready && (this.#fastPath.length > 0 || this.#pollRequested)) return
    const controller = new AbortController()
    const woken = new Promise<void>((resolve) => {
      this.#interrupt = resolve
      if (ready) this.#wake = resolve
    })
    const untilPoll = ready
      ? Math.max(0, this.#lastPollStart + this.#pollIntervalMs - this.#now())
      : this.#pollIntervalMs
    await Promise.race([woken, sleep(untilPoll, undefined, { signal: controller.signal }).catch(() => {})])
    controller.abort()
    this.#wake = undefined
    this.#interrupt = undefined
  }

  /**
   * The next batch: due retries and handed-off records first, then the poll. Each payment
   * contributes only the run of events that directly follows its last one already taken, so
   * nothing overtakes an earlier event that is in flight, waiting for a retry, or not yet read.
   *
   * Why a payment's next event usually needs no query: appendEvent locks the payment row before
   * it inserts, so a payment's events get increasing ids and commit in sequence order, and one
   * statement that sees an event also sees every earlier one, at a lower id. So an event is safe
   * to take when it is its payment's first, or follows the last one taken (#taken). The database
   * is asked only about the others: a payment first met in a later batch of a pass (an earlier
   * event may have committed late, below the cursor), handed-off records of payments not in
   * memory, and due retries.
   *
   * Handed-off records alone are claimed without polling while the last poll is recent: a
   * commit reaches Kafka after one send, not after a scan of the table.
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
    const usable = new Set(this.#leases.usable(this.#deliveryTimeoutMs))
    const now = this.#now()
    const poll =
      this.#pass !== undefined || this.#pollRequested || now - this.#lastPollStart >= this.#pollIntervalMs
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
      const found = await this.#store.fetchRetries([...usable], now)
      this.#pass = { buckets: usable, held: found.held }
      retries = found.due
    }
    const pass = this.#pass
    // A bucket leased during the pass waits for the next one; a bucket lost is dropped at once.
    const buckets = new Set([...pass.buckets].filter((bucket) => usable.has(bucket)))
    const fast = this.#takeFastPath(buckets)
    const room = this.#batchSize - fast.length - retries.length
    const ids = room > 0 ? await this.#store.fetchPendingIds([...buckets], room, this.#cursor) : []
    const full = room <= 0 || ids.length >= room
    const last = ids.at(-1)
    if (full) {
      if (last !== undefined) this.#cursor = last
    } else {
      this.#cursor = 0
      this.#pass = undefined
    }
    return { ready: [...retries, ...fast], ids, buckets, held: pass.held, full, publishedMeanwhile }
  }

  /**
   * The second half of #claim: reads the plan's events, then selects the batch once the batch
   * before it (`after`) was selected.
   */
  async #load(plan: Plan, after?: Promise<unknown>): Promise<Batch> {
    try {
      const polled = plan.ids.length > 0 ? await this.#store.fetchEvents(plan.ids) : []
      await after
      const candidates = [...plan.ready, ...polled].filter((event) => !plan.publishedMeanwhile.has(event.id))
      return await this.#select(candidates, plan.buckets, plan.held, plan.full)
    } finally {
      this.#activePlans.delete(plan.publishedMeanwhile)
    }
  }

  /** Keeps, per payment, the run of candidates that may go out now (see #claim), and marks them in flight. */
  async #select(
    candidates: PendingEvent[],
    buckets: Set<number>,
    held: Set<string> | undefined,
    full: boolean,
  ): Promise<Batch> {
    const byPayment = new Map<string, PendingEvent[]>()
    const seen = new Set<number>()
    for (const event of candidates) {
      if (seen.has(event.id) || this.#inFlight.has(event.id)) continue
      if (!buckets.has(event.bucket) || held?.has(event.paymentId)) continue
      seen.add(event.id)
      const list = byPayment.get(event.paymentId) ?? []
      list.push(event)
      byPayment.set(event.paymentId, list)
    }
    const unknown = new Set<string>()
    for (const [paymentId, list] of byPayment) {
      list.sort((a, b) => a.sequence - b.sequence)
      const first = list[0] as PendingEvent
      const taken = this.#taken.get(paymentId)
      const follows = first.sequence === 1 ? taken === undefined : taken === first.sequence - 1
      if (!follows) unknown.add(paymentId)
    }
    const firstPending =
      unknown.size > 0 ? await this.#store.firstPendingSequences([...unknown]) : new Map<string, number>()

    const events: PendingEvent[] = []
    for (const [paymentId, list] of byPayment) {
      // A payment asked about with nothing pending was published meanwhile (a handed-off copy
      // of a row the poll already sent): none of its candidates may go out again.
      const start = unknown.has(paymentId) ? firstPending.get(paymentId) : (list[0] as PendingEvent).sequence
      if (start === undefined) continue
      let expected = start
      for (const event of list) {
        if (event.sequence !== expected) break
        events.push(event)
        expected++
      }
      if (expected > start) this.#remember(paymentId, expected - 1)
    }
    // Within one send, a partition receives its records in array order: each payment's in
    // sequence. A poll's rows come in id order, which is sequence order per payment (see #claim);
    // only a batch with retries or handed-off records in front needs sorting.
    if (!ascendingIds(events))
      events.sort((a, b) => (a.paymentId === b.paymentId ? a.sequence - b.sequence : a.id - b.id))
    for (const event of events) this.#inFlight.add(event.id)
    return { events, full }
  }

  /**
   * Forgets the payment remembered first once TAKEN_MEMORY are kept: a forgotten payment's next
   * event costs one query. An update keeps its place: moving it to the end (delete and set) made
   * the map rehash itself so often that it cost more than the rest of #select.
   */
  #remember(paymentId: string, sequence: number): void {
    const known = this.#taken.has(paymentId)
    this.#taken.set(paymentId, sequence)
    if (!known && this.#taken.size > TAKEN_MEMORY) {
      const oldest = this.#taken.keys().next().value
      if (oldest !== undefined) this.#taken.delete(oldest)
    }
  }

  /** Sends one batch; on success its mark is queued behind the earlier ones. */
  async #send(events: PendingEvent[]): Promise<'ok' | 'outage' | 'refused'> {
    this.#observer?.batch(events.length)
    try {
      await this.#breaker.execute(() => this.#publisher.send(events))
    } catch (error) {
      if (isBrokenCircuitError(error)) {
        this.#observer?.failure('breaker_open')
        this.#release(events)
        return 'outage'
      }
      if (isKafkaOutage(error)) {
        this.#observer?.failure('outage')
        this.#logger.warn(
          { err: error, events: events.length },
          'Kafka unavailable; the events stay in the outbox',
        )
        this.#release(events)
        return 'outage'
      }
      await this.#settle()
      await this.#oneByOne(events)
      this.#release(events)
      return 'refused'
    }
    const mark: Promise<void> = this.#published(events)
      .catch((error: unknown) => {
        // They stay pending and go out again: at least once, never lost.
        this.#logger.error({ err: error, events: events.length }, 'could not mark events published')
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
    const now = this.#now()
    await this.#store.markPublished(events)
    for (const plan of this.#activePlans) for (const event of events) plan.add(event.id)
    const perTopic = new Map<string, number>()
    for (const event of events) {
      perTopic.set(event.topic, (perTopic.get(event.topic) ?? 0) + 1)
      this.#observer?.commitToAck((now - event.createdAt) / 1000)
    }
    for (const [topic, count] of perTopic) this.#observer?.published(topic, count)
  }

  /**
   * After a send the broker refused, each payment's events are sent one at a time to find the
   * refused record; it is retried later (or dead-lettered) and holds back its payment's later events.
   */
  async #oneByOne(events: PendingEvent[]): Promise<void> {
    const blocked = new Set<string>()
    for (const event of events) {
      if (blocked.has(event.paymentId)) continue
      try {
        await this.#breaker.execute(() => this.#publisher.send([event]))
        await this.#published([event])
      } catch (error) {
        if (isBrokenCircuitError(error) || isKafkaOutage(error)) return
        this.#observer?.failure('record')
        const attempts = event.attempts + 1
        const message = error instanceof Error ? error.message : String(error)
        if (attempts >= this.#maxRetries) {
          await this.#deadLetter(event, attempts, message)
          continue
        }
        const delay =
          Math.min(this.#retryIntervalMs * 2 ** (attempts - 1), RETRY_CAP_MS) * (0.5 + this.#random() / 2)
        await this.#store.markRetry(event, attempts, this.#now() + Math.round(delay), message)
        blocked.add(event.paymentId)
        this.#logger.warn(
          { eventId: event.eventId, attempts, err: error },
          'Kafka refused an event; it will be retried',
        )
      }
    }
  }

  async #deadLetter(event: PendingEvent, attempts: number, message: string): Promise<void> {
    try {
      await this.#breaker.execute(() => this.#publisher.sendDead(event, message, attempts))
    } catch (error) {
      // Not even the DLQ takes it now: keep the row pending; its attempts are already spent.
      this.#logger.error(
        { eventId: event.eventId, err: error },
        'could not dead-letter an event; it stays pending',
      )
      await this.#store.markRetry(event, attempts - 1, this.#now() + this.#retryIntervalMs, message)
      return
    }
    await this.#store.markDead(event, attempts, message, this.#now())
    this.#observer?.dead()
    this.#logger.error(
      { eventId: event.eventId, topic: event.topic, attempts },
      'event dead-lettered to payment.dlq',
    )
  }
}
