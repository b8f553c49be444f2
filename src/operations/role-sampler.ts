/**
 * Scrapes the roles' /healthz, /readyz and /metrics on demand for the operations endpoints, at
 * most once per `minIntervalMs` however often the dashboard polls (every caller within that time
 * shares the last scrape, concurrent callers share the one in flight), and keeps the last two
 * scrapes so that rates can be computed from counters. Every request has a deadline: a role that
 * hangs shows as down after `timeoutMs`, it never holds the endpoint. One instance per api
 * process (no module state); memory is bounded by two scrapes of the configured targets.
 */

import { parseSamples, type Sample } from '../observability/exposition.ts'
import { withDeadline } from '../runtime/deadline.ts'

export interface RoleTarget {
  role: string
  url: string
}

export interface RoleSnapshot extends RoleTarget {
  up: boolean
  ready: boolean
  /** Why it is down or not ready; null when up and ready. */
  error: string | null
  /** Its /metrics page; undefined when it did not answer. */
  samples: Sample[] | undefined
}

export interface Scrape {
  /** When the scrape started, epoch ms (from `now`). */
  at: number
  roles: RoleSnapshot[]
}

export interface RoleSamplerOptions {
  targets: readonly RoleTarget[]
  /** Each request's limit. Default: 800 (OPS_SCRAPE_TIMEOUT_MS). */
  timeoutMs?: number
  /** Least time between two scrapes. Default: 1000 (OPS_SCRAPE_MIN_INTERVAL_MS). */
  minIntervalMs?: number
  /** Default: Date.now. */
  now?: () => number
  /** Default: the global fetch. */
  fetch?: typeof fetch
}

/** A role's page is text of at most this size; a larger one is cut off (bounds memory per scrape). */
const MAX_PAGE_CHARS = 4 * 1024 * 1024

export class RoleSampler {
  readonly #targets: readonly RoleTarget[]
  readonly #timeoutMs: number
  readonly #minIntervalMs: number
  readonly #now: () => number
  readonly #fetch: typeof fetch
  #last: Scrape | undefined
  #previous: Scrape | undefined
  #inFlight: Promise<Scrape> | undefined

  constructor(options: RoleSamplerOptions) {
    this.#targets = options.targets
    this.#timeoutMs = options.timeoutMs ?? 800
    this.#minIntervalMs = options.minIntervalMs ?? 1000
    this.#now = options.now ?? Date.now
    this.#fetch = options.fetch ?? fetch
  }

  get targets(): readonly RoleTarget[] {
    return this.#targets
  }

  /** The latest scrape (taken now unless one is recent enough) and the one before it, if any. */
  async latest(): Promise<{ current: Scrape; previous: Scrape | undefined }> {
    const last = this.#last
    if (last !== undefined && this.#now() - last.at < this.#minIntervalMs)
      return { current: last, previous: this.#previous }
    if (this.#inFlight === undefined) {
      this.#inFlight = this.#scrape().finally(() => {
        this.#inFlight = undefined
      })
    }
    const current = await this.#inFlight
    return { current, previous: this.#previous === current ? undefined : this.#previous }
  }

  async #scrape(): Promise<Scrape> {
    const at = this.#now()
    const roles = await Promise.all(this.#targets.map((target) => this.#snapshot(target)))
    const scrape = { at, roles }
    this.#previous = this.#last
    this.#last = scrape
    return scrape
  }

  async #snapshot(target: RoleTarget): Promise<RoleSnapshot> {
    const [health, readiness, metrics] = await Promise.all([
      this.#get(`${target.url}/healthz`),
      this.#get(`${target.url}/readyz`),
      this.#get(`${target.url}/metrics`),
    ])
    const up = health.status === 200
    const ready = readiness.status === 200
    let error: string | null = null
    if (!up) error = health.error ?? `/healthz answered ${health.status}`
    else if (!ready) error = readiness.error ?? `/readyz answered ${readiness.status}`
    return {
      ...target,
      up,
      ready,
      error,
      samples: metrics.status === 200 && metrics.body !== undefined ? parseSamples(metrics.body) : undefined,
    }
  }

  /** One GET with a deadline; never throws: a failure is its message. */
  async #get(url: string): Promise<{ status: number; body?: string; error?: string }> {
    const controller = new AbortController()
    const request = (async () => {
      const response = await this.#fetch(url, { signal: controller.signal })
      const body = (await response.text()).slice(0, MAX_PAGE_CHARS)
      return { status: response.status, body }
    })()
    try {
      return await withDeadline(request, this.#timeoutMs, () => {
        controller.abort()
        return { status: 0, error: `no answer within ${this.#timeoutMs} ms` }
      })
    } catch (error) {
      return { status: 0, error: describeFetchError(error) }
    }
  }
}

/** "connection refused" rather than undici's "fetch failed". */
function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause
  if (cause?.code === 'ECONNREFUSED') return 'connection refused (not running?)'
  return cause?.code ?? cause?.message ?? (error as Error).message ?? String(error)
}
