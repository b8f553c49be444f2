import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { PayrailError } from '../domain/errors.ts'
import { resolveOptions, wholeNumber } from '../runtime/options.ts'
import { WaitQueue } from '../runtime/wait-queue.ts'

export interface AdmissionOptions {
  /** Requests in progress at once; more wait. Default: 256 (API_MAX_IN_FLIGHT). */
  maxInFlight: number
  /** Requests that may wait for admission; one more is refused at once. Default: 128 (API_MAX_QUEUED). */
  maxQueued: number
  /** Longest wait for admission before OVERLOADED. Default: 200 ms (API_QUEUE_TIMEOUT_MS). */
  queueTimeoutMs: number
}

export const defaultAdmissionOptions: AdmissionOptions = {
  maxInFlight: 256,
  maxQueued: 128,
  queueTimeoutMs: 200,
}

const schema = Type.Object({
  maxInFlight: wholeNumber(1, 1_000_000),
  maxQueued: wholeNumber(0, 1_000_000),
  queueTimeoutMs: wholeNumber(1),
})

/** What the admission reports; the api's metrics implement it. */
export interface AdmissionObserver {
  rejected(reason: 'queue_full' | 'queue_timeout'): void
}

/**
 * The api's own load shedding: at most `maxInFlight` requests in progress, a short queue with a
 * deadline, and a fast 503 OVERLOADED with Retry-After beyond it. Without it an overload is
 * accepted whole: measured with 1,024 connections through the gateway, the api's event loop fell
 * so far behind that its own acquirer calls timed out (1,633 ACQUIRER_TIMEOUT), the authorize
 * breaker opened on that self-inflicted latency, and goodput fell from about 1,050/s to 300/s.
 * Admitted requests keep their latency, so timeouts and breakers measure the dependency, not the
 * api's queue. Operational routes (/healthz, /readyz, /metrics) are always admitted.
 */
export class Admission {
  readonly #queue: WaitQueue<true, undefined>
  readonly #maxInFlight: number
  #inFlight = 0

  constructor(options: Partial<AdmissionOptions> = {}, observer?: AdmissionObserver) {
    const o = resolveOptions('admission', schema, defaultAdmissionOptions, options)
    this.#maxInFlight = o.maxInFlight
    // A client told to come back in a second spreads its retry; sooner would meet the same queue.
    const overloaded = (reason: 'queue_full' | 'queue_timeout', message: string) => {
      observer?.rejected(reason)
      return new PayrailError('OVERLOADED', message, { details: { retryAfterSeconds: 1 } })
    }
    this.#queue = new WaitQueue(
      'admission',
      { timeoutMs: o.queueTimeoutMs, maxWaiters: o.maxQueued },
      () => {
        if (this.#inFlight >= this.#maxInFlight) return undefined
        this.#inFlight++
        return true
      },
      {
        full: (waiting) =>
          overloaded('queue_full', `${this.#inFlight} requests in progress and ${waiting} waiting`),
        timedOut: (timeoutMs) =>
          overloaded('queue_timeout', `no request slot came free within ${timeoutMs} ms`),
      },
    )
  }

  get inFlight(): number {
    return this.#inFlight
  }

  get waiting(): number {
    return this.#queue.waiting
  }

  /** Resolves once the request may run; rejects with OVERLOADED. Each success needs one `leave()`. */
  async enter(): Promise<void> {
    await this.#queue.acquire(undefined)
  }

  leave(): void {
    this.#inFlight--
    this.#queue.drain()
  }
}

const OPERATIONAL = new Set(['/healthz', '/readyz', '/metrics'])

/**
 * Admits every request of `app` but the operational ones through `admission`. A request leaves
 * when its answer is handed to the socket (onSend), or when its response closed without one:
 * not when the client goes away, since its handler still runs (a gateway gives up on requests
 * exactly when the api is overloaded, and freeing their slots then would admit more work than
 * the limit).
 */
export function registerAdmission(app: FastifyInstance, admission: Admission): void {
  const admitted = new WeakMap<object, { left: boolean }>()
  const leave = (request: object) => {
    const entry = admitted.get(request)
    if (entry === undefined || entry.left) return
    entry.left = true
    admission.leave()
  }
  app.addHook('onRequest', async (request) => {
    if (OPERATIONAL.has(request.url)) return
    await admission.enter()
    admitted.set(request, { left: false })
  })
  app.addHook('onSend', async (request, _reply, payload) => {
    leave(request)
    return payload
  })
  app.addHook('onResponse', async (request) => leave(request))
}
