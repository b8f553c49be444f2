import type { Logger } from '../observability/logger.ts'

/** What is logged of one request: fields safe to log, and nothing else. */
export interface AccessRecord {
  requestId: string
  method: string
  /** The URL as received; only its path is logged. */
  url: string
  route: string
  status: number
  ms: number
  client: string | undefined
  traceId?: string | undefined
  upstream?: string | undefined
  attempts?: number | undefined
}

/**
 * One line per request. Built field by field from what is safe to log: never the headers (API
 * keys and admin tokens travel there), never the query string, never a body.
 */
export function logAccess(logger: Logger, record: AccessRecord): void {
  const queryAt = record.url.indexOf('?')
  logger.info(
    {
      requestId: record.requestId,
      traceId: record.traceId,
      method: record.method,
      route: record.route,
      path: queryAt === -1 ? record.url : record.url.slice(0, queryAt),
      status: record.status,
      ms: Math.round(record.ms * 10) / 10,
      upstream: record.upstream,
      attempts: record.attempts,
      client: record.client,
    },
    'access',
  )
}
