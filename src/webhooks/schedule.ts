import { backoff } from '../runtime/backoff.ts'

export interface RetrySchedule {
  /** First wait after a failed attempt; doubles per attempt. Default: 30000 ms (WEBHOOK_RETRY_DELAY_MS). */
  baseMs: number
  /** Longest wait between two attempts. Default: 6 h (WEBHOOK_RETRY_MAX_DELAY_MS). */
  capMs: number
  /** How long after its first attempt a delivery is still retried. Default: 3 d (WEBHOOK_RETRY_FOR). */
  retryForMs: number
}

/**
 * When a failed delivery is tried next, or `undefined` when it has been tried for `retryForMs`
 * and is given up. The waits are payrail's one backoff (runtime/backoff.ts: base · 2^(n-1),
 * capped, times a jitter in [0.5, 1)): with the defaults 15-30 s, 30-60 s, 1-2 min, … up to
 * 3-6 h from the 11th attempt on, about 20-30 attempts over the 3 days. The end is a duration,
 * not an attempt count, so the jitter can never make the schedule shorter than 3 days.
 */
export function nextAttemptAt(
  schedule: RetrySchedule,
  attempt: number,
  firstAttemptAt: number,
  now: number,
  random: () => number,
): number | undefined {
  if (now - firstAttemptAt >= schedule.retryForMs) return undefined
  return now + backoff(attempt, schedule.baseMs, schedule.capMs, random)
}
