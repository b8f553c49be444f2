import { setTimeout as sleep } from 'node:timers/promises'

export interface UntilOptions {
  /** Longest wait before it fails. Default: 60000 ms. */
  timeoutMs?: number
  /** Pause between two probes. Default: 20 ms. */
  intervalMs?: number
}

/**
 * payrail's one way to wait for a condition (tests, chaos, tools): probes `condition` until it
 * gives a value other than `false`, `undefined` or `null`, and returns that value; fails naming
 * `what` once `timeoutMs` passed. A probe that throws fails the wait at once.
 */
export async function until<T>(
  what: string,
  condition: () => T | Promise<T>,
  options: UntilOptions = {},
): Promise<Exclude<T, false | undefined | null>> {
  const timeoutMs = options.timeoutMs ?? 60_000
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await condition()
    if (value !== false && value !== undefined && value !== null)
      return value as Exclude<T, false | undefined | null>
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(options.intervalMs ?? 20)
  }
}
