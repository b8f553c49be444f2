import { createHash } from 'node:crypto'
import type { RateLimitSpec } from '../../config/variables.ts'
import { isWellFormedApiKey } from '../../domain/api-keys.ts'
import { PayrailError } from '../../domain/errors.ts'
import type { Operation } from '../routes.ts'
import type { BucketDecision, BucketStore } from './store.ts'

export interface RateLimiterOptions {
  /** Bucket per operation; null or absent turns that operation's limit off. Defaults: GATEWAY_RATE_LIMIT_*. */
  limits: Partial<Record<Operation, RateLimitSpec | null>>
  /**
   * Failed authentications allowed per client address (a bucket each); once it is empty, that
   * address's requests are refused until it refills. null: no limit. Default: null
   * (GATEWAY_RATE_LIMIT_AUTH_FAILURES, 20/1m).
   */
  authFailures?: RateLimitSpec | null
  /** Redis (REDIS_URL set) or memory. */
  store: BucketStore
  /** When the store fails: `open` lets the request through, `closed` answers 503. Default: `open` (GATEWAY_RATE_LIMIT_ON_REDIS_FAILURE). */
  onStoreFailure?: 'open' | 'closed'
  /** Told about each request refused with 429 (`auth-failures`: an address out of failed authentications). */
  onLimited?: (operation: LimitedBy) => void
  /** Told about each store failure and what the policy did. */
  onStoreError?: (policy: 'open' | 'closed', error: unknown) => void
}

/** What refused a request with 429: an operation's bucket, or the address's failed authentications. */
export type LimitedBy = Operation | 'auth-failures'

/** Headers of a limited route's answer (draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy` and `RateLimit`). */
export type RateLimitHeaders = Record<string, string>

const BEARER = /^Bearer\s+(\S+)$/i

/** What a request's Authorization header holds: nothing, something that cannot be a key, or a key's form. */
export type Credential = 'none' | 'malformed' | 'key'

export function credentialOf(authorization: string | undefined): Credential {
  if (authorization === undefined) return 'none'
  const key = BEARER.exec(authorization)?.[1]
  return key !== undefined && isWellFormedApiKey(key) ? 'key' : 'malformed'
}

/**
 * The bucket's owner: the API key when there is one, else the client address. The key itself
 * never leaves this class: Redis and logs see a hash of it. Recent hashes are remembered (keyed
 * by the key, in this process only), so a busy client costs one hash, not one per request.
 */
export class ClientKeys {
  readonly #hashes = new Map<string, string>()
  readonly #trusted = new Map<string, number>()
  readonly #max: number
  readonly #trustMs: number
  readonly #now: () => number

  /**
   * `max`: keys remembered before the cache starts over. Default: 10000. `trustMs`: how long a
   * key the api accepted skips the failed-authentication check. Default: 10000 ms.
   */
  constructor(max = 10_000, trustMs = 10_000, now: () => number = () => performance.now()) {
    this.#max = max
    this.#trustMs = trustMs
    this.#now = now
  }

  /** Whether the api accepted this owner's key lately (then its address's failures are not looked up). */
  trusted(owner: string): boolean {
    const until = this.#trusted.get(owner)
    return until !== undefined && until > this.#now()
  }

  trust(owner: string): void {
    if (this.#trusted.size >= this.#max) this.#trusted.clear()
    this.#trusted.set(owner, this.#now() + this.#trustMs)
  }

  distrust(owner: string): void {
    this.#trusted.delete(owner)
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
  readonly #limits: Partial<Record<Operation, RateLimitSpec | null>>
  readonly #authFailures: RateLimitSpec | null
  readonly #store: BucketStore
  readonly #policy: 'open' | 'closed'
  readonly #onLimited: (operation: LimitedBy) => void
  readonly #onStoreError: (policy: 'open' | 'closed', error: unknown) => void

  constructor(options: RateLimiterOptions) {
    this.#limits = options.limits
    this.#authFailures = options.authFailures ?? null
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
    const spec = this.#limits[operation] ?? null
    if (spec === null) return undefined
    const decision = await this.#take(`${operation}:${owner}`, spec, 1)
    if (decision === undefined) return undefined
    const headers = this.#headers(operation, spec, decision)
    if (decision.allowed) return headers
    this.#onLimited(operation)
    throw new PayrailError(
      'RATE_LIMIT_EXCEEDED',
      `the ${operation} limit of ${spec.limit} requests per ${spec.windowMs} ms for this ${operation === 'admin' ? 'address' : 'API key'} is used up`,
      { details: { retryAfterSeconds: Math.max(1, Math.ceil(decision.retryAfterMs / 1000)), headers } },
    )
  }

  /**
   * Refuses with 429 RATE_LIMIT_EXCEEDED (policy `auth-failures`) while this address has used up
   * its failed authentications; takes nothing.
   */
  async checkAuthFailures(clientIp: string): Promise<void> {
    const spec = this.#authFailures
    if (spec === null) return
    const decision = await this.#take(`auth-failures:ip:${clientIp}`, spec, 0)
    if (decision === undefined || decision.allowed) return
    this.#onLimited('auth-failures')
    throw new PayrailError(
      'RATE_LIMIT_EXCEEDED',
      `too many failed authentications from this address (${spec.limit} per ${spec.windowMs} ms)`,
      {
        details: {
          retryAfterSeconds: Math.max(1, Math.ceil(decision.retryAfterMs / 1000)),
          headers: this.#headers('auth-failures', spec, decision),
        },
      },
    )
  }

  /** Counts one failed authentication (an ill-formed key, or the api's 401) against the address. */
  async recordAuthFailure(clientIp: string): Promise<void> {
    const spec = this.#authFailures
    if (spec !== null) await this.#take(`auth-failures:ip:${clientIp}`, spec, 1)
  }

  /** The store's decision, or undefined when it failed and the policy is open. */
  async #take(key: string, spec: RateLimitSpec, cost: number): Promise<BucketDecision | undefined> {
    try {
      return await this.#store.take(key, spec, cost)
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
  }

  #headers(policy: string, spec: RateLimitSpec, decision: BucketDecision): RateLimitHeaders {
    const windowSeconds = Math.max(1, Math.ceil(spec.windowMs / 1000))
    return {
      'ratelimit-policy': `"${policy}";q=${spec.limit};w=${windowSeconds}`,
      ratelimit: `"${policy}";r=${decision.remaining};t=${Math.ceil((decision.allowed ? decision.resetMs : decision.retryAfterMs) / 1000)}`,
    }
  }

  close(): Promise<void> {
    return this.#store.close()
  }
}
