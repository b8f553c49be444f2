/** Request headers a browser may send to the gateway (the dashboard's calls). */
export const CORS_ALLOWED_HEADERS = [
  'authorization',
  'content-type',
  'idempotency-key',
  'x-request-id',
  'traceparent',
  'tracestate',
]

/** Answer headers a browser script may read. */
export const CORS_EXPOSED_HEADERS = [
  'retry-after',
  'ratelimit',
  'ratelimit-policy',
  'x-request-id',
  'idempotent-replayed',
]

const EXPOSED = CORS_EXPOSED_HEADERS.join(', ')

/**
 * CORS headers of a forwarded answer. Preflights are answered by @fastify/cors with the same
 * lists; forwarded requests do not pass through Fastify (see forward-handler.ts), so their
 * answers get the headers here: the origin is echoed only when it is one of the allowed ones.
 */
export function corsHeaders(
  origin: string | undefined,
  allowed: ReadonlySet<string>,
): Record<string, string> | undefined {
  if (origin === undefined || !allowed.has(origin)) return undefined
  return { 'access-control-allow-origin': origin, vary: 'Origin', 'access-control-expose-headers': EXPOSED }
}
