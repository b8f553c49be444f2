/**
 * A value recomputed at most once per `ttlMs`, callers in between sharing the last one and
 * concurrent callers the computation in flight: what keeps an endpoint the dashboard polls every
 * second from costing a Kafka round trip or a database scan per poll and per open tab. A failed
 * computation is not kept.
 */
export class SharedCache<T> {
  readonly #compute: () => Promise<T>
  readonly #ttlMs: number
  readonly #now: () => number
  #value: { at: number; value: T } | undefined
  #inFlight: Promise<T> | undefined

  /** `ttlMs` Default: none, give it; `now` Default: Date.now. */
  constructor(compute: () => Promise<T>, ttlMs: number, now: () => number = Date.now) {
    this.#compute = compute
    this.#ttlMs = ttlMs
    this.#now = now
  }

  async get(): Promise<T> {
    const kept = this.#value
    if (kept !== undefined && this.#now() - kept.at < this.#ttlMs) return kept.value
    if (this.#inFlight === undefined) {
      const at = this.#now()
      this.#inFlight = this.#compute()
        .then((value) => {
          this.#value = { at, value }
          return value
        })
        .finally(() => {
          this.#inFlight = undefined
        })
    }
    return this.#inFlight
  }
}
