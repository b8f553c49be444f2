import {
  type CircuitBreakerPolicy,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  isBrokenCircuitError,
} from 'cockatiel'
import { Type } from 'typebox'
import { Pool } from 'undici'
import { hasErrorCode, PayrailError } from '../domain/errors.ts'
import { type BreakerState, breakerStateOf } from '../runtime/breaker.ts'
import { httpUrl, resolveOptions, wholeNumber } from '../runtime/options.ts'
import {
  ACQUIRER_PATHS,
  type AuthorizationResult,
  type AuthorizeRequest,
  type RefundRequest,
  type RefundResult,
  type SettlementResult,
  type SettleRequest,
} from './protocol.ts'

export interface AcquirerClientOptions {
  /** Base URL of the acquirer. */
  url: string
  /** Time to the whole answer of an authorize or lookup. Default: 1000 ms (the seed's PG answers in 50–150 ms). */
  authorizeTimeoutMs?: number
  /** Time to the whole answer of a settle or refund. Default: 5000 ms (the simulator takes 1–3 s). */
  settleTimeoutMs?: number
  /** Time to open a connection. Default: 1000 ms. */
  connectTimeoutMs?: number
  /** Pooled keep-alive connections. Default: 128. */
  connections?: number
  /** Consecutive failures that open a breaker. Default: 5. */
  breakerThreshold?: number
  /** Time an open breaker waits before letting one probe through. Default: 5000 ms. */
  breakerHalfOpenAfterMs?: number
}

export const defaultAcquirerClientOptions: Required<Omit<AcquirerClientOptions, 'url'>> = {
  authorizeTimeoutMs: 1000,
  settleTimeoutMs: 5000,
  connectTimeoutMs: 1000,
  connections: 128,
  breakerThreshold: 5,
  breakerHalfOpenAfterMs: 5000,
}

const schema = Type.Object({
  url: httpUrl(),
  authorizeTimeoutMs: wholeNumber(1),
  settleTimeoutMs: wholeNumber(1),
  connectTimeoutMs: wholeNumber(1),
  connections: wholeNumber(1, 100_000),
  breakerThreshold: wholeNumber(1),
  breakerHalfOpenAfterMs: wholeNumber(1),
})

type Operation = 'authorize' | 'settle' | 'refund'

// Failures before the request left this process: the acquirer cannot have acted on it.
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
])

function isAcquirerFailure(error: unknown): boolean {
  return hasErrorCode(error, 'ACQUIRER_UNAVAILABLE') || hasErrorCode(error, 'ACQUIRER_TIMEOUT')
}

/**
 * payrail's side of the acquirer contract: keep-alive pool, a time limit per call, and one
 * circuit breaker per operation so that slow settlements cannot stop authorizations.
 * Failures are ACQUIRER_UNAVAILABLE when the acquirer certainly did nothing (not sent, breaker
 * open, a 5xx answer) and ACQUIRER_TIMEOUT when it may have acted (sent, then no answer).
 */
export class AcquirerClient {
  readonly #pool: Pool
  readonly #authorizeTimeoutMs: number
  readonly #settleTimeoutMs: number
  readonly #breakers: Record<Operation, CircuitBreakerPolicy>

  constructor(options: AcquirerClientOptions) {
    const resolved = resolveOptions(
      'acquirerClient',
      schema,
      { ...defaultAcquirerClientOptions, url: options.url },
      options,
    )
    this.#authorizeTimeoutMs = resolved.authorizeTimeoutMs
    this.#settleTimeoutMs = resolved.settleTimeoutMs
    this.#pool = new Pool(resolved.url, {
      connections: resolved.connections,
      connectTimeout: resolved.connectTimeoutMs,
    })
    const breaker = () =>
      circuitBreaker(handleWhen(isAcquirerFailure), {
        halfOpenAfter: resolved.breakerHalfOpenAfterMs,
        breaker: new ConsecutiveBreaker(resolved.breakerThreshold),
      })
    this.#breakers = { authorize: breaker(), settle: breaker(), refund: breaker() }
  }

  authorize(request: AuthorizeRequest): Promise<AuthorizationResult> {
    return this.#guarded('authorize', () =>
      this.#call<AuthorizationResult>('POST', ACQUIRER_PATHS.authorize, request, this.#authorizeTimeoutMs),
    )
  }

  /** What the acquirer holds for an authorize reference; undefined when it never authorized it. */
  lookupAuthorization(reference: string): Promise<AuthorizationResult | undefined> {
    return this.#guarded('authorize', () =>
      this.#call<AuthorizationResult>(
        'GET',
        ACQUIRER_PATHS.authorization(reference),
        undefined,
        this.#authorizeTimeoutMs,
        true,
      ),
    )
  }

  settle(request: SettleRequest): Promise<SettlementResult> {
    return this.#guarded('settle', () =>
      this.#call<SettlementResult>('POST', ACQUIRER_PATHS.settle, request, this.#settleTimeoutMs),
    )
  }

  refund(request: RefundRequest): Promise<RefundResult> {
    return this.#guarded('refund', () =>
      this.#call<RefundResult>('POST', ACQUIRER_PATHS.refund, request, this.#settleTimeoutMs),
    )
  }

  breakerStates(): Record<Operation, BreakerState> {
    return {
      authorize: breakerStateOf(this.#breakers.authorize.state),
      settle: breakerStateOf(this.#breakers.settle.state),
      refund: breakerStateOf(this.#breakers.refund.state),
    }
  }

  onBreakerStateChange(listener: (operation: Operation, state: BreakerState) => void): void {
    for (const operation of Object.keys(this.#breakers) as Operation[]) {
      this.#breakers[operation].onStateChange((state) => listener(operation, breakerStateOf(state)))
    }
  }

  close(): Promise<void> {
    return this.#pool.close()
  }

  async #guarded<T>(operation: Operation, call: () => Promise<T>): Promise<T> {
    try {
      return await this.#breakers[operation].execute(call)
    } catch (error) {
      if (isBrokenCircuitError(error)) {
        throw new PayrailError(
          'ACQUIRER_UNAVAILABLE',
          `the ${operation} circuit breaker is open after repeated acquirer failures`,
          {
            cause: error,
            details: { outcome: 'not-processed' },
          },
        )
      }
      throw error
    }
  }

  async #call<T>(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    timeoutMs: number,
    notFoundIsEmpty = false,
  ): Promise<T> {
    let statusCode = 0
    let text = ''
    try {
      const response = await this.#pool.request({
        method,
        path,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        // One limit for the whole exchange, connection and body included.
        signal: AbortSignal.timeout(timeoutMs),
      })
      statusCode = response.statusCode
      text = await response.body.text()
    } catch (error) {
      const code = (error as { code?: unknown }).code
      if (typeof code === 'string' && NOT_SENT.has(code)) {
        throw new PayrailError('ACQUIRER_UNAVAILABLE', `the acquirer is unreachable (${code})`, {
          cause: error,
          details: { outcome: 'not-processed' },
        })
      }
      throw new PayrailError(
        'ACQUIRER_TIMEOUT',
        `no answer from the acquirer within ${timeoutMs} ms (${String(code ?? (error as Error).name)})`,
        {
          cause: error,
          details: { outcome: 'unknown' },
        },
      )
    }
    if (statusCode === 200) return JSON.parse(text) as T
    if (statusCode === 404 && notFoundIsEmpty) return undefined as T
    if (statusCode >= 500) {
      throw new PayrailError('ACQUIRER_UNAVAILABLE', `the acquirer answered ${statusCode}`, {
        details: { outcome: 'not-processed' },
      })
    }
    throw new PayrailError(
      'INTERNAL',
      `the acquirer refused ${method} ${path} with ${statusCode}: ${text.slice(0, 200)}`,
    )
  }
}
