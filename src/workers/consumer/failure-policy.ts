import { type ErrorCode, errorCatalog, hasErrorCode } from '../../domain/errors.ts'
import { isKafkaOutage } from '../../kafka/errors.ts'

/**
 * What to do after a handler failed:
 * - `outage`: a dependency is down (the caller's `isOutage` says so); the record waits and tries
 *   again, as long as it takes, and the attempt is not counted;
 * - `retry`: counted; the record is tried again after a backoff;
 * - `dead`: no point in trying again (a catalog code with `retryable: false`) or the attempts are
 *   used up; the record goes to the dead-letter topic.
 */
export type FailureDecision = 'outage' | 'retry' | 'dead'

export interface FailurePolicy {
  maxAttempts: number
  retryDelayMs: number
  retryMaxDelayMs: number
  outageDelayMs: number
  outageMaxDelayMs: number
  isOutage: (error: unknown) => boolean
  /** A number in [0, 1) for the jitter. */
  random: () => number
}

/**
 * The outages payrail's handlers meet: the card processor unreachable or its circuit breaker open
 * (the acquirer client reports both as ACQUIRER_UNAVAILABLE), the database unreachable or rolling
 * transactions back under contention (src/db/errors.ts maps the drivers' errors to
 * DATABASE_UNAVAILABLE and DATABASE_CONTENTION), Kafka unreachable. A timeout of one call
 * (ACQUIRER_TIMEOUT) is not one: it counts as an attempt.
 *
 * Why the database counts: a failover takes 2–3 minutes, and at the default 10 attempts with
 * backoff to 30 s every capture, refund and ledger record that met it was dead-lettered. A
 * deadlock or serialization failure says nothing about the record either; a burst of them under
 * load must not use up its attempts.
 */
export function defaultIsOutage(error: unknown): boolean {
  return (
    hasErrorCode(error, 'ACQUIRER_UNAVAILABLE') ||
    hasErrorCode(error, 'DATABASE_UNAVAILABLE') ||
    hasErrorCode(error, 'DATABASE_CONTENTION') ||
    hasErrorCode(error, 'KAFKA_UNAVAILABLE') ||
    isKafkaOutage(error)
  )
}

/** The error's code when it is one of the catalog's. */
export function catalogCode(error: unknown): ErrorCode | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' && Object.hasOwn(errorCatalog, code) ? (code as ErrorCode) : undefined
}

/** A code for the dead-letter headers: the error's own string code if it has one, else INTERNAL. */
export function errorCode(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined
  return typeof code === 'string' && code.length > 0 ? code : 'INTERNAL'
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message
  if (typeof error === 'object' && error !== null) {
    const message = (error as { message?: unknown }).message
    if (typeof message === 'string') return message
  }
  return String(error)
}

/**
 * Classifies a failed attempt. `attempts` counts the attempts that failed for a reason other
 * than an outage, this one included.
 */
export function decide(error: unknown, attempts: number, policy: FailurePolicy): FailureDecision {
  if (policy.isOutage(error)) return 'outage'
  const code = catalogCode(error)
  if (code !== undefined && !errorCatalog[code].retryable) return 'dead'
  return attempts >= policy.maxAttempts ? 'dead' : 'retry'
}
