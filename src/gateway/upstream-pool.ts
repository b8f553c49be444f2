import { Type } from 'typebox'
import { PayrailError } from '../domain/errors.ts'
import { resolveOptions, wholeNumber } from '../runtime/options.ts'
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
  /**
   * Most instances ejected at once, in percent of all; an ejection beyond it, or of the last
   * available instance, does not happen. Default: 50 (GATEWAY_MAX_EJECTED_PERCENT).
   */
  maxEjectedPercent?: number
  /**
   * Below this share of available instances, in percent, requests go to every instance, healthy
   * or not (Envoy's panic mode): a fleet that looks mostly dead is more likely overloaded or
   * misjudged than dead, and refusing everything would make it so. 0 turns panic mode off:
   * with no instance available, requests are answered NO_HEALTHY_UPSTREAM. Default: 50
   * (GATEWAY_PANIC_THRESHOLD_PERCENT).
   */
  panicThresholdPercent?: number
}

export const defaultUpstreamPoolOptions = { maxEjectedPercent: 50, panicThresholdPercent: 50 }

const schema = Type.Object({
  maxEjectedPercent: wholeNumber(0, 100),
  panicThresholdPercent: wholeNumber(0, 100),
})

/** The instances a retry should stay away from; a soft preference, never a reason to fail. */
export type Avoid = ReadonlySet<Upstream> | undefined

/**
 * The instances of one upstream service, balanced by fewest requests in flight. An instance
 * gets at most as many requests as it has connections; a request finding every instance at its
 * limit waits in the acquire queue. Ties go round-robin, so that idle instances share the load.
 * Ejections are capped (maxEjectedPercent, never the last available instance), and below the
 * panic threshold every instance takes requests.
 */
export class UpstreamPool {
  readonly name: string
  readonly instances: readonly Upstream[]
  readonly #queue: AcquireQueue<Upstream, Avoid>
  readonly #maxEjectedPercent: number
  readonly #panicThresholdPercent: number
  #next = 0
  /** Called on every change of an instance's health. */
  onHealthChange: (upstream: Upstream, healthy: boolean, reason: string) => void = () => {}

  constructor(options: UpstreamPoolOptions) {
    if (options.urls.length === 0) {
      throw new PayrailError('CONFIG_INVALID', `upstream ${options.name} needs at least one URL`)
    }
    const resolved = resolveOptions('upstreamPool', schema, defaultUpstreamPoolOptions, options)
    this.#maxEjectedPercent = resolved.maxEjectedPercent
    this.#panicThresholdPercent = resolved.panicThresholdPercent
    this.name = options.name
    this.instances = options.urls.map((url) => {
      const upstream = new Upstream({ ...options.instance, url })
      upstream.onAvailable = () => this.#queue.drain()
      upstream.mayEject = () => this.#mayEject(upstream)
      upstream.onHealthChange = (healthy, reason) => {
        this.onHealthChange(upstream, healthy, reason)
        if (this.panicking) this.#queue.drain()
        else if (!healthy && !this.instances.some((instance) => instance.available)) {
          this.#queue.rejectAll(() => this.#noHealthy())
        }
      }
      return upstream
    })
    this.#queue = new AcquireQueue(options.acquire ?? {}, (avoid) => this.#take(avoid))
  }

  /** Whether requests go to every instance, available or not (see panicThresholdPercent). */
  get panicking(): boolean {
    let available = 0
    for (const instance of this.instances) if (instance.available) available++
    return available * 100 < this.#panicThresholdPercent * this.instances.length
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
    if (!this.panicking && !this.instances.some((instance) => instance.available))
      return Promise.reject(this.#noHealthy())
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

  #mayEject(candidate: Upstream): boolean {
    const others = this.instances.filter((instance) => instance !== candidate && instance.available).length
    const ejected = this.instances.filter((instance) => instance.ejected).length
    return others > 0 && (ejected + 1) * 100 <= this.#maxEjectedPercent * this.instances.length
  }

  #take(avoid: Avoid): Upstream | undefined {
    const panicking = this.panicking
    const count = this.instances.length
    const start = this.#next
    this.#next = (start + 1) % count
    let best: Upstream | undefined
    let bestAvoided: Upstream | undefined
    for (let i = 0; i < count; i++) {
      const candidate = this.instances[(start + i) % count] as Upstream
      if ((!candidate.available && !panicking) || candidate.inFlight >= candidate.maxConnections) continue
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
