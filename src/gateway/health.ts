import { Type } from 'typebox'
import { Pool } from 'undici'
import { resolveOptions, wholeNumber } from '../runtime/options.ts'
import type { Upstream } from './upstream.ts'
import type { UpstreamPool } from './upstream-pool.ts'

export interface HealthCheckerOptions {
  /** Time between two checks of each instance. Default: 2000 ms (GATEWAY_HEALTH_INTERVAL_MS). */
  intervalMs?: number
  /** Longest time one check may take; slower counts as failed. Default: 1000 ms (GATEWAY_HEALTH_TIMEOUT_MS). */
  timeoutMs?: number
  /** Path checked on every instance; a 2xx answer means ready. Default: `/readyz`. */
  path?: string
}

/**
 * Active health checks: each instance's `/readyz` on its own single connection (so that a check
 * never waits behind, or takes a slot from, forwarded traffic), every interval. An instance that
 * is not ready (its database is down, it is stopping) gets no new requests until it is again.
 */
export const defaultHealthCheckerOptions: Required<HealthCheckerOptions> = {
  intervalMs: 2000,
  timeoutMs: 1000,
  path: '/readyz',
}

const schema = Type.Object({
  intervalMs: wholeNumber(1),
  timeoutMs: wholeNumber(1),
  path: Type.String({ pattern: '^/', problem: 'must be a path starting with /' }),
})

export class HealthChecker {
  readonly #pools: readonly UpstreamPool[]
  readonly #intervalMs: number
  readonly #timeoutMs: number
  readonly #path: string
  readonly #clients = new Map<Upstream, Pool>()
  #timer: NodeJS.Timeout | undefined
  #round: Promise<void> = Promise.resolve()

  constructor(pools: readonly UpstreamPool[], options: HealthCheckerOptions = {}) {
    this.#pools = pools
    const resolved = resolveOptions('healthChecker', schema, defaultHealthCheckerOptions, options)
    this.#intervalMs = resolved.intervalMs
    this.#timeoutMs = resolved.timeoutMs
    this.#path = resolved.path
    for (const pool of pools) {
      for (const upstream of pool.instances) {
        this.#clients.set(
          upstream,
          new Pool(upstream.origin, {
            connections: 1,
            connectTimeout: this.#timeoutMs,
            headersTimeout: this.#timeoutMs,
            bodyTimeout: this.#timeoutMs,
            clientTtl: 60_000,
          }),
        )
      }
    }
  }

  /** Checks every instance now, then every interval. */
  start(): void {
    if (this.#timer !== undefined) return
    this.#round = this.checkAll()
    this.#timer = setInterval(() => {
      this.#round = this.checkAll()
    }, this.#intervalMs)
  }

  /** One round of checks; resolves when every instance answered or timed out. */
  async checkAll(): Promise<void> {
    const checks: Promise<void>[] = []
    for (const [upstream, client] of this.#clients) checks.push(this.#check(upstream, client))
    await Promise.all(checks)
  }

  async #check(upstream: Upstream, client: Pool): Promise<void> {
    try {
      const response = await client.request({
        method: 'GET',
        path: this.#path,
        signal: AbortSignal.timeout(this.#timeoutMs),
      })
      await response.body.dump()
      const ok = response.statusCode >= 200 && response.statusCode < 300
      upstream.recordCheck(ok, ok ? 'ready again' : `${this.#path} answered ${response.statusCode}`)
    } catch (error) {
      const code = (error as { code?: unknown }).code ?? (error as Error).name
      upstream.recordCheck(false, `${this.#path} failed (${String(code)})`)
    }
  }

  /** Whether every pool has an instance taking traffic: the gateway's own readiness. */
  ready(): boolean {
    return this.#pools.every((pool) => pool.instances.some((instance) => instance.available))
  }

  async close(): Promise<void> {
    clearInterval(this.#timer)
    await this.#round
    await Promise.all([...this.#clients.values()].map((client) => client.close()))
  }
}
