import { PayrailError } from '../domain/errors.ts'
import { AcquireQueue, type AcquireQueueOptions } from './acquire-queue.ts'
import { Upstream, type UpstreamOptions } from './upstream.ts'

export interface UpstreamPoolOptions {
  /** The group's name in metrics and logs, e.g. `api`. */
  name: string
  /** One URL per instance (GATEWAY_UPSTREAM_API); at least one. */
  urls: string[]
  /** Settings shared by every instance; see UpstreamOptions for each default. */
  instance?: Omit<UpstreamOptions, 'url'>
  /** The wait for a connection when every instance is at its limit; see AcquireQueueOptions for defaults. */
  acquire?: AcquireQueueOptions
}

/** The instances a retry should stay away from; a soft preference, never a reason to fail. */
export type Avoid = ReadonlySet<Upstream> | undefined

/**
 * The instances of one upstream service, balanced by fewest requests in flight. An instance
 * gets at most as many requests as it has connections; a request finding every instance at its
 * limit waits in the acquire queue. Ties go round-robin, so that idle instances share the load.
 */
export class UpstreamPool {
  readonly name: string
  readonly instances: readonly Upstream[]
  readonly #queue: AcquireQueue<Upstream, Avoid>
  #next = 0
  /** Called on every change of an instance's health. */
  onHealthChange: (upstream: Upstream, healthy: boolean, reason: string) => void = () => {}

  constructor(options: UpstreamPoolOptions) {
    if (options.urls.length === 0) {
      throw new PayrailError('CONFIG_INVALID', `upstream ${options.name} needs at least one URL`)
    }
    this.name = options.name
    this.instances = options.urls.map((url) => {
      const upstream = new Upstream({ ...options.instance, url })
      upstream.onAvailable = () => this.#queue.drain()
      upstream.onHealthChange = (healthy, reason) => {
        this.onHealthChange(upstream, healthy, reason)
        if (!healthy && !this.instances.some((instance) => instance.available)) {
          this.#queue.rejectAll(() => this.#noHealthy())
        }
      }
      return upstream
    })
    this.#queue = new AcquireQueue(options.acquire ?? {}, (avoid) => this.#take(avoid))
  }

  /** Requests waiting for a connection. */
  get waiting(): number {
    return this.#queue.waiting
  }

  /**
   * Reserves a request slot on the least busy available instance, waiting when all are at their
   * connection limit. Every failure here means the request was never sent.
   */
  acquire(avoid?: Avoid, gone?: () => AbortSignal): Promise<Upstream> {
    if (!this.instances.some((instance) => instance.available)) return Promise.reject(this.#noHealthy())
    return this.#queue.acquire(avoid, gone)
  }

  /** Gives the slot back once the upstream's whole answer is read (or the attempt failed). */
  release(upstream: Upstream): void {
    upstream.inFlight--
    this.#queue.drain()
  }

  async close(): Promise<void> {
    this.#queue.rejectAll(() => new PayrailError('UPSTREAM_UNAVAILABLE', 'the gateway is stopping'))
    await Promise.all(this.instances.map((instance) => instance.close()))
  }

  #take(avoid: Avoid): Upstream | undefined {
    const count = this.instances.length
    const start = this.#next
    this.#next = (start + 1) % count
    let best: Upstream | undefined
    let bestAvoided: Upstream | undefined
    for (let i = 0; i < count; i++) {
      const candidate = this.instances[(start + i) % count] as Upstream
      if (!candidate.available || candidate.inFlight >= candidate.maxConnections) continue
      if (avoid?.has(candidate)) {
        if (bestAvoided === undefined || candidate.inFlight < bestAvoided.inFlight) bestAvoided = candidate
      } else if (best === undefined || candidate.inFlight < best.inFlight) {
        best = candidate
      }
    }
    const chosen = best ?? bestAvoided
    if (chosen !== undefined) chosen.inFlight++
    return chosen
  }

  #noHealthy(): PayrailError {
    const soonest = Math.min(...this.instances.map((instance) => instance.ejectedForMs() || 1000))
    return new PayrailError(
      'NO_HEALTHY_UPSTREAM',
      `no healthy ${this.name} instance (${this.instances.length} configured; failing health checks or ejected)`,
      { details: { retryAfterSeconds: Math.max(1, Math.ceil(soonest / 1000)) } },
    )
  }
}
