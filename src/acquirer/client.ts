import {
  type CircuitBreakerPolicy,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  isBrokenCircuitError,
} from 'cockatiel'
import { type Static, type TSchema, Type } from 'typebox'
import Value from 'typebox/value'
import { Pool } from 'undici'
import { hasErrorCode, PayrailError } from '../domain/errors.ts'
import { type BreakerState, breakerStateOf } from '../runtime/breaker.ts'
import { httpUrl, resolveOptions, wholeNumber } from '../runtime/options.ts'
import {
  ACQUIRER_PATHS,
  type AuthorizationResult,
  AuthorizationResultSchema,
  type AuthorizeRequest,
  REJECTED_BEFORE_PROCESSING,
  type RefundRequest,
  type RefundResult,
  RefundResultSchema,
  RejectionSchema,
  type SettlementResult,
  SettlementResultSchema,
  type SettleRequest,
  type VoidResult,
  VoidResultSchema,
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
  /** Told of every exchange with the acquirer: what, how it ended, how long. Default: none. */
  observer?: AcquirerCallObserver | undefined
  /** Monotonic clock in ms, for the exchange's duration. Default: `performance.now`. */
  now?: () => number
}

/** A call the acquirer was sent (or tried to be): an open breaker sends none. */
export type AcquirerCall = 'authorize' | 'lookup' | 'void' | 'settle' | 'refund'

/**
 * How an exchange ended: `answered` (an answer it reads: 200, or 404 for a lookup),
 * `not_processed` (not sent, or the defined rejection), `timeout`, `unknown` (after sending: a
 * reset, a 5xx, an unreadable 200), `refused` (another 4xx: a defect on one side).
 */
/** One HTTP exchange: a 404 answers undefined when `notFoundIsEmpty` (a lookup of nothing). */
interface Exchange {
  method: 'GET' | 'POST'
  path: string
  body: unknown
  timeoutMs: number
  notFoundIsEmpty?: boolean
}

export type AcquirerCallOutcome = 'answered' | 'not_processed' | 'timeout' | 'unknown' | 'refused'

export interface AcquirerCallObserver {
  exchanged(call: AcquirerCall, outcome: AcquirerCallOutcome, seconds: number): void
}

export const defaultAcquirerClientOptions: Required<Omit<AcquirerClientOptions, 'url' | 'observer' | 'now'>> =
  {
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

// Failures before the request left this process: the acquirer cannot have acted on it. Anything
// else (a reset, a socket closed by the other side) may come after the acquirer read the request.
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
])

function isAcquirerFailure(error: unknown): boolean {
  return (
    hasErrorCode(error, 'ACQUIRER_UNAVAILABLE') ||
    hasErrorCode(error, 'ACQUIRER_TIMEOUT') ||
    hasErrorCode(error, 'ACQUIRER_OUTCOME_UNKNOWN')
  )
}

const unknownOutcome = (message: string, cause?: unknown) =>
  new PayrailError('ACQUIRER_OUTCOME_UNKNOWN', message, {
    ...(cause === undefined ? {} : { cause }),
    details: { outcome: 'unknown' },
  })

/**
 * payrail's side of the acquirer contract: keep-alive pool, a time limit per call, and one
 * circuit breaker per operation so that slow settlements cannot stop authorizations.
 * Failures carry `details.outcome`: ACQUIRER_UNAVAILABLE (`not-processed`) only when the
 * acquirer certainly did nothing (not sent, breaker open, its defined "rejected before
 * processing" answer); ACQUIRER_TIMEOUT (sent, no answer in time) and ACQUIRER_OUTCOME_UNKNOWN
 * (any other 5xx, a reset after sending, an answer that breaks its schema) are `unknown`: the
 * acquirer may have acted. Every 200 answer is checked against its TypeBox schema.
 */
export class AcquirerClient {
  readonly #pool: Pool
  readonly #authorizeTimeoutMs: number
  readonly #settleTimeoutMs: number
  readonly #breakers: Record<Operation, CircuitBreakerPolicy>
  readonly #observer: AcquirerCallObserver | undefined
  readonly #now: () => number

  constructor(options: AcquirerClientOptions) {
    const { observer, now, ...checked } = options
    const resolved = resolveOptions(
      'acquirerClient',
      schema,
      { ...defaultAcquirerClientOptions, url: options.url },
      checked,
    )
    this.#observer = observer
    this.#now = now ?? (() => performance.now())
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
    return this.#guarded('authorize', async () =>
      this.#expect(
        await this.#call('authorize', {
          method: 'POST',
          path: ACQUIRER_PATHS.authorize,
          body: request,
          timeoutMs: this.#authorizeTimeoutMs,
        }),
        AuthorizationResultSchema,
        request.reference,
      ),
    )
  }

  /** What the acquirer holds for an authorize reference; undefined when it never authorized it. */
  lookupAuthorization(reference: string): Promise<AuthorizationResult | undefined> {
    return this.#guarded('authorize', async () => {
      const answer = await this.#call('lookup', {
        method: 'GET',
        path: ACQUIRER_PATHS.authorization(reference),
        body: undefined,
        timeoutMs: this.#authorizeTimeoutMs,
        notFoundIsEmpty: true,
      })
      return answer === undefined ? undefined : this.#expect(answer, AuthorizationResultSchema, reference)
    })
  }

  /**
   * Releases the hold of the approval under `reference` (a reversal); safe to repeat.
   * `voided: false` means the acquirer holds no approval under it.
   */
  voidAuthorization(reference: string): Promise<VoidResult> {
    return this.#guarded('authorize', async () =>
      this.#expect(
        await this.#call('void', {
          method: 'POST',
          path: ACQUIRER_PATHS.void,
          body: { reference },
          timeoutMs: this.#authorizeTimeoutMs,
        }),
        VoidResultSchema,
        reference,
      ),
    )
  }

  settle(request: SettleRequest): Promise<SettlementResult> {
    return this.#guarded('settle', async () =>
      this.#expect(
        await this.#call('settle', {
          method: 'POST',
          path: ACQUIRER_PATHS.settle,
          body: request,
          timeoutMs: this.#settleTimeoutMs,
        }),
        SettlementResultSchema,
        request.reference,
      ),
    )
  }

  refund(request: RefundRequest): Promise<RefundResult> {
    return this.#guarded('refund', async () =>
      this.#expect(
        await this.#call('refund', {
          method: 'POST',
          path: ACQUIRER_PATHS.refund,
          body: request,
          timeoutMs: this.#settleTimeoutMs,
        }),
        RefundResultSchema,
        request.reference,
      ),
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

  /**
   * The answer when it matches `schema` and names the reference asked about. Anything else came
   * from an acquirer that did something we cannot read, so the outcome is unknown: a string
   * "false" must never pass for a boolean.
   */
  #expect<S extends TSchema>(answer: unknown, schema: S, reference: string): Static<S> {
    if (!Value.Check(schema, answer)) {
      const first = Value.Errors(schema, answer)[0]
      throw unknownOutcome(
        `the acquirer's answer breaks its schema (${first?.instancePath || '/'} ${first?.message ?? 'is invalid'})`,
      )
    }
    const named = (answer as { reference: string }).reference
    if (named !== reference)
      throw unknownOutcome(`the acquirer answered for reference ${JSON.stringify(named)}, not ${reference}`)
    return answer as Static<S>
  }

  /** One exchange, observed; the parsed JSON of a 200, undefined for a 404 when `notFoundIsEmpty`. */
  async #call(call: AcquirerCall, exchange: Exchange): Promise<unknown> {
    const started = this.#now()
    const observe = (outcome: AcquirerCallOutcome) =>
      this.#observer?.exchanged(call, outcome, (this.#now() - started) / 1000)
    try {
      const answer = await this.#exchange(exchange)
      observe('answered')
      return answer
    } catch (error) {
      observe(outcomeOfFailure(error))
      throw error
    }
  }

  async #exchange({ method, path, body, timeoutMs, notFoundIsEmpty = false }: Exchange): Promise<unknown> {
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
      if ((error as Error).name === 'TimeoutError') {
        throw new PayrailError('ACQUIRER_TIMEOUT', `no answer from the acquirer within ${timeoutMs} ms`, {
          cause: error,
          details: { outcome: 'unknown' },
        })
      }
      throw unknownOutcome(
        `the connection to the acquirer failed after sending (${String(code ?? (error as Error).name)})`,
        error,
      )
    }
    if (statusCode === 200) {
      try {
        return JSON.parse(text) as unknown
      } catch (error) {
        throw unknownOutcome('the acquirer answered 200 with a body that is not JSON', error)
      }
    }
    if (statusCode === 404 && notFoundIsEmpty) return undefined
    if (statusCode === REJECTED_BEFORE_PROCESSING && isRejection(text)) {
      throw new PayrailError(
        'ACQUIRER_UNAVAILABLE',
        `the acquirer refused before processing (${statusCode})`,
        {
          details: { outcome: 'not-processed' },
        },
      )
    }
    if (statusCode >= 500) throw unknownOutcome(`the acquirer answered ${statusCode}`)
    throw new PayrailError(
      'INTERNAL',
      `the acquirer refused ${method} ${path} with ${statusCode}: ${text.slice(0, 200)}`,
    )
  }
}

function outcomeOfFailure(error: unknown): AcquirerCallOutcome {
  if (hasErrorCode(error, 'ACQUIRER_UNAVAILABLE')) return 'not_processed'
  if (hasErrorCode(error, 'ACQUIRER_TIMEOUT')) return 'timeout'
  if (hasErrorCode(error, 'ACQUIRER_OUTCOME_UNKNOWN')) return 'unknown'
  return 'refused'
}

function isRejection(text: string): boolean {
  try {
    return Value.Check(RejectionSchema, JSON.parse(text))
  } catch {
    return false
  }
}
