import { isIP } from 'node:net'
import { Agent, request } from 'undici'
import { hasErrorCode } from '../domain/errors.ts'
import { checkAddress, guardedLookup } from './address-guard.ts'
import type { AttemptOutcome } from './deliveries.ts'
import { SIGNATURE_HEADER, signatureHeader } from './signing.ts'

export interface SenderOptions {
  /** An attempt with no complete answer within this fails. Default: 10000 ms (WEBHOOK_TIMEOUT_MS). */
  timeoutMs: number
  /** Send to non-public addresses. Default: false (WEBHOOK_ALLOW_PRIVATE). */
  allowPrivate: boolean
  /** Connections kept per endpoint origin. Default: 8. */
  connectionsPerOrigin?: number
  /** Bytes of an answer read at most (then the connection is dropped). Default: 4096. */
  maxResponseBytes?: number
  /** The clock, in milliseconds. Default: Date.now. */
  now?: () => number
}

export interface Attempt {
  url: string
  body: string
  eventId: string
  eventType: string
  secrets: readonly string[]
}

/**
 * Sends one attempt: POST of the recorded body, signed (`Payrail-Signature: t=…,v1=…`), never
 * following a redirect (undici's request follows none; a 3xx is a failure), with one deadline
 * over connect, headers and body, reading at most `maxResponseBytes` of the answer.
 *
 * The SSRF guard: a host name is resolved once per new connection by `guardedLookup`, which
 * refuses non-public addresses and gives the socket the very addresses it checked; a literal IP
 * is checked here (net.connect does not call `lookup` for one). Kept-alive connections were
 * opened to a checked address.
 */
export class WebhookSender {
  readonly #agent: Agent
  readonly #options: SenderOptions
  readonly #now: () => number
  readonly #maxResponseBytes: number

  constructor(options: SenderOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
    this.#maxResponseBytes = options.maxResponseBytes ?? 4096
    this.#agent = new Agent({
      connections: options.connectionsPerOrigin ?? 8,
      connect: { lookup: guardedLookup(options.allowPrivate), timeout: options.timeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 4000,
    })
  }

  async send(attempt: Attempt): Promise<AttemptOutcome> {
    const started = this.#now()
    const elapsed = () => this.#now() - started
    try {
      const url = new URL(attempt.url)
      const host = url.hostname.replace(/^\[|\]$/g, '')
      if (isIP(host) !== 0) checkAddress(host, this.#options.allowPrivate, host)
      const timestamp = Math.floor(started / 1000)
      const response = await request(url, {
        dispatcher: this.#agent,
        method: 'POST',
        body: attempt.body,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'payrail-webhooks/1',
          'payrail-event-id': attempt.eventId,
          'payrail-event-type': attempt.eventType,
          [SIGNATURE_HEADER]: signatureHeader(attempt.secrets, timestamp, attempt.body),
        },
        signal: AbortSignal.timeout(this.#options.timeoutMs),
      })
      await response.body.dump({ limit: this.#maxResponseBytes }).catch(() => {
        // The answer's status is what counts; a body cut short or too long changes nothing.
      })
      const ok = response.statusCode >= 200 && response.statusCode < 300
      return {
        ok,
        status: response.statusCode,
        error: ok ? null : `HTTP ${response.statusCode}`,
        latencyMs: elapsed(),
      }
    } catch (error) {
      return { ok: false, status: null, error: describe(error), latencyMs: elapsed() }
    }
  }

  close(): Promise<void> {
    return this.#agent.close()
  }
}

/** A short reason for the delivery log: a code and message, never the body or a header. */
function describe(error: unknown): string {
  if (hasErrorCode(error, 'WEBHOOK_URL_REFUSED')) return `refused: ${(error as Error).message}`
  const named = error as { name?: string; code?: string; message?: string; cause?: unknown }
  if (named.name === 'TimeoutError' || named.name === 'AbortError') return 'timed out'
  const cause = named.cause as { code?: string; message?: string } | undefined
  if (hasErrorCode(cause, 'WEBHOOK_URL_REFUSED')) return `refused: ${cause?.message}`
  const code = named.code ?? cause?.code
  return `${code ?? 'error'}: ${named.message ?? String(error)}`.slice(0, 300)
}
