import type { IncomingHttpHeaders } from 'node:http'
import type { Dispatcher } from 'undici'

export interface AttemptRequest {
  method: string
  /** Path and query, as the caller sent them. */
  path: string
  headers: Record<string, string | string[]>
  body: Buffer | undefined
  /** Time from sending to the answer's headers (GATEWAY_RESPONSE_TIMEOUT_MS or the route's override). */
  headersTimeoutMs: number
  /** Longest pause between two chunks of the answer's body. */
  bodyTimeoutMs: number
  /** Largest answer body read; a larger one fails the attempt like a broken connection. */
  maxResponseBytes: number
}

export interface UpstreamAnswer {
  statusCode: number
  headers: IncomingHttpHeaders
  body: Buffer
}

/**
 * Why an attempt failed. `connect`: no connection could be made (refused, unreachable, connect
 * timeout); `response-timeout`: no complete answer in time; `reset`: the connection broke.
 */
export type FailureKind = 'connect' | 'connect-timeout' | 'response-timeout' | 'reset'

export type AttemptResult =
  | { ok: true; answer: UpstreamAnswer }
  | {
      ok: false
      kind: FailureKind
      /** Whether the request was handed to a connection, i.e. the upstream may have acted on it. */
      sent: boolean
      error: Error
    }

const CONNECT_TIMEOUT = 'UND_ERR_CONNECT_TIMEOUT'
const RESPONSE_TIMEOUT = 'PAYRAIL_RESPONSE_TIMEOUT'
const TIMEOUTS = new Set([RESPONSE_TIMEOUT, 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

function codeOf(error: Error): string {
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' ? code : error.name
}

/**
 * Collects one answer into memory. Buffering (payrail's answers are small JSON) lets the gateway
 * retry an attempt that broke half-way and answer the client with a single write.
 */
class CollectingHandler implements Dispatcher.DispatchHandler {
  #sent = false
  #timer: NodeJS.Timeout | undefined
  readonly #headersTimeoutMs: number
  #statusCode = 0
  #headers: IncomingHttpHeaders = {}
  readonly #chunks: Buffer[] = []
  #bytes = 0
  readonly #maxBytes: number
  readonly #done: (result: AttemptResult) => void

  constructor(headersTimeoutMs: number, maxBytes: number, done: (result: AttemptResult) => void) {
    this.#headersTimeoutMs = headersTimeoutMs
    this.#maxBytes = maxBytes
    this.#done = done
  }

  // undici calls this right before writing the request on a connected socket: from here on the
  // upstream may have received it. Connect failures end the attempt without this call.
  // The time to the answer's headers is measured from here with a plain timer: undici's own
  // headersTimeout runs on its one-second-resolution timers and would fire up to a second late.
  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#sent = true
    this.#timer = setTimeout(() => {
      controller.abort(
        Object.assign(new Error(`no answer headers within ${this.#headersTimeoutMs} ms`), {
          code: RESPONSE_TIMEOUT,
        }),
      )
    }, this.#headersTimeoutMs)
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    // 1xx answers are interim; the final one follows on the same request.
    if (statusCode < 200) return
    clearTimeout(this.#timer)
    this.#statusCode = statusCode
    this.#headers = headers
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#bytes += chunk.length
    if (this.#bytes > this.#maxBytes) {
      controller.abort(
        Object.assign(new Error(`the upstream answer is larger than ${this.#maxBytes} bytes`), {
          code: 'PAYRAIL_RESPONSE_TOO_LARGE',
        }),
      )
      return
    }
    this.#chunks.push(chunk)
  }

  onResponseEnd(): void {
    const body =
      this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks, this.#bytes)
    this.#done({ ok: true, answer: { statusCode: this.#statusCode, headers: this.#headers, body } })
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    clearTimeout(this.#timer)
    const code = codeOf(error)
    let kind: FailureKind
    if (!this.#sent) kind = code === CONNECT_TIMEOUT ? 'connect-timeout' : 'connect'
    else if (TIMEOUTS.has(code)) kind = 'response-timeout'
    else kind = 'reset'
    this.#done({ ok: false, kind, sent: this.#sent, error })
  }
}

/** One attempt on one instance; never rejects, the result says how it went. */
export function forwardOnce(dispatcher: Dispatcher, request: AttemptRequest): Promise<AttemptResult> {
  return new Promise((resolve) => {
    const handler = new CollectingHandler(request.headersTimeoutMs, request.maxResponseBytes, resolve)
    try {
      dispatcher.dispatch(
        {
          method: request.method as Dispatcher.HttpMethod,
          path: request.path,
          headers: request.headers,
          body: request.body ?? null,
          // undici's own limits stay as a backstop a second later than the gateway's timer.
          headersTimeout: request.headersTimeoutMs + 1000,
          bodyTimeout: request.bodyTimeoutMs,
        },
        handler,
      )
    } catch (error) {
      // undici refuses a request it cannot write (e.g. a header value it rejects) before sending it.
      resolve({ ok: false, kind: 'connect', sent: false, error: error as Error })
    }
  })
}
