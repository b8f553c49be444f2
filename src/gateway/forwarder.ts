import type { IncomingHttpHeaders } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { Type } from 'typebox'
import { hasErrorCode, PayrailError } from '../domain/errors.ts'
import { resolveOptions, wholeNumber } from '../runtime/options.ts'
import { type AttemptResult, forwardOnce, type UpstreamAnswer } from './forward.ts'
import type { GatewayMetrics } from './metrics.ts'
import { type RetryPolicy, retryReason } from './retry.ts'
import type { RouteId } from './routes.ts'
import type { Upstream } from './upstream.ts'
import type { UpstreamPool } from './upstream-pool.ts'

export interface ForwarderOptions {
  pool: UpstreamPool
  retry: RetryPolicy
  metrics: GatewayMetrics
  /** Time from sending a request to its answer's headers. Default: 20000 ms (GATEWAY_RESPONSE_TIMEOUT_MS). */
  responseTimeoutMs?: number
  /** Per-route replacements of `responseTimeoutMs` (GATEWAY_ROUTE_TIMEOUTS). Default: none. */
  routeTimeouts?: Partial<Record<RouteId, number>>
  /** Largest upstream answer body the gateway buffers. Default: 16 MiB. */
  maxResponseBytes?: number
}

export interface ForwardRequest {
  route: RouteId
  method: string
  /** Path and query as received. */
  path: string
  /** The caller's headers, to decide whether a retry is safe. */
  incomingHeaders: IncomingHttpHeaders
  /** The headers to send upstream. */
  headers: Record<string, string | string[]>
  body: Buffer | undefined
  /** Asked for only when the request must wait for a connection: aborted when the caller goes away. */
  gone?: () => AbortSignal
}

export interface ForwardResult {
  answer: UpstreamAnswer
  /** The instance that answered. */
  upstream: string
  attempts: number
}

type Failure = Extract<AttemptResult, { ok: false }>

export const defaultForwarderLimits = {
  responseTimeoutMs: 20_000,
  routeTimeouts: {} as Partial<Record<RouteId, number>>,
  maxResponseBytes: 16 * 1024 * 1024,
}

const schema = Type.Object({
  responseTimeoutMs: wholeNumber(1),
  routeTimeouts: Type.Record(Type.String(), wholeNumber(1), {
    problem: 'must map route ids to milliseconds',
  }),
  maxResponseBytes: wholeNumber(1),
})

/**
 * Forwards one request to the upstream pool: acquires a connection slot on the least busy
 * instance, sends, and retries on another instance when that is safe and the budget allows.
 * Failures become catalog errors that tell the caller whether the request could have been
 * processed: 503 never sent, 504 sent but unanswered, 502 sent and the connection broke.
 */
export class Forwarder {
  readonly #pool: UpstreamPool
  readonly #retry: RetryPolicy
  readonly #metrics: GatewayMetrics
  readonly #responseTimeoutMs: number
  readonly #routeTimeouts: Partial<Record<RouteId, number>>
  readonly #maxResponseBytes: number

  constructor(options: ForwarderOptions) {
    this.#pool = options.pool
    this.#retry = options.retry
    this.#metrics = options.metrics
    const limits = resolveOptions('forwarder', schema, defaultForwarderLimits, {
      responseTimeoutMs: options.responseTimeoutMs,
      routeTimeouts: options.routeTimeouts,
      maxResponseBytes: options.maxResponseBytes,
    })
    this.#responseTimeoutMs = limits.responseTimeoutMs
    this.#routeTimeouts = limits.routeTimeouts
    this.#maxResponseBytes = limits.maxResponseBytes
  }

  async forward(request: ForwardRequest): Promise<ForwardResult> {
    const timeoutMs = this.#routeTimeouts[request.route] ?? this.#responseTimeoutMs
    const pool = this.#pool
    this.#retry.budget.recordRequest()
    let avoid: Set<Upstream> | undefined
    let pauses: { next: () => number } | undefined
    // Once an attempt may have reached the upstream, the caller must hear about that one, not
    // about a later "not sent", or it could wrongly assume nothing happened.
    let sentFailure: PayrailError | undefined
    for (let attempt = 1; ; attempt++) {
      let upstream: Upstream
      try {
        upstream = await pool.acquire(avoid, request.gone)
      } catch (error) {
        if (hasErrorCode(error, 'UPSTREAM_ACQUIRE_TIMEOUT')) this.#metrics.timeout(pool.name, 'acquire')
        throw sentFailure ?? error
      }
      let result: AttemptResult
      try {
        result = await forwardOnce(upstream.pool, {
          method: request.method,
          path: request.path,
          headers: request.headers,
          body: request.body,
          headersTimeoutMs: timeoutMs,
          bodyTimeoutMs: timeoutMs,
          maxResponseBytes: this.#maxResponseBytes,
        })
      } finally {
        pool.release(upstream)
      }
      if (result.ok) {
        upstream.recordSuccess()
        return { answer: result.answer, upstream: upstream.origin, attempts: attempt }
      }

      upstream.recordFailure(result.kind)
      this.#metrics.failure(pool.name, result.kind)
      if (result.kind === 'connect-timeout') this.#metrics.timeout(pool.name, 'connect')
      if (result.kind === 'response-timeout') this.#metrics.timeout(pool.name, 'response')
      const error = this.#errorOf(result, timeoutMs)
      if (result.sent) sentFailure = error

      const reason = retryReason(request.method, result.sent, request.incomingHeaders, request.body)
      if (reason === undefined) {
        this.#metrics.retryDenied('unsafe')
        throw sentFailure ?? error
      }
      if (attempt >= this.#retry.maxAttempts) {
        this.#metrics.retryDenied('attempts')
        throw sentFailure ?? error
      }
      if (!this.#retry.budget.tryRetry()) {
        this.#metrics.retryDenied('budget')
        throw sentFailure ?? error
      }
      this.#metrics.retry(reason)
      avoid ??= new Set()
      avoid.add(upstream)
      pauses ??= this.#retry.pauses()
      await sleep(pauses.next())
    }
  }

  #errorOf(failure: Failure, timeoutMs: number): PayrailError {
    const name = this.#pool.name
    const code = String((failure.error as { code?: unknown }).code ?? failure.error.name)
    switch (failure.kind) {
      case 'connect':
        return new PayrailError(
          'UPSTREAM_UNAVAILABLE',
          `the ${name} upstream could not be reached (${code})`,
          {
            cause: failure.error,
          },
        )
      case 'connect-timeout':
        return new PayrailError(
          'UPSTREAM_UNAVAILABLE',
          `no connection to the ${name} upstream could be opened in time`,
          {
            cause: failure.error,
          },
        )
      case 'response-timeout':
        return new PayrailError(
          'UPSTREAM_TIMEOUT',
          `the ${name} upstream did not answer within ${timeoutMs} ms; the request may have been processed`,
          { cause: failure.error },
        )
      case 'reset':
        return new PayrailError(
          'UPSTREAM_CONNECTION_RESET',
          `the connection to the ${name} upstream failed after the request was sent (${code}); it may have been processed`,
          { cause: failure.error },
        )
    }
  }
}
