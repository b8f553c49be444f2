// Which @platformatic/kafka consumers have a group (re)join under way, seen through the library's
// diagnostics channel `plt:kafka:consumer:group` (docs/diagnostic.md of the library): every
// `joinGroup` operation, whether the consumer started it after a heartbeat answered that the
// group rebalances or after a commit was refused, publishes `start` when it begins and
// `asyncEnd` once its callback has run (JoinGroup, SyncGroup, and the second round of a
// cooperative rebalance, included).
//
// KeyedConsumer needs this to let a client go (see `#release` there):
// - a LeaveGroup sent while this member's JoinGroup waits in the broker queues behind it (the
//   broker answers a connection's requests in order), so leaving waits for the whole rebalance;
// - @platformatic/kafka 2.12.1 arms a heartbeat-stall timer (`heartbeatStallTimeout`, by
//   default `rebalanceTimeout`, 60 s for payrail) when a rejoin started by a heartbeat fails, and
//   nothing clears it if that happens after `close()`: a rejoin cut short by `close()` leaves a
//   timer that keeps the process alive for a minute.

import { consumerGroupChannel } from '@platformatic/kafka'

interface OperationContext {
  client?: unknown
  operation?: string
  error?: unknown
}

const underWay = new WeakMap<object, number>()
const listeners = new WeakMap<object, Set<() => void>>()
/** Joins that started and whose callback has not run yet. */
const open = new WeakSet<object>()

function ended(context: OperationContext): void {
  if (!open.delete(context)) return
  const client = context.client as object
  const count = (underWay.get(client) ?? 1) - 1
  if (count > 0) {
    underWay.set(client, count)
    return
  }
  underWay.delete(client)
  for (const listener of listeners.get(client) ?? []) listener()
}

consumerGroupChannel.subscribe({
  start(message) {
    const context = message as OperationContext
    if (context.operation !== 'joinGroup' || typeof context.client !== 'object' || context.client === null)
      return
    open.add(context)
    underWay.set(context.client, (underWay.get(context.client) ?? 0) + 1)
  },
  asyncEnd(message) {
    ended(message as OperationContext)
  },
  asyncStart() {},
  error() {},
  end(message) {
    // A join that threw before it could call back.
    const context = message as OperationContext
    if (context.error !== undefined) ended(context)
  },
})

/** How many group joins of this client are under way. */
export function joinsUnderWay(client: object): number {
  return underWay.get(client) ?? 0
}

/** Resolves true once no group join of this client is under way, false if `timeoutMs` passes first. */
export function noJoinUnderWay(client: object, timeoutMs: number): Promise<boolean> {
  if (joinsUnderWay(client) === 0) return Promise.resolve(true)
  if (timeoutMs <= 0) return Promise.resolve(false)
  return new Promise((resolve) => {
    const waiting = listeners.get(client) ?? new Set<() => void>()
    listeners.set(client, waiting)
    const done = (idle: boolean) => {
      clearTimeout(timer)
      waiting.delete(listener)
      if (waiting.size === 0) listeners.delete(client)
      resolve(idle)
    }
    const listener = () => done(true)
    const timer = setTimeout(() => done(false), timeoutMs)
    waiting.add(listener)
  })
}
