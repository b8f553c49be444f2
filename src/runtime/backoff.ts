/**
 * payrail's one backoff: exponential, `base · 2^(n-1)` capped at `capMs`, then scaled by a
 * random factor in [0.5, 1) so that work that failed together does not all come back at the
 * same moment. `n` is the attempt that failed (1 for the first); `random` returns [0, 1).
 * Used by the relay's retries and by the consumer's retries and outage waits.
 */
export function backoff(n: number, baseMs: number, capMs: number, random: () => number): number {
  const exponential = Math.min(baseMs * 2 ** Math.min(Math.max(n - 1, 0), 30), capMs)
  return Math.round(exponential * (0.5 + random() / 2))
}
