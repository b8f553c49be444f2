import { PayrailError } from '../domain/errors.ts'

/** What a request does, for rate limits: one token bucket per API key (per address for `admin`) and operation. */
export type Operation = 'authorize' | 'capture' | 'refund' | 'read' | 'admin'

/**
 * Route ids are the only route names in metrics and logs: a small fixed set, never raw paths
 * (payment ids would make every request its own time series).
 */
const ROUTE_IDS = [
  'payments.authorize',
  'payments.capture',
  'payments.refund',
  'payments.read',
  'payments.other',
  'webhooks',
  'admin',
  'openapi',
] as const
export type RouteId = (typeof ROUTE_IDS)[number]

export interface RouteMatch {
  id: RouteId
  /** The rate-limit bucket, or undefined when the route is not limited per key. */
  operation: Operation | undefined
}

const READ: RouteMatch = { id: 'payments.read', operation: 'read' }
const AUTHORIZE: RouteMatch = { id: 'payments.authorize', operation: 'authorize' }
const CAPTURE: RouteMatch = { id: 'payments.capture', operation: 'capture' }
const REFUND: RouteMatch = { id: 'payments.refund', operation: 'refund' }
const OTHER: RouteMatch = { id: 'payments.other', operation: 'read' }
const ADMIN: RouteMatch = { id: 'admin', operation: 'admin' }
// A merchant's webhook endpoints and delivery log: management calls, drawn on the read bucket.
const WEBHOOKS: RouteMatch = { id: 'webhooks', operation: 'read' }
const OPENAPI: RouteMatch = { id: 'openapi', operation: undefined }

// Segments of letters, digits and `-._~:@` only. Anything else is a second spelling of some path
// that the api (Fastify) would route after decoding or cutting it: `%61uthorize` is `authorize`,
// `authorize;x` is `authorize` (find-my-way ends the path at `;`), `capture//id` and `./` are
// resolved by some clients and proxies. Classifying such a path as what it says here while the
// api serves it as something else would let it dodge the authorize limit and timeout.
const CANONICAL_SEGMENTS = /^(\/[A-Za-z0-9\-._~:@]+)+$/
const DOT_SEGMENT = /\/\.\.?(\/|$)/

/** Whether `path` (without its query string) is spelled the one way the gateway classifies it. */
export function isCanonicalPath(path: string): boolean {
  return CANONICAL_SEGMENTS.test(path) && !DOT_SEGMENT.test(path)
}

/** Classifies a request the gateway forwards; `path` is without its query string. */
export function matchRoute(method: string, path: string): RouteMatch {
  if (path.startsWith('/api/admin/')) return ADMIN
  if (path === '/api/openapi.json') return OPENAPI
  if (path.startsWith('/api/webhook-')) return WEBHOOKS
  if (method === 'GET' || method === 'HEAD') return READ
  if (method === 'POST') {
    if (path === '/api/payments/authorize') return AUTHORIZE
    if (path.startsWith('/api/payments/capture/')) return CAPTURE
    if (path.startsWith('/api/payments/refund/')) return REFUND
  }
  // Anything else still costs the upstream a request, so it draws on the read bucket.
  return OTHER
}

/** Checks per-route timeout overrides against the known route ids, so a typo stops start-up. */
export function checkRouteTimeouts(overrides: Record<string, number>): Partial<Record<RouteId, number>> {
  for (const [route, ms] of Object.entries(overrides)) {
    if (!(ROUTE_IDS as readonly string[]).includes(route)) {
      throw new PayrailError(
        'CONFIG_INVALID',
        `GATEWAY_ROUTE_TIMEOUTS names an unknown route ${JSON.stringify(route)}; routes are ${ROUTE_IDS.join(', ')}`,
      )
    }
    if (!Number.isInteger(ms) || ms < 1) {
      throw new PayrailError('CONFIG_INVALID', `GATEWAY_ROUTE_TIMEOUTS ${route}=${ms}: must be at least 1 ms`)
    }
  }
  return overrides as Partial<Record<RouteId, number>>
}
