import { createHash } from 'node:crypto'
import type { RateLimitSpec } from '../../config/variables.ts'
import { PayrailError } from '../../domain/errors.ts'
import type { Operation } from '../routes.ts'
import type { BucketStore } from './store.ts'

export interface RateLimiterOptions {
  /** Bucket per operation; null turns that operation's limit off. Defaults: GATEWAY_RATE_LIMIT_*. */
  limits: Record<Operation, RateLimitSpec | null>
  /** Redis (REDIS_URL set) or memory. */
  store: BucketStore
  /** When the store fails: `open` lets the request through, `closed` answers 503. Default: `open` (GATEWAY_RATE_LIMIT_ON_REDIS_FAILURE). */
  onStoreFailure?: 'open' | 'closed'
  /** Told about each request refused with 429. */
  onLimited?: (operation: Operation) => void
  /** Told about each store failure and what the policy did. */
  onStoreError?: (policy: 'open' | 'closed', error: unknown) => void
}

/** Headers of a limited route's answer (draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy` and `RateLimit`). */
export type RateLimitHeaders = Record<string, string>

const BEARER = /^Bearer\s+(\S+)$/i

/**
 * The bucket's owner: the API key when there is one, else the client address. The key itself
 * never leaves this class: Redis and logs see a hash of it. Recent hashes are remembered (keyed
 * by the key, in this process only), so a busy client costs one hash, not one per request.
 */
export class ClientKeys {
  readonly #hashes = new Map<string, string>()
  readonly #max: number

  /** `max`: keys remembered before the cache starts over. Default: 10000. */
  constructor(max = 10_000) {
    this.#max = max
  }

  of(authorization: string | undefined, clientIp: string): string {
    const key = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1]
    if (key === undefined) return `ip:${clientIp}`
    let hashed = this.#hashes.get(key)
    if (hashed === undefined) {
      hashed = `key:${createHash('sha256').update(key).digest('base64url').slice(0, 32)}`
      if (this.#hashes.size >= this.#max) this.#hashes.clear()
      this.#hashes.set(key, hashed)
    }
    return hashed
  }
}

/**
 * Rate limits per API key and operation (authorize, capture, refund, read): a token bucket each,
 * refused with 429 RATE_LIMIT_EXCEEDED and `Retry-After` when empty.
 */
export class RateLimiter {
  readonly #limits: Record<Operation, RateLimitSpec | null>
  readonly #store: BucketStore
  readonly #policy: 'open' | 'closed'
  readonly #onLimited: (operation: Operation) => void
  readonly #onStoreError: (policy: 'open' | 'closed', error: unknown) => void

  constructor(options: RateLimiterOptions) {
    this.#limits = options.limits
    this.#store = options.store
    this.#policy = options.onStoreFailure ?? 'open'
    this.#onLimited = options.onLimited ?? (() => {})
    this.#onStoreError = options.onStoreError ?? (() => {})
  }

  get policy(): 'open' | 'closed' {
    return this.#policy
  }

  get store(): BucketStore {
    return this.#store
  }

  /**
   * Takes a token for this request. Resolves with the headers to add to the answer, or
   * undefined when the operation is not limited (or the store failed open); rejects with
   * RATE_LIMIT_EXCEEDED (429) or, failing closed, RATE_LIMITER_UNAVAILABLE (503).
   */
  async check(operation: Operation, owner: string): Promise<RateLimitHeaders | undefined> {
    const spec = this.#limits[operation]
    if (spec === null) return undefined
    let decision: Awaited<ReturnType<BucketStore['take']>>
    try {
      decision = await this.#store.take(`${operation}:${owner}`, spec)
    } catch (error) {
      this.#onStoreError(this.#policy, error)
      if (this.#policy === 'open') return undefined
      throw new PayrailError(
        'RATE_LIMITER_UNAVAILABLE',
        'the rate limiter cannot be reached; try again shortly',
        {
          cause: error,
          details: { retryAfterSeconds: 1 },
        },
      )
    }
    const windowSeconds = Math.max(1, Math.ceil(spec.windowMs / 1000))
    const headers: RateLimitHeaders = {
      'ratelimit-policy': `"${operation}";q=${spec.limit};w=${windowSeconds}`,
      ratelimit: `"${operation}";r=${decision.remaining};t=${Math.ceil((decision.allowed ? decision.resetMs : decision.retryAfterMs) / 1000)}`,
    }
    if (decision.allowed) return headers
    this.#onLimited(operation)
    throw new PayrailError(
      'RATE_LIMIT_EXCEEDED',
      `the ${operation} limit of ${spec.limit} requests per ${spec.windowMs} ms for this API key is used up`,
      { details: { retryAfterSeconds: Math.max(1, Math.ceil(decision.retryAfterMs / 1000)), headers } },
    )
  }

  close(): Promise<void> {
    return this.#store.close()
  }
}
