// Which @platformatic/kafka consumers have a group (re)join under way, seen through the library's
// diagnostics channel `plt:kafka:consumer:group` (docs/diagnostic.md of the library): every
// `joinGroup` operation, whether the consumer started it after a heartbeat answered that the
// group rebalances or after a commit was refused, publishes `start` when it begins and
// `asyncEnd` once its callback has run (JoinGroup, SyncGroup, and the second round of a
// cooperative rebalance, included).
//
// KeyedConsumer needs this to let a client go (see `KafkaSession.release`):
// - a LeaveGroup sent while this member's JoinGroup waits in the broker queues behind it (the
//   broker answers a connection's requests in order), so leaving waits for the whole rebalance;
// - @platformatic/kafka 2.12.1 arms a heartbeat-stall timer (`heartbeatStallTimeout`, by
//   default `rebalanceTimeout`, 60 s for payrail; added by
//   https://github.com/platformatic/kafka/pull/375 for
//   https://github.com/platformatic/kafka/issues/374) when a rejoin started by a heartbeat
//   fails, and nothing clears it if that happens after `close()`: a rejoin cut short by
//   `close()` leaves a timer that keeps the process alive for a minute.

import { consumerGroupChannel } from '@platformatic/kafka'
import { withDeadline } from '../../runtime/deadline.ts'

interface OperationContext {
  client?: unknown
  operation?: string
  error?: unknown
}

/**
 * Counts the group joins under way per Kafka client, for one consumer: listening from `start()`
 * until `close()` (a channel subscriber is process-wide, so it must not outlive its consumer).
 */
export class GroupJoins {
  readonly #underWay = new WeakMap<object, number>()
  readonly #listeners = new WeakMap<object, Set<() => void>>()
  /** Joins that started and whose callback has not run yet. */
  readonly #open = new WeakSet<object>()
  #subscribed = false
  readonly #subscriber = {
    start: (message: unknown) => {
      const context = message as OperationContext
      if (context.operation !== 'joinGroup' || typeof context.client !== 'object' || context.client === null)
        return
      this.#open.add(context)
      this.#underWay.set(context.client, (this.#underWay.get(context.client) ?? 0) + 1)
    },
    asyncEnd: (message: unknown) => this.#ended(message as OperationContext),
    asyncStart: () => {},
    error: () => {},
    end: (message: unknown) => {
      // A join that threw before it could call back.
      const context = message as OperationContext
      if (context.error !== undefined) this.#ended(context)
    },
  }

  /** Starts listening to the library's group operations. */
  start(): void {
    if (this.#subscribed) return
    consumerGroupChannel.subscribe(this.#subscriber)
    this.#subscribed = true
  }

  /** Stops listening; joins still counted are forgotten with their clients. */
  close(): void {
    if (!this.#subscribed) return
    consumerGroupChannel.unsubscribe(this.#subscriber)
    this.#subscribed = false
  }

  /** How many group joins of this client are under way. */
  underWay(client: object): number {
    return this.#underWay.get(client) ?? 0
  }

  /** Resolves true once no group join of this client is under way, false if `timeoutMs` passes first. */
  noneUnderWay(client: object, timeoutMs: number): Promise<boolean> {
    if (this.underWay(client) === 0) return Promise.resolve(true)
    if (timeoutMs <= 0) return Promise.resolve(false)
    const waiting = this.#listeners.get(client) ?? new Set<() => void>()
    this.#listeners.set(client, waiting)
    let listener: () => void = () => {}
    const idle = new Promise<boolean>((resolve) => {
      listener = () => resolve(true)
      waiting.add(listener)
    })
    return withDeadline(idle, timeoutMs, () => {
      waiting.delete(listener)
      if (waiting.size === 0 && this.#listeners.get(client) === waiting) this.#listeners.delete(client)
      return false
    })
  }

  #ended(context: OperationContext): void {
    if (!this.#open.delete(context)) return
    const client = context.client as object
    const count = (this.#underWay.get(client) ?? 1) - 1
    if (count > 0) {
      this.#underWay.set(client, count)
      return
    }
    this.#underWay.delete(client)
    const waiting = this.#listeners.get(client)
    this.#listeners.delete(client)
    for (const listener of waiting ?? []) listener()
  }
}
