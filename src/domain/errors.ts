/**
 * The one catalog of payrail's error codes. A code is stable: clients, tests and alerts match
 * on it, never on a class or a message. `status` is the HTTP status it answers with and
 * `retryable` says whether the same request may succeed later unchanged.
 */
export const errorCatalog = {
  CONFIG_INVALID: { status: 500, retryable: false, title: 'Invalid configuration' },
  USAGE: { status: 400, retryable: false, title: 'Invalid command usage' },

  // Requests
  VALIDATION_FAILED: { status: 400, retryable: false, title: 'Invalid request' },
  UNAUTHORIZED: { status: 401, retryable: false, title: 'Missing or invalid credentials' },
  MERCHANT_MISMATCH: { status: 403, retryable: false, title: 'The merchant does not match the API key' },
  NOT_FOUND: { status: 404, retryable: false, title: 'Not found' },
  ADMIN_NETWORK_REFUSED: {
    status: 403,
    retryable: false,
    title: 'The operations plane is not open to this network',
  },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false, title: 'Request body too large' },
  REQUEST_TIMEOUT: {
    status: 408,
    retryable: true,
    title: 'The request did not arrive in time; it was not processed',
  },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false, title: 'Unsupported media type' },
  UNSUPPORTED_CURRENCY: { status: 422, retryable: false, title: 'Unsupported currency' },
  AMOUNT_OUT_OF_RANGE: { status: 422, retryable: false, title: 'Amount out of range' },
  RATE_LIMIT_EXCEEDED: { status: 429, retryable: true, title: 'Too many requests' },
  OVERLOADED: {
    status: 503,
    retryable: true,
    title: 'The api is at its limit of requests in progress; the request was not processed',
  },

  // Idempotency (DESIGN.md)
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    retryable: false,
    title: 'Idempotency key reused with another request',
  },
  REQUEST_IN_PROGRESS: {
    status: 409,
    retryable: true,
    title: 'A request with this idempotency key is in progress',
  },

  // Operations plane
  LOAD_RUN_IN_PROGRESS: {
    status: 409,
    retryable: true,
    title: 'A load run is in progress; one runs at a time',
  },

  // Payment state machine
  CAPTURE_CONFLICT: { status: 409, retryable: false, title: 'The payment cannot be captured in its state' },
  REFUND_CONFLICT: { status: 409, retryable: false, title: 'The payment cannot be refunded in its state' },
  CAPTURE_EXCEEDS_AUTHORIZED: {
    status: 422,
    retryable: false,
    title: 'Capture exceeds the authorized amount',
  },
  REFUND_EXCEEDS_CAPTURED: { status: 422, retryable: false, title: 'Refunds exceed the captured amount' },

  // Workers: an event that can never be applied goes to payment.dlq at once
  EVENT_INVALID: { status: 422, retryable: false, title: 'The event is not a valid payrail envelope' },
  EVENT_NOT_APPLICABLE: {
    status: 409,
    retryable: false,
    title: 'The event does not fit the state of its payment',
  },

  // Dependencies
  ACQUIRER_UNAVAILABLE: { status: 503, retryable: true, title: 'The card processor is unavailable' },
  ACQUIRER_TIMEOUT: { status: 503, retryable: true, title: 'The card processor did not answer in time' },
  // Sent, but the answer was lost or unreadable: the processor may have acted on it.
  ACQUIRER_OUTCOME_UNKNOWN: {
    status: 503,
    retryable: true,
    title: "The card processor's answer was lost; the request may have been processed",
  },
  // An approval that came after its attempt was given up was released at the processor.
  AUTHORIZATION_VOIDED: {
    status: 503,
    retryable: true,
    title: 'The authorization came too late and was voided; retry with the same idempotency key',
  },
  // The simulator's journal holds a line it cannot read (other than a torn last line): it refuses
  // to start rather than forget operations it carried out.
  ACQUIRER_JOURNAL_INVALID: {
    status: 500,
    retryable: false,
    title: "The acquirer simulator's journal cannot be read",
  },
  DEPENDENCY_MISSING: { status: 503, retryable: false, title: 'A required program is missing' },
  KAFKA_UNAVAILABLE: { status: 503, retryable: true, title: 'Kafka is unreachable' },
  // `payrail up` found another process listening where a role must listen: it refuses to start
  // rather than report the other process's health as its own role's.
  PORT_IN_USE: { status: 500, retryable: false, title: 'A port payrail needs is taken by another process' },
  KAFKA_BROKER_START_FAILED: { status: 500, retryable: false, title: 'The local Kafka broker did not start' },
  CONSUMER_CLOSED: {
    status: 503,
    retryable: false,
    title: 'The consumer was closed before it joined its group',
  },
  DATABASE_UNAVAILABLE: { status: 503, retryable: true, title: 'The database is unreachable' },
  DATABASE_CONTENTION: {
    status: 503,
    retryable: true,
    title: 'The database rolled the transaction back under lock contention',
  },
  DATABASE_BUSY: { status: 503, retryable: true, title: 'Every database connection is busy' },
  MIGRATION_FAILED: { status: 500, retryable: false, title: 'A database migration failed' },
  INTERNAL: { status: 500, retryable: false, title: 'Internal error' },

  // Webhooks: an endpoint URL payrail will not send to (scheme, or an address that is not public)
  WEBHOOK_URL_REFUSED: { status: 422, retryable: false, title: 'The webhook URL is not allowed' },

  // Gateway. 503: the request never reached an upstream, so it can be sent again as is; 504 and
  // 502: it was sent and may have been processed, so only an idempotent retry is safe.
  UPSTREAM_UNAVAILABLE: {
    status: 503,
    retryable: true,
    title: 'The upstream service could not be reached; the request was not sent',
  },
  NO_HEALTHY_UPSTREAM: {
    status: 503,
    retryable: true,
    title: 'No healthy upstream instance; the request was not sent',
  },
  UPSTREAM_ACQUIRE_TIMEOUT: {
    status: 503,
    retryable: true,
    title: 'No upstream connection became free in time; the request was not sent',
  },
  UPSTREAM_QUEUE_FULL: {
    status: 503,
    retryable: true,
    title: 'Too many requests are waiting for an upstream connection; the request was not sent',
  },
  UPSTREAM_TIMEOUT: {
    status: 504,
    retryable: true,
    title: 'The upstream service did not answer in time; the request may have been processed',
  },
  UPSTREAM_CONNECTION_RESET: {
    status: 502,
    retryable: true,
    title: 'The upstream connection failed after the request was sent; it may have been processed',
  },
  RATE_LIMITER_UNAVAILABLE: {
    status: 503,
    retryable: true,
    title: 'The rate limiter is unreachable and configured to fail closed',
  },
} as const satisfies Record<string, { status: number; retryable: boolean; title: string }>

export type ErrorCode = keyof typeof errorCatalog

/** An error with a catalog code; `details` carries fields safe to show to the caller. */
export class PayrailError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly retryable: boolean
  readonly details: Record<string, unknown>

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'PayrailError'
    this.code = code
    this.status = errorCatalog[code].status
    this.retryable = errorCatalog[code].retryable
    this.details = options.details ?? {}
  }
}

/** Matches on the stable code, so that errors from other modules or realms compare correctly. */
export function hasErrorCode(error: unknown, code: ErrorCode): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code
}
