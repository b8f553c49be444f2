import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import { Type } from 'typebox'
import type { RateLimitSpec } from '../../config/variables.ts'
import { withDeadline } from '../../runtime/deadline.ts'
import { resolveOptions, wholeNumber } from '../../runtime/options.ts'
import type { BucketDecision, BucketStore } from './store.ts'

export interface RedisBucketStoreOptions {
  /** `redis://[user:password@]host:port[/db]` (REDIS_URL). */
  url: string
  /** Longest wait for Redis on the request path; slower counts as a failure. Default: 100 ms (GATEWAY_REDIS_TIMEOUT_MS). */
  timeoutMs?: number
  /** Prefix of every key, e.g. per deployment or per test. Default: `payrail:ratelimit:` (GATEWAY_REDIS_PREFIX). */
  prefix?: string
  /** Told about connection errors (never about each failed request). */
  onError?: (error: Error) => void
}

const SCRIPT = readFileSync(new URL('./token-bucket.lua', import.meta.url), 'utf8')

type WithBucket = Redis & {
  payrailTokenBucket(
    key: string,
    capacity: number,
    windowMs: number,
    cost: number,
  ): Promise<[number, number, number, number]>
}

export const defaultRedisBucketStoreOptions = { timeoutMs: 100, prefix: 'payrail:ratelimit:' }

const schema = Type.Object({
  timeoutMs: wholeNumber(1),
  prefix: Type.String({ minLength: 1, maxLength: 100, problem: 'must be 1 to 100 characters' }),
})

/**
 * Token buckets in Redis, shared by every gateway process: one Lua script call per request
 * (ioredis sends it by its SHA and loads it once when Redis does not know it yet).
 */
export class RedisBucketStore implements BucketStore {
  readonly #redis: WithBucket
  readonly #prefix: string

  constructor(options: RedisBucketStoreOptions) {
    const { timeoutMs, prefix } = resolveOptions('redisRateLimiter', schema, defaultRedisBucketStoreOptions, {
      timeoutMs: options.timeoutMs,
      prefix: options.prefix,
    })
    this.#prefix = prefix
    this.#redis = new Redis(options.url, {
      // While Redis is away a request must fail at once and meet the failure policy, not queue
      // up behind a reconnect or be retried: the request path has no time for either.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: timeoutMs,
      connectTimeout: Math.max(timeoutMs, 1000),
      // Keep reconnecting in the background, never giving up.
      retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
      lazyConnect: false,
      // The checks of the requests of one event-loop turn go to Redis in one write and their
      // answers come back in one read, instead of a write and a read each.
      enableAutoPipelining: true,
    }) as WithBucket
    this.#redis.defineCommand('payrailTokenBucket', { numberOfKeys: 1, lua: SCRIPT })
    const onError = options.onError ?? (() => {})
    // ioredis emits 'error' on every failed reconnect; without a listener Node would throw.
    this.#redis.on('error', onError)
  }

  /**
   * Resolves once connected, or after `timeoutMs` without failing: requests sent before the
   * connection is up would meet the failure policy, so start-up waits a little for it, but a
   * Redis that is down must not keep the gateway from starting.
   */
  async connected(timeoutMs: number): Promise<boolean> {
    if (this.#redis.status === 'ready') return true
    // A refused connection says "down" as clearly as the timeout would.
    const ready = once(this.#redis, 'ready').then(
      () => true,
      () => false,
    )
    return withDeadline(ready, timeoutMs, () => false)
  }

  async take(key: string, spec: RateLimitSpec, cost = 1): Promise<BucketDecision> {
    const [allowed, remaining, retryAfterMs, resetMs] = await this.#redis.payrailTokenBucket(
      this.#prefix + key,
      spec.limit,
      spec.windowMs,
      cost,
    )
    return { allowed: allowed === 1, remaining, retryAfterMs, resetMs }
  }

  async ping(): Promise<void> {
    await this.#redis.ping()
  }

  async close(): Promise<void> {
    if (this.#redis.status === 'ready') {
      await this.#redis.quit().catch(() => this.#redis.disconnect())
    } else {
      this.#redis.disconnect()
    }
  }
}
