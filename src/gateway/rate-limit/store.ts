import type { RateLimitSpec } from '../../config/variables.ts'

/** The outcome of taking one token from a bucket. */
export interface BucketDecision {
  allowed: boolean
  /** Whole tokens left after this request. */
  remaining: number
  /** Milliseconds until the next token, when not allowed. */
  retryAfterMs: number
  /** Milliseconds until the bucket is full again. */
  resetMs: number
}

/** Where buckets live: Redis shared by every gateway, or this process's memory. */
export interface BucketStore {
  /**
   * Takes `cost` tokens (default 1) from `key`'s bucket when it holds at least one; cost 0 only
   * looks (allowed: a token is left). Rejects when the store cannot answer.
   */
  take(key: string, spec: RateLimitSpec, cost?: number): Promise<BucketDecision>
  /** Rejects when the store is unreachable (readiness). */
  ping(): Promise<void>
  close(): Promise<void>
}
