import { Type } from 'typebox'
import { resolveOptions, wholeNumber } from './options.ts'

export interface WaitQueueOptions {
  /** Longest wait for a free slot. Default: 5000 ms (the gateway: GATEWAY_POOL_ACQUIRE_TIMEOUT_MS). */
  timeoutMs?: number
  /** Requests that may wait at once; one more is refused at once. Default: 2000 (the gateway: GATEWAY_POOL_MAX_WAITERS). */
  maxWaiters?: number
}

/** What a refused wait rejects with: the queue's user names the catalog code. */
export interface WaitRefusals {
  /** `waiting` already wait: the queue is full. */
  full: (waiting: number) => unknown
  /** No slot came free within `timeoutMs`. */
  timedOut: (timeoutMs: number) => unknown
}

export const defaultWaitQueueOptions: Required<WaitQueueOptions> = { timeoutMs: 5000, maxWaiters: 2000 }

const schema = Type.Object({ timeoutMs: wholeNumber(1), maxWaiters: wholeNumber(0) })

interface Waiter<T, A> {
  avoid: A
  resolve: (value: T) => void
  reject: (error: unknown) => void
  timer: NodeJS.Timeout
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
}

/**
 * A wait for a free slot, first come first served, with its own timer per waiter and a bound on
 * waiters: the gateway's wait for an upstream connection (gateway/acquire-queue.ts) and the api's
 * admission of requests (api/admission.ts).
 *
 * Written here because undici cannot do it: a request dispatched to a busy undici Pool waits in
 * the Pool's internal queue with no time limit (its timeouts start once the request is on a
 * connection), and that queue has no bound. So the gateway never dispatches more requests to
 * an instance than it has connections, and requests beyond that wait here instead.
 *
 * `take` is asked for a slot (it returns undefined when none is free); whoever frees one calls
 * `drain`. `avoid` is passed through to `take` (e.g. the instances a retry should stay away from).
 */
export class WaitQueue<T, A> {
  readonly timeoutMs: number
  readonly maxWaiters: number
  // A Set keeps insertion order and deletes in O(1), so a timed-out waiter leaves at once.
  readonly #waiters = new Set<Waiter<T, A>>()
  readonly #take: (avoid: A) => T | undefined
  readonly #refusals: WaitRefusals

  constructor(
    component: string,
    options: WaitQueueOptions,
    take: (avoid: A) => T | undefined,
    refusals: WaitRefusals,
  ) {
    const resolved = resolveOptions(component, schema, defaultWaitQueueOptions, options)
    this.timeoutMs = resolved.timeoutMs
    this.maxWaiters = resolved.maxWaiters
    this.#take = take
    this.#refusals = refusals
  }

  get waiting(): number {
    return this.#waiters.size
  }

  /**
   * A slot at once when one is free and nobody waits before this request; otherwise a place in
   * the queue. Rejects with the `full` refusal when the queue is full, the `timedOut` one after
   * `timeoutMs`, or the signal's reason when the caller gave up. `gone` is called only
   * when the request has to wait, so the common case allocates no signal.
   */
  acquire(avoid: A, gone?: () => AbortSignal): Promise<T> {
    if (this.#waiters.size === 0) {
      const slot = this.#take(avoid)
      if (slot !== undefined) return Promise.resolve(slot)
    }
    if (this.#waiters.size >= this.maxWaiters) return Promise.reject(this.#refusals.full(this.#waiters.size))
    const signal = gone?.()
    if (signal?.aborted) return Promise.reject(signal.reason)
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T, A> = {
        avoid,
        resolve,
        reject,
        signal,
        onAbort: undefined,
        timer: setTimeout(() => {
          this.#remove(waiter)
          reject(this.#refusals.timedOut(this.timeoutMs))
        }, this.timeoutMs),
      }
      if (signal !== undefined) {
        waiter.onAbort = () => {
          this.#remove(waiter)
          reject(signal.reason)
        }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      this.#waiters.add(waiter)
    })
  }

  /** Hands free slots to the longest waiting requests. */
  drain(): void {
    for (const waiter of this.#waiters) {
      const slot = this.#take(waiter.avoid)
      // Slots are not specific to a waiter, so if the first cannot be served nobody can.
      if (slot === undefined) return
      this.#remove(waiter)
      waiter.resolve(slot)
    }
  }

  /** Fails every waiter, e.g. when no instance is left to wait for. */
  rejectAll(error: () => unknown): void {
    for (const waiter of this.#waiters) {
      this.#remove(waiter)
      waiter.reject(error())
    }
  }

  #remove(waiter: Waiter<T, A>): void {
    this.#waiters.delete(waiter)
    clearTimeout(waiter.timer)
    if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort)
  }
}
