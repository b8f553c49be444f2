import { Type } from 'typebox'
import type { RateLimitSpec } from '../../config/variables.ts'
import { resolveOptions, wholeNumber } from '../../runtime/options.ts'
import type { BucketDecision, BucketStore } from './store.ts'

export interface MemoryBucketStoreOptions {
  /** Buckets kept; beyond, the least recently used is dropped (as if it were full). Default: 100000. */
  maxKeys?: number
  /** The clock, in milliseconds. Default: `performance.now`, which never goes back. */
  now?: () => number
}

interface Bucket {
  tokens: number
  at: number
}

/**
 * Token buckets in this process's memory, for a gateway without REDIS_URL: the same arithmetic
 * as the Redis script, but each gateway process counts on its own.
 */
export const defaultMemoryBucketStoreOptions: Required<MemoryBucketStoreOptions> = {
  maxKeys: 100_000,
  now: () => performance.now(),
}

const schema = Type.Object({ maxKeys: wholeNumber(1), now: Type.Function([], Type.Number()) })

export class MemoryBucketStore implements BucketStore {
  readonly #buckets = new Map<string, Bucket>()
  readonly #maxKeys: number
  readonly #now: () => number

  constructor(options: MemoryBucketStoreOptions = {}) {
    const resolved = resolveOptions('memoryRateLimiter', schema, defaultMemoryBucketStoreOptions, options)
    this.#maxKeys = resolved.maxKeys
    this.#now = resolved.now
  }

  get size(): number {
    return this.#buckets.size
  }

  async take(key: string, spec: RateLimitSpec, cost = 1): Promise<BucketDecision> {
    const now = this.#now()
    const rate = spec.limit / spec.windowMs
    let bucket = this.#buckets.get(key)
    if (bucket === undefined) {
      bucket = { tokens: spec.limit, at: now }
      if (this.#buckets.size >= this.#maxKeys) {
        const oldest = this.#buckets.keys().next()
        if (!oldest.done) this.#buckets.delete(oldest.value)
      }
    } else {
      // Re-inserted so that Map order is least recently used first.
      this.#buckets.delete(key)
      if (now > bucket.at) bucket.tokens = Math.min(spec.limit, bucket.tokens + (now - bucket.at) * rate)
      bucket.at = now
    }
    this.#buckets.set(key, bucket)
    let allowed = false
    let retryAfterMs = 0
    if (bucket.tokens >= 1) {
      bucket.tokens -= cost
      allowed = true
    } else {
      retryAfterMs = Math.ceil((1 - bucket.tokens) / rate)
    }
    return {
      allowed,
      remaining: Math.floor(bucket.tokens),
      retryAfterMs,
      resetMs: Math.ceil((spec.limit - bucket.tokens) / rate),
    }
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.#buckets.clear()
  }
}
