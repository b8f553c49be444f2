import type { IncomingHttpHeaders } from 'node:http'
import { ExponentialBackoff, type IBackoff } from 'cockatiel'
import { Type } from 'typebox'
import type { Range } from '../config/variables.ts'
import { fraction, type OptionRule, resolveOptions, wholeNumber } from '../runtime/options.ts'

export interface RetryPolicyOptions {
  /** Attempts per request, the first included. Default: 3 (GATEWAY_RETRY_MAX_ATTEMPTS). */
  maxAttempts?: number
  /** Retries allowed as a share of the requests in the window. Default: 0.2, at most 20 % extra load (GATEWAY_RETRY_BUDGET_RATIO). */
  budgetRatio?: number
  /** Retries allowed per window on top of the share, so that a quiet gateway can retry at all. Default: 10 (GATEWAY_RETRY_BUDGET_MIN). */
  budgetMin?: number
  /** The sliding window the budget counts over. Default: 10000 ms. */
  budgetWindowMs?: number
  /** First and largest pause before a retry, drawn with decorrelated jitter. Default: 10-200 ms (GATEWAY_RETRY_BACKOFF_MS). */
  backoffMs?: Range
}

export const defaultRetryPolicyOptions: Required<RetryPolicyOptions> = {
  maxAttempts: 3,
  budgetRatio: 0.2,
  budgetMin: 10,
  budgetWindowMs: 10_000,
  backoffMs: { min: 10, max: 200 },
}

/** Why a failed attempt may be sent again; undefined when it must not be. */
export type RetryReason = 'not-sent' | 'idempotent' | 'idempotency-key'

// RFC 9110 §9.2.2: repeating these has the effect of sending them once.
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])

/**
 * Whether a failed attempt may go again. A request that never left the gateway always may. One
 * that may have reached the upstream only when repeating it is harmless: an idempotent method,
 * or an idempotency key (header or the JSON body's `idempotencyKey`) with which the api answers
 * the first result again instead of acting twice.
 */
export function retryReason(
  method: string,
  sent: boolean,
  headers: IncomingHttpHeaders,
  body: Buffer | undefined,
): RetryReason | undefined {
  if (!sent) return 'not-sent'
  if (IDEMPOTENT.has(method)) return 'idempotent'
  if (hasIdempotencyKey(headers, body)) return 'idempotency-key'
  return undefined
}

/** Looked at only after a failure, so the JSON body is parsed off the hot path. */
export function hasIdempotencyKey(headers: IncomingHttpHeaders, body: Buffer | undefined): boolean {
  const header = headers['idempotency-key']
  if (typeof header === 'string' && header.trim() !== '') return true
  if (body === undefined || !String(headers['content-type'] ?? '').includes('json')) return false
  if (!body.includes('idempotencyKey')) return false
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown
    const key = (parsed as { idempotencyKey?: unknown } | null)?.idempotencyKey
    return typeof key === 'string' && key.trim() !== ''
  } catch {
    return false
  }
}

const SLOTS = 10

/**
 * Retries per window limited to `ratio` × requests + `min`, counted in ten slots that slide
 * with the clock, so that an outage cannot turn the gateway into a load multiplier.
 */
export class RetryBudget {
  readonly #ratio: number
  readonly #min: number
  readonly #slotMs: number
  readonly #requests = new Array<number>(SLOTS).fill(0)
  readonly #retries = new Array<number>(SLOTS).fill(0)
  #slot = 0
  #slotStart = 0

  constructor(ratio: number, min: number, windowMs: number) {
    this.#ratio = ratio
    this.#min = min
    this.#slotMs = Math.max(1, Math.floor(windowMs / SLOTS))
  }

  recordRequest(now = Date.now()): void {
    this.#advance(now)
    this.#requests[this.#slot] = (this.#requests[this.#slot] as number) + 1
  }

  /** Takes one retry from the budget; false when it is spent. */
  tryRetry(now = Date.now()): boolean {
    this.#advance(now)
    let requests = 0
    let retries = 0
    for (let i = 0; i < SLOTS; i++) {
      requests += this.#requests[i] as number
      retries += this.#retries[i] as number
    }
    if (retries + 1 > this.#ratio * requests + this.#min) return false
    this.#retries[this.#slot] = (this.#retries[this.#slot] as number) + 1
    return true
  }

  #advance(now: number): void {
    const elapsed = Math.floor((now - this.#slotStart) / this.#slotMs)
    if (elapsed <= 0) return
    for (let i = 1; i <= Math.min(elapsed, SLOTS); i++) {
      const slot = (this.#slot + i) % SLOTS
      this.#requests[slot] = 0
      this.#retries[slot] = 0
    }
    this.#slot = (this.#slot + elapsed) % SLOTS
    this.#slotStart += elapsed * this.#slotMs
  }
}

const schema = Type.Object({
  maxAttempts: wholeNumber(1, 10),
  budgetRatio: fraction(),
  budgetMin: wholeNumber(0),
  budgetWindowMs: wholeNumber(SLOTS),
  backoffMs: Type.Object(
    { min: Type.Integer({ minimum: 0 }), max: Type.Integer({ minimum: 0 }) },
    { problem: 'must be {min, max} in whole milliseconds' },
  ),
})

const rules: OptionRule<Required<RetryPolicyOptions>>[] = [
  {
    holds: (o) => o.backoffMs.min <= o.backoffMs.max,
    problem: (o) => `backoffMs.min (${o.backoffMs.min}) must not exceed backoffMs.max (${o.backoffMs.max})`,
  },
]

/** The gateway's retry rules: how many attempts, the shared budget, and the pauses between. */
export class RetryPolicy {
  readonly maxAttempts: number
  readonly budget: RetryBudget
  readonly #backoff: ExponentialBackoff<unknown>

  constructor(options: RetryPolicyOptions = {}) {
    const resolved = resolveOptions('retryPolicy', schema, defaultRetryPolicyOptions, options, rules)
    this.maxAttempts = resolved.maxAttempts
    const backoff = resolved.backoffMs
    this.budget = new RetryBudget(resolved.budgetRatio, resolved.budgetMin, resolved.budgetWindowMs)
    this.#backoff = new ExponentialBackoff({ initialDelay: backoff.min, maxDelay: backoff.max })
  }

  /** A fresh sequence of pauses for one request: each call gives the pause before its next retry. */
  pauses(): { next: () => number } {
    let current: IBackoff<unknown> | undefined
    return {
      next: () => {
        current = current === undefined ? this.#backoff.next() : current.next(undefined)
        return current.duration
      },
    }
  }
}
