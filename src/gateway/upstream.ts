import { Type } from 'typebox'
import { Pool } from 'undici'
import { httpUrl, resolveOptions, wholeNumber } from '../runtime/options.ts'
import { preciseConnector } from './connector.ts'
import type { FailureKind } from './forward.ts'

export interface UpstreamOptions {
  /** Base URL of one instance, e.g. `http://10.0.0.5:8081`; a DNS name is resolved again for each new connection. */
  url: string
  /** Most connections to this instance; one request per connection, so also the most in flight. Default: 4000 (GATEWAY_POOL_MAX_CONNECTIONS). */
  maxConnections?: number
  /** Time to open a connection. Default: 2000 ms (GATEWAY_CONNECT_TIMEOUT_MS). */
  connectTimeoutMs?: number
  /** Age after which a connection is replaced, so that DNS changes are picked up. Default: 60000 ms (GATEWAY_UPSTREAM_TTL_MS). */
  connectionTtlMs?: number
  /** Consecutive failed requests that eject the instance. Default: 5 (GATEWAY_EJECT_AFTER_FAILURES). */
  ejectAfterFailures?: number
  /** First ejection period; it doubles for an instance that fails again at once after re-admission, up to ten times. Default: 10000 ms (GATEWAY_EJECT_MS). */
  ejectMs?: number
  /** Default: `Date.now`. */
  now?: () => number
}

const COMPONENT = 'upstream'
const MAX_EJECT_FACTOR = 10

export const defaultUpstreamOptions: Required<Omit<UpstreamOptions, 'url'>> = {
  maxConnections: 4000,
  connectTimeoutMs: 2000,
  connectionTtlMs: 60_000,
  ejectAfterFailures: 5,
  ejectMs: 10_000,
  now: Date.now,
}

const schema = Type.Object({
  url: httpUrl(),
  now: Type.Function([], Type.Number()),
  maxConnections: wholeNumber(1, 1_000_000),
  connectTimeoutMs: wholeNumber(1),
  connectionTtlMs: wholeNumber(1),
  ejectAfterFailures: wholeNumber(1),
  ejectMs: wholeNumber(1),
})

/**
 * One upstream instance: its keep-alive connection pool, the requests in flight on it, and its
 * health. It takes traffic while its last active check passed and it is not ejected. Ejection
 * (passive: consecutive failed requests) ends by itself after the ejection period; the instance
 * then gets traffic again on probation, and one more failure ejects it for twice as long.
 */
export class Upstream {
  readonly url: string
  /** `scheme://host:port`, the instance's label in metrics and logs. */
  readonly origin: string
  /** The current connection pool; replaced every connectionTtlMs (see #renew). */
  pool: Pool
  readonly maxConnections: number
  readonly #connectTimeoutMs: number
  #renewTimer: NodeJS.Timeout | undefined
  #retired: Promise<void>[] = []
  inFlight = 0
  readonly #ejectAfterFailures: number
  readonly #ejectMs: number
  readonly #now: () => number
  #lastAnswer = Number.NEGATIVE_INFINITY
  #checkedHealthy = true
  #failures = 0
  #ejectedUntil = 0
  #ejections = 0
  #probation = false
  #readmitTimer: NodeJS.Timeout | undefined
  /** Called when the instance may take traffic again, so that waiting requests can be served. */
  onAvailable: () => void = () => {}
  /** Called on every change of health, for logs and metrics. */
  onHealthChange: (healthy: boolean, reason: string) => void = () => {}
  /** Asked before an ejection; the pool refuses one that would leave too few instances (see UpstreamPool). */
  mayEject: () => boolean = () => true

  constructor(options: UpstreamOptions) {
    const resolved = resolveOptions(
      COMPONENT,
      schema,
      { ...defaultUpstreamOptions, url: options.url },
      options,
    )
    const url = new URL(resolved.url)
    this.url = resolved.url
    this.origin = url.origin
    this.maxConnections = resolved.maxConnections
    this.#connectTimeoutMs = resolved.connectTimeoutMs
    const ttl = resolved.connectionTtlMs
    this.#ejectAfterFailures = resolved.ejectAfterFailures
    this.#ejectMs = resolved.ejectMs
    this.#now = resolved.now
    this.pool = this.#newPool()
    // undici's own clientTtl would do this, but it reads the clock for every pooled connection on
    // every request; swapping the whole pool on a timer costs nothing per request.
    this.#renewTimer = setInterval(() => this.#renew(), ttl)
    this.#renewTimer.unref()
  }

  #newPool(): Pool {
    return new Pool(this.origin, {
      connections: this.maxConnections,
      // One request per connection: pipelining would put a request behind a slow one and make
      // "sent" ambiguous when a connection fails.
      pipelining: 1,
      connect: preciseConnector(this.#connectTimeoutMs),
    })
  }

  /**
   * New requests go to a fresh pool, whose connections resolve the host name again; the old pool
   * finishes the requests it has and closes. So a DNS change reaches every connection within one TTL.
   */
  #renew(): void {
    const old = this.pool
    this.pool = this.#newPool()
    const closing = old.close().catch(() => {})
    this.#retired.push(closing)
    void closing.then(() => {
      this.#retired = this.#retired.filter((promise) => promise !== closing)
    })
  }

  /** Whether the instance takes new requests now. */
  get available(): boolean {
    return this.#checkedHealthy && this.#ejectedUntil === 0
  }

  get ejected(): boolean {
    return this.#ejectedUntil !== 0
  }

  /** Milliseconds until an ejected instance is re-admitted; 0 when it is not ejected. */
  ejectedForMs(now = this.#now()): number {
    return this.#ejectedUntil === 0 ? 0 : Math.max(0, this.#ejectedUntil - now)
  }

  /** The upstream answered (any status: a 5xx of the application is not a broken instance). */
  recordSuccess(): void {
    this.#lastAnswer = this.#now()
    this.#failures = 0
    if (this.#probation) {
      this.#probation = false
      this.#ejections = 0
    }
  }

  /**
   * The request failed on the connection: refused, timed out, or reset. A connect timeout from an
   * instance that answered within the last two connect timeouts is overload, not death: its
   * accept queue is full (measured: 92 connect timeouts in 20 s at 1,024 connections against one
   * api that stayed up), and ejecting it would turn a slow instance into no instance.
   */
  recordFailure(kind: FailureKind): void {
    if (kind === 'connect-timeout' && this.#now() - this.#lastAnswer <= 2 * this.#connectTimeoutMs) return
    this.#failures++
    if (this.#ejectedUntil !== 0) return
    if ((this.#probation || this.#failures >= this.#ejectAfterFailures) && this.mayEject()) this.#eject()
  }

  /** The result of an active check of `/readyz`. */
  recordCheck(healthy: boolean, reason: string): void {
    if (healthy === this.#checkedHealthy) return
    const wasAvailable = this.available
    this.#checkedHealthy = healthy
    this.onHealthChange(healthy, reason)
    if (!wasAvailable && this.available) this.onAvailable()
  }

  #eject(): void {
    this.#ejections = Math.min(this.#ejections + 1, MAX_EJECT_FACTOR)
    const ms = this.#ejectMs * Math.min(2 ** (this.#ejections - 1), MAX_EJECT_FACTOR)
    this.#ejectedUntil = this.#now() + ms
    this.#probation = false
    this.onHealthChange(
      false,
      `ejected for ${Math.round(ms)} ms after ${this.#failures} consecutive failures`,
    )
    clearTimeout(this.#readmitTimer)
    this.#readmitTimer = setTimeout(() => this.#readmit(), ms)
    // Ejection must not keep a stopping process alive.
    this.#readmitTimer.unref()
  }

  #readmit(): void {
    this.#ejectedUntil = 0
    this.#failures = 0
    this.#probation = true
    this.onHealthChange(this.available, 're-admitted on probation after its ejection period')
    if (this.available) this.onAvailable()
  }

  async close(): Promise<void> {
    clearTimeout(this.#readmitTimer)
    clearInterval(this.#renewTimer)
    await Promise.all([this.pool.close(), ...this.#retired])
  }
}
