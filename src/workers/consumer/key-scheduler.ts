import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '../../observability/logger.ts'
import { backoff } from '../../runtime/backoff.ts'
import { withDeadline } from '../../runtime/deadline.ts'
import { decide, errorCode, errorMessage, type FailurePolicy } from './failure-policy.ts'
import { KeyQueues } from './key-queues.ts'
import type { ConsumerObserver } from './observer.ts'
import type { RecordHandler } from './options.ts'
import type { ConsumedRecord, RawRecord } from './record.ts'

/** One record's work, from the moment it is taken until it is finished or given up. */
export interface Task<Owner> {
  readonly record: ConsumedRecord
  readonly raw: RawRecord
  /** The partition claim the record was taken under. */
  readonly owner: Owner
  /** Failed attempts so far, outages not counted. */
  attempts: number
  state: 'queued' | 'running' | 'waiting' | 'settled'
  /** Its partition is being given back: it may finish, but it will not wait for a retry. */
  draining: boolean
  readonly controller: AbortController
}

/** How a task ended: `finished` (handled or dead-lettered: its offset may be committed) or `abandoned` (it will be delivered again). */
export type Settlement = 'finished' | 'abandoned'

export interface KeySchedulerOptions<Owner> {
  handler: RecordHandler
  policy: FailurePolicy
  observer: ConsumerObserver
  logger: Logger
  /** Stores a dead letter; a rejection makes the scheduler try again later (the key waits). */
  deadLetter: (task: Task<Owner>, code: string, message: string) => Promise<void>
  /** Told when a task ends, after its key's next record (if any) has started. */
  onSettled: (task: Task<Owner>, settlement: Settlement) => void
}

interface IdleWaiter<Owner> {
  matches: (task: Task<Owner>) => boolean
  resolve: () => void
}

/**
 * Runs records in parallel while keeping each key's records in order: a record starts at once
 * unless an earlier record with its key is still running or waiting to be retried, in which case
 * it queues behind it. A failed record is retried after a backoff without holding up other keys;
 * it is dead-lettered once its attempts are used up or its error is not retryable; during an
 * outage it waits as long as needed without spending attempts. Records without a key are not
 * ordered. The scheduler knows nothing of Kafka: the consumer decides what to take and commit.
 */
export class KeyScheduler<Owner> {
  readonly #options: KeySchedulerOptions<Owner>
  readonly #keys = new KeyQueues<Task<Owner>>()
  /** Tasks running or waiting to be retried. */
  readonly #active = new Set<Task<Owner>>()
  #idleWaiters: IdleWaiter<Owner>[] = []

  constructor(options: KeySchedulerOptions<Owner>) {
    this.#options = options
  }

  /** Takes a record: it starts now or queues behind its key. */
  submit(record: ConsumedRecord, raw: RawRecord, owner: Owner): Task<Owner> {
    const task: Task<Owner> = {
      record,
      raw,
      owner,
      attempts: 0,
      state: 'queued',
      draining: false,
      controller: new AbortController(),
    }
    if (record.key === null || this.#keys.offer(record.key, task)) this.#start(task)
    this.#report()
    return task
  }

  /** Tasks running or waiting to be retried. */
  get inFlight(): number {
    return this.#active.size
  }

  /** Tasks waiting behind an earlier task of their key. */
  get queued(): number {
    return this.#keys.queued
  }

  /**
   * Lets the matching tasks finish what can finish soon: running and queued ones go on (a queued
   * one starts when its key's earlier record is done), but none waits for a retry any more:
   * waiting ones are abandoned now, with the records queued behind them, and so are those that
   * fail from now on. Used when a partition is given back (see `whenIdle`, then `abort`).
   */
  drain(matches: (task: Task<Owner>) => boolean): void {
    const mark = (task: Task<Owner>) => {
      if (matches(task)) task.draining = true
    }
    this.#keys.forEach(mark)
    for (const task of this.#active) {
      mark(task)
      if (task.draining && task.state === 'waiting') task.controller.abort()
    }
  }

  /** Abandons the matching queued tasks and aborts the running ones (each is abandoned unless its handler completes anyway). */
  abort(matches: (task: Task<Owner>) => boolean): number {
    for (const task of this.#keys.remove(matches)) this.#settle(task, 'abandoned')
    let aborted = 0
    for (const task of this.#active) {
      if (matches(task) && !task.controller.signal.aborted) {
        task.controller.abort()
        aborted++
      }
    }
    return aborted
  }

  /** Resolves true once no matching task is left (running, waiting or queued), or false after `timeoutMs`. */
  whenIdle(matches: (task: Task<Owner>) => boolean, timeoutMs: number): Promise<boolean> {
    if (!this.#anyLeft(matches)) return Promise.resolve(true)
    let waiter: IdleWaiter<Owner> | undefined
    const idle = new Promise<boolean>((resolve) => {
      waiter = { matches, resolve: () => resolve(true) }
      this.#idleWaiters.push(waiter)
    })
    const forget = () => {
      this.#idleWaiters = this.#idleWaiters.filter((w) => w !== waiter)
    }
    return withDeadline(idle, timeoutMs, () => {
      forget()
      return false
    }).finally(forget)
  }

  #anyLeft(matches: (task: Task<Owner>) => boolean): boolean {
    for (const task of this.#active) if (matches(task)) return true
    return this.#keys.some(matches)
  }

  #start(task: Task<Owner>): void {
    task.state = 'running'
    this.#active.add(task)
    void this.#run(task).catch((error: unknown) => {
      // #run handles every failure of the handler itself; this is a bug in the consumer.
      this.#options.logger.error({ err: error, ...where(task) }, 'record processing crashed; it is given up')
      if (task.state !== 'settled') this.#settle(task, 'abandoned')
    })
  }

  async #run(task: Task<Owner>): Promise<void> {
    const { handler, policy, observer, logger } = this.#options
    const signal = task.controller.signal
    let outages = 0
    for (;;) {
      task.state = 'running'
      const started = performance.now()
      let outcome: unknown
      try {
        outcome = await handler(task.record, signal)
      } catch (error) {
        const seconds = (performance.now() - started) / 1000
        if (signal.aborted) {
          observer.handled('error', seconds)
          this.#settle(task, 'abandoned')
          return
        }
        const decision = decide(error, task.attempts + 1, policy)
        if (decision === 'outage') {
          observer.handled('outage', seconds)
          observer.retry('outage')
          outages++
          logger.debug({ ...where(task), err: error, outages }, 'dependency unavailable; the record waits')
          if (
            !(await this.#wait(
              task,
              backoff(outages, policy.outageDelayMs, policy.outageMaxDelayMs, policy.random),
            ))
          )
            return
          continue
        }
        outages = 0
        task.attempts++
        observer.handled('error', seconds)
        if (decision === 'retry') {
          observer.retry('failure')
          logger.warn(
            { ...where(task), err: error, attempts: task.attempts, maxAttempts: policy.maxAttempts },
            'record failed; it will be retried',
          )
          if (
            !(await this.#wait(
              task,
              backoff(task.attempts, policy.retryDelayMs, policy.retryMaxDelayMs, policy.random),
            ))
          )
            return
          continue
        }
        await this.#deadLetter(task, error)
        return
      }
      observer.handled('ok', (performance.now() - started) / 1000)
      observer.processed(typeof outcome === 'string' && outcome !== '' ? outcome : 'ok')
      this.#settle(task, 'finished')
      return
    }
  }

  /** Sends the task to the dead-letter topic, trying again (without limit) while that fails. */
  async #deadLetter(task: Task<Owner>, error: unknown): Promise<void> {
    const { policy, observer, logger } = this.#options
    const code = errorCode(error)
    const message = errorMessage(error)
    for (let n = 1; ; n++) {
      task.state = 'running'
      try {
        await this.#options.deadLetter(task, code, message)
        break
      } catch (sendError) {
        logger.error(
          { ...where(task), err: sendError },
          'could not send a record to the dead-letter topic; trying again',
        )
        if (
          !(await this.#wait(task, backoff(n, policy.outageDelayMs, policy.outageMaxDelayMs, policy.random)))
        )
          return
      }
    }
    observer.deadLettered()
    observer.processed('dead_letter')
    logger.error(
      { ...where(task), errorCode: code, errorMessage: message, attempts: task.attempts },
      'record dead-lettered',
    )
    this.#settle(task, 'finished')
  }

  /** Waits before the next try; false (and the task abandoned) when it was given up meanwhile. */
  async #wait(task: Task<Owner>, ms: number): Promise<boolean> {
    task.state = 'waiting'
    if (task.draining) task.controller.abort()
    if (!task.controller.signal.aborted) {
      await sleep(ms, undefined, { signal: task.controller.signal }).catch(() => {})
    }
    if (!task.controller.signal.aborted) return true
    this.#settle(task, 'abandoned')
    return false
  }

  #settle(task: Task<Owner>, settlement: Settlement): void {
    if (task.state === 'settled') return
    const wasActive = this.#active.delete(task)
    task.state = 'settled'
    const key = task.record.key
    let successors: Task<Owner>[] = []
    if (wasActive && key !== null) {
      // An abandoned record is delivered again later (to whoever owns its partition then): the
      // records queued behind it must not run before it, so they are abandoned with it.
      if (settlement === 'abandoned') {
        const owner = task.owner
        successors = this.#keys.remove((t) => t.record.key === key && t.owner === owner)
      }
      const next = this.#keys.release(key)
      if (next !== undefined) this.#start(next)
    }
    this.#report()
    try {
      this.#options.onSettled(task, settlement)
    } catch (error) {
      this.#options.logger.error({ err: error, ...where(task) }, 'settlement callback failed')
    }
    for (const successor of successors) this.#settle(successor, 'abandoned')
    if (this.#idleWaiters.length > 0) {
      for (const waiter of this.#idleWaiters) if (!this.#anyLeft(waiter.matches)) waiter.resolve()
    }
  }

  #report(): void {
    this.#options.observer.inFlight(this.#active.size)
    this.#options.observer.queued(this.#keys.queued)
  }
}

function where(task: Task<unknown>) {
  return {
    topic: task.record.topic,
    partition: task.record.partition,
    offset: String(task.record.offset),
    key: task.record.key,
  }
}
