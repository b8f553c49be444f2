import type { Server, ServerOptions, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { Type } from 'typebox'
import { PayrailError } from '../domain/errors.ts'
import { problemOf } from '../http/problem.ts'
import { type OptionRule, resolveOptions, wholeNumber } from '../runtime/options.ts'

/**
 * What one client connection may cost the gateway. Without these, Node waits 60 s for a
 * request's headers and 300 s for its body, and accepts connections without bound: a few hundred
 * clients sending a byte now and then (slowloris) hold sockets and memory for minutes.
 */
export interface ClientLimitsOptions {
  /** Time from a request's first byte to the end of its headers; then 408 and the connection closes. Default: 10000 ms (GATEWAY_HEADERS_TIMEOUT_MS). */
  headersTimeoutMs?: number
  /** Time from a request's first byte to the end of its body; then 408 and the connection closes, nothing forwarded. Default: 30000 ms (GATEWAY_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number
  /** Time a keep-alive connection may sit idle between requests before the gateway closes it (Node adds 1 s). Default: 65000 ms (GATEWAY_IDLE_TIMEOUT_MS). */
  idleTimeoutMs?: number
  /** Client connections open at once; a connection beyond them is closed as soon as it is accepted. Default: 10000 (GATEWAY_MAX_CONNECTIONS). */
  maxConnections?: number
  /** How often the headers and request timeouts are checked, so they end up to this much late. Default: 1000 ms. */
  connectionsCheckingIntervalMs?: number
}

/**
 * Headers arrive in one packet from any sane client: 10 s covers a stalled mobile link.
 * A body is at most GATEWAY_BODY_LIMIT_BYTES (16 KiB): 30 s is 16 KiB at half a kilobyte a
 * second. Idle 65 s outlasts the 60 s idle timeout of the usual load balancers (AWS ALB, GCP) and
 * of most client pools, so the other side closes first and never sends a payment on a connection
 * the gateway is closing. 10,000 connections: an idle keep-alive connection measured 21 KB of RSS
 * in Node 24 (2,000 connections, 42 MB), so the cap holds them to about 210 MB, and it stays well
 * inside the usual file descriptor limits beside the upstream pool's connections.
 */
export const defaultClientLimitsOptions: Required<ClientLimitsOptions> = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 65_000,
  maxConnections: 10_000,
  // Node's default of 30 s would let a 10 s headers timeout run for up to 40 s.
  connectionsCheckingIntervalMs: 1000,
}

const schema = Type.Object({
  headersTimeoutMs: wholeNumber(1),
  requestTimeoutMs: wholeNumber(1),
  idleTimeoutMs: wholeNumber(1),
  maxConnections: wholeNumber(1),
  connectionsCheckingIntervalMs: wholeNumber(1),
})

const rules: OptionRule<Required<ClientLimitsOptions>>[] = [
  {
    // The headers are part of the request; Node refuses to create such a server at all.
    fields: ['headersTimeoutMs', 'requestTimeoutMs'],
    holds: (o) => o.headersTimeoutMs <= o.requestTimeoutMs,
    problem: (o) =>
      `headersTimeoutMs (${o.headersTimeoutMs}) must not exceed requestTimeoutMs (${o.requestTimeoutMs})`,
  },
]

export function resolveClientLimits(options: ClientLimitsOptions): Required<ClientLimitsOptions> {
  return resolveOptions('gatewayServer', schema, defaultClientLimitsOptions, options, rules)
}

/** The options of `http.createServer` that carry the limits (`maxConnections` is set on the server). */
export function clientServerOptions(limits: Required<ClientLimitsOptions>): ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    connectionsCheckingInterval: limits.connectionsCheckingIntervalMs,
  }
}

/**
 * Answers a client whose request did not arrive in time with problem+json 408 and closes the
 * connection. It must be the server's first `clientError` listener: Fastify's, added after it,
 * leaves destroyed sockets alone and keeps answering every other client error as before.
 */
export function answerClientTimeouts(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (error.code !== 'ERR_HTTP_REQUEST_TIMEOUT' || socket.destroyed) return
    // As Node itself does: never write into an answer already under way on this connection.
    const answering = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage
    if (socket.writable && answering?.headersSent !== true) {
      const body = JSON.stringify(
        problemOf(
          new PayrailError('REQUEST_TIMEOUT', 'the request did not arrive in time; it was not processed'),
        ),
      )
      socket.write(
        `HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      )
    }
    socket.destroy()
  })
}
