/**
 * payrail's one deadline helper: every bounded wait on a promise (a Kafka send, a readiness
 * check, a commit, a Redis connection, draining a scheduler) goes through it.
 *
 * Written here rather than taken from `AbortSignal.timeout`: that timer cannot be cleared, so on
 * the relay's path (a deadline per batch, ~100 batches/s) every finished send would leave a live
 * timer behind for the whole deadline; this one is cleared the moment the operation settles.
 * An operation that can be cancelled should take an AbortSignal as well; this bounds the wait,
 * it cannot stop the work.
 *
 * `onTimeout` decides what the deadline means: throw for a failure, or return a fallback value
 * (`false` for "not idle in time"). A failure of the operation after the deadline has passed is
 * no one's rejection any more; `onLateFailure` hears of it (default: ignored, as the caller has
 * already been told of the timeout).
 */
export function withDeadline<T, F = never>(
  operation: Promise<T>,
  timeoutMs: number,
  onTimeout: () => F,
  onLateFailure: (error: unknown) => void = () => {},
): Promise<T | F> {
  return new Promise<T | F>((resolve, reject) => {
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      try {
        resolve(onTimeout())
      } catch (error) {
        reject(error)
      }
    }, timeoutMs)
    operation.then(
      (value) => {
        clearTimeout(timer)
        if (!timedOut) resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        if (timedOut) onLateFailure(error)
        else reject(error)
      },
    )
  })
}
