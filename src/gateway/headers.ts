import { randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

/** RFC 9110 §7.6.1: headers meant for one connection only, never forwarded by a proxy. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

// Set again by the gateway (host, length, request id, trace) or meaningless past it (expect).
const REPLACED_ON_REQUEST = new Set([
  'host',
  'content-length',
  'expect',
  'x-request-id',
  'traceparent',
  'tracestate',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
])

// The gateway writes its own framing of the body it buffered.
const REPLACED_ON_RESPONSE = new Set(['content-length'])

const REQUEST_ID = /^[\w.:@-]{1,128}$/

/** The caller's request id when it is a sane token, else a fresh one; it is echoed and forwarded. */
export function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID()
}

/** Header names listed in `Connection` are hop-by-hop too (RFC 9110 §7.6.1). */
function connectionListed(headers: IncomingHttpHeaders): Set<string> | undefined {
  const connection = headers.connection
  if (connection === undefined || connection === 'keep-alive' || connection === 'close') return undefined
  return new Set(connection.split(',').map((name) => name.trim().toLowerCase()))
}

function copy(
  headers: IncomingHttpHeaders,
  replaced: ReadonlySet<string>,
  into: Record<string, string | string[]>,
): Record<string, string | string[]> {
  const listed = connectionListed(headers)
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined || HOP_BY_HOP.has(name) || replaced.has(name) || listed?.has(name)) continue
    into[name] = value
  }
  return into
}

export interface ForwardedFor {
  requestId: string
  traceparent: string
  tracestate: string | undefined
  clientIp: string
  protocol: string
  host: string | undefined
}

/** The headers sent upstream: the caller's end-to-end headers, plus request id, trace and X-Forwarded-*. */
export function upstreamRequestHeaders(
  headers: IncomingHttpHeaders,
  forwarded: ForwardedFor,
): Record<string, string | string[]> {
  const out = copy(headers, REPLACED_ON_REQUEST, {})
  out['x-request-id'] = forwarded.requestId
  out.traceparent = forwarded.traceparent
  if (forwarded.tracestate !== undefined) out.tracestate = forwarded.tracestate
  const prior = headers['x-forwarded-for']
  out['x-forwarded-for'] =
    prior === undefined ? forwarded.clientIp : `${String(prior)}, ${forwarded.clientIp}`
  out['x-forwarded-proto'] = forwarded.protocol
  if (forwarded.host !== undefined) out['x-forwarded-host'] = forwarded.host
  return out
}

/** The upstream's answer headers the client gets: hop-by-hop and framing headers removed. */
export function clientResponseHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  return copy(headers, REPLACED_ON_RESPONSE, {})
}
